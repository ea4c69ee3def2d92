"""Postwerk core: the framework. Plugins import only :mod:`core.api`."""
