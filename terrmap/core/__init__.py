"""The plan and its figures: schema, travel model, context, metrics, plans, balance (numpy/pandas only)."""
