"""Geography: assigning accounts to places, point indexes and selection, territory shapes, working data sets."""
