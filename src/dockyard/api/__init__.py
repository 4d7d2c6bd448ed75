"""The management API (``/api/v1``): routers call domain services only, never SQL."""

from dockyard.api.app import create_api
from dockyard.api.context import ApiServices

__all__ = ["ApiServices", "create_api"]
