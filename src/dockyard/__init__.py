"""Dockyard: a self-hosted OCI container registry with an enterprise layer."""

__version__ = "0.1.0"
