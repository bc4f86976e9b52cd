"""Old home of the settings base classes and the URL mask, kept for imports.

The base classes live in :mod:`pkgcache._plugin_settings`, the masking in
:mod:`pkgcache._secrets`; plugins import them from ``pkgcache`` itself.
"""

from ._plugin_settings import BackendSettings, StorageSettings, public_dump
from ._secrets import SecretUrl, mask_url

__all__ = ["BackendSettings", "SecretUrl", "StorageSettings", "mask_url", "public_dump"]
