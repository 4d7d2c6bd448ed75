"""The console authorizes the API's own actions: every name it uses is in the API's table,
so a page and the route that does the same thing can never be decided differently."""

from __future__ import annotations

import pytest

from dockyard.api import actions as api_actions
from dockyard.console import actions as console_actions

pytestmark = pytest.mark.unit


def _names(module: object) -> dict[str, str]:
    return {
        name: value
        for name, value in vars(module).items()
        if name.isupper() and isinstance(value, str) and ":" in value
    }


def test_every_console_action_is_the_apis() -> None:
    console = _names(console_actions)
    api = _names(api_actions)
    assert console, "the console names no action"
    assert {name: api.get(name) for name in console} == console
