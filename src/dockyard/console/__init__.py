"""The web console (``/console``): server-rendered pages over the same domain services and
the same ``authorize`` as the management API; see docs/concepts/console.md."""

from dockyard.console.app import create_console
from dockyard.console.context import ConsoleServices

__all__ = ["ConsoleServices", "create_console"]
