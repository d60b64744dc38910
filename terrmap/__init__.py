"""terrmap: the geospatial core of the sales-territory mapping dashboard."""

__version__ = "0.1.0"
