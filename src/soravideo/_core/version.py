"""The package's version (``soravideo.__version__``)."""

__version__ = "0.1.0"
