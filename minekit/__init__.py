"""minekit: offline hard-negative mining and training-data building for retrieval models."""

__version__ = "0.1.0"
