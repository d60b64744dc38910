"""Reading and writing: column mapping, loaders, import reports, exports and the leadership report."""
