"""The conformance kit every backend must pass (needs ``pkgcache[testing]``).

* :class:`CacheConformance`: subclass it in a test module and implement
  ``cache_config``; every contract line of the design is one test.
* :func:`run_stateful_comparison`: random operation sequences against a
  cache and against the ``memory`` reference, demanding identical answers
  (the base class runs it as ``test_stateful_matches_memory``).
* :func:`write_wheel`, :func:`write_sdist`, :func:`make_package`: real
  distribution files and predictable packages for a backend's own tests.
"""

from ._files import T0, make_package, write_sdist, write_wheel
from ._kit import CacheConformance
from ._stateful import packages, run_stateful_comparison

__all__ = [
    "T0",
    "CacheConformance",
    "make_package",
    "packages",
    "run_stateful_comparison",
    "write_sdist",
    "write_wheel",
]
