"""minekit's version: one place, read by the package, manifests and the CLI."""

__version__ = "0.1.0"
