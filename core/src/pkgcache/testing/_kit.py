"""The conformance kit: the whole cache contract as pytest base classes, by subject.

A backend author subclasses :class:`CacheConformance` (every subject) in a test
module and says how to configure the backend::

    from pkgcache.testing import CacheConformance

    class TestMyBackend(CacheConformance):
        def cache_config(self, storage_dir):
            return {"pypi.db": "mybackend", "db.path": str(storage_dir.parent / "db")}

or picks subjects: :class:`ModelContract`, :class:`QueryContract`,
:class:`ReloadContract`, :class:`ConcurrencyContract`, and the opt-in
:class:`IncrementalReload` (change tokens), :class:`ReloadSafety`,
:class:`KeysAndValues`, :class:`FilenameIdentity`, :class:`ChangeMarkers`.
Every test gets a fresh, empty cache on a real ``file`` storage in a
temporary folder. Capabilities the backend declares (``stores_tokens``,
``atomic_reload``) decide which tests apply; the others are skipped with the
reason. A server that is absent is best handled by calling ``pytest.skip``
in ``cache_config``.
"""

from __future__ import annotations

from ._concurrency import ConcurrencyContract
from ._identity import FilenameIdentity
from ._incremental import IncrementalReload
from ._markers import ChangeMarkers
from ._model import ModelContract
from ._queries import QueryContract
from ._reload_safety import ReloadSafety
from ._reloads import ReloadContract
from ._values import KeysAndValues

__all__ = ["CacheConformance"]


class CacheConformance(
    ModelContract,
    QueryContract,
    ReloadContract,
    ConcurrencyContract,
    ReloadSafety,
    IncrementalReload,
    KeysAndValues,
    FilenameIdentity,
    ChangeMarkers,
):
    """Subclass and implement :meth:`cache_config`; every ``test_*`` is a contract line."""
