"""The suite's shared servers and helpers live in :mod:`tests.support`, loaded here as a plugin
so that its fixtures (``moto_port``, ``own_moto``) exist in every folder."""

pytest_plugins = ["tests.support"]
