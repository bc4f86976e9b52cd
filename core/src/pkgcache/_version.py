"""The one version source of all pkgcache distributions (plugins pin to it)."""

__version__ = "0.1.0"
