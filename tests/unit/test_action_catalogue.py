"""The console and the API authorize from one catalogue (``services/access/actions.py``), so
a page and the route that does the same thing can never be decided differently: the API's
table re-exports every name of it unchanged."""

from __future__ import annotations

import pytest

from dockyard.api import actions as api_actions
from dockyard.services.access import actions as catalogue

pytestmark = pytest.mark.unit


def _names(module: object) -> dict[str, str]:
    return {
        name: value
        for name, value in vars(module).items()
        if name.isupper() and isinstance(value, str) and ":" in value
    }


def test_the_api_table_is_the_catalogue() -> None:
    shared = _names(catalogue)
    api = _names(api_actions)
    assert len(shared) > 50, "the catalogue names too few actions"
    assert {name: api.get(name) for name in shared} == shared
    assert set(api) == set(shared), "an API action outside the catalogue"
