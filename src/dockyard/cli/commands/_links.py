"""The body of the commands that link two resources (grant or revoke a role, attach or detach
a policy, add or remove a member): one PUT or DELETE, then one line (or JSON) out."""

from __future__ import annotations

from typing import Any, Literal

from dockyard.cli.commands._common import api
from dockyard.cli.commands._identity import done


def change_link(
    server: str | None,
    as_json: bool,
    method: Literal["PUT", "DELETE"],
    path: str,
    fallback: dict[str, Any],
    message: str,
) -> None:
    """``method`` on ``path``; ``--json`` prints the API's answer, else ``fallback``."""
    with api(server) as client:
        result = client.call(method, path)
    done(as_json, result, fallback, message)
