"""The conformance kit every backend must pass (needs ``pkgcache[testing]``).

* :class:`CacheConformance`: subclass it in a test module and implement
  ``cache_config``; every contract line of the design is one test. It is
  every subject at once; each is a class of its own too
  (:class:`ModelContract`, :class:`QueryContract`, :class:`ReloadContract`,
  :class:`ConcurrencyContract`, :class:`IncrementalReload`,
  :class:`ReloadSafety`, :class:`KeysAndValues`, :class:`FilenameIdentity`,
  :class:`ChangeMarkers`), for a backend certified one subject at a time.
* :func:`run_stateful_comparison`: random operation sequences against a
  cache and against the ``memory`` reference, demanding identical answers
  (the base class runs it as ``test_stateful_matches_memory``).
* :func:`write_wheel`, :func:`write_sdist`, :func:`make_package`: real
  distribution files and predictable packages for a backend's own tests.
"""

from ._base import KitBase
from ._concurrency import ConcurrencyContract
from ._files import T0, make_package, write_sdist, write_wheel
from ._identity import FilenameIdentity
from ._incremental import IncrementalReload
from ._kit import CacheConformance
from ._markers import ChangeMarkers
from ._model import ModelContract
from ._queries import QueryContract
from ._reload_safety import ReloadSafety
from ._reloads import ReloadContract
from ._stateful import packages, run_stateful_comparison
from ._values import KeysAndValues

__all__ = [
    "T0",
    "CacheConformance",
    "ChangeMarkers",
    "ConcurrencyContract",
    "FilenameIdentity",
    "IncrementalReload",
    "KeysAndValues",
    "KitBase",
    "ModelContract",
    "QueryContract",
    "ReloadContract",
    "ReloadSafety",
    "make_package",
    "packages",
    "run_stateful_comparison",
    "write_sdist",
    "write_wheel",
]
