"""The version, in one place (the CLI's --version and the package read it)."""
__version__ = "0.1.0"
