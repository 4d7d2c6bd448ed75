"""``dockyard`` subcommands that manage a server through its HTTP API (never the services
directly), so they work against a remote server as well as a local one."""

from __future__ import annotations

import typer

from dockyard.cli.commands._common import fail

__all__ = ["fail", "register"]


def register(app: typer.Typer) -> None:
    """Add login/logout and the resource command groups to the ``dockyard`` command."""
    from dockyard.cli.commands import (
        instances,
        login,
        namespaces,
        replication,
        repositories,
        retention,
        signing,
        tags,
        triggers,
        usage,
    )

    login.register(app)
    usage.register(app)
    for name, module, plural in (
        ("instance", instances, "instances"),
        ("namespace", namespaces, "namespaces"),
        ("repo", repositories, "repos"),
        ("tag", tags, "tags"),
        ("trigger", triggers, "triggers"),
        ("retention", retention, "retentions"),
    ):
        app.add_typer(module.app, name=name, no_args_is_help=True)
        app.add_typer(module.app, name=plural, hidden=True, no_args_is_help=True)
    signing.register(app)
    replication.register(app)
