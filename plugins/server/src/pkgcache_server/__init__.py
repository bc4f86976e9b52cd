"""pkgcache-server: ``pkgcache serve``, the simple package index served from the cache.

``create_app(config)`` builds the Starlette application (for any ASGI
server); ``pkgcache serve -c FILE`` runs it on uvicorn.
"""

from .app import create_app
from .settings import ServerSettings, server_settings

__all__ = ["ServerSettings", "create_app", "server_settings"]
