"""Old import path of :mod:`dockyard.services.access.principals`, kept only while
``services/identity.py`` and its tests are being split (issue 13); remove at that merge."""

from dockyard.services.access.principals import SELF_SERVICE, load_principal, ram_arn

__all__ = ["SELF_SERVICE", "load_principal", "ram_arn"]
