"""The package version: read by ``pyproject.toml``, the package and saved models."""

__version__ = "0.1.0"
