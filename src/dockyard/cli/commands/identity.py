"""Register the identity commands: organizations, users, groups, resource sets, roles,
policies, logon policies, access keys, credentials and the audit log (all over HTTP)."""

from __future__ import annotations

import typer


def register(app: typer.Typer) -> None:
    from dockyard.cli.commands import (
        access_keys,
        audit,
        credentials,
        groups,
        k8s_helper,
        kubelet,
        logon_policies,
        orgs,
        policies,
        resource_sets,
        roles,
        users,
    )

    for name, module, plural in (
        ("org", orgs, "orgs"),
        ("user", users, "users"),
        ("group", groups, "groups"),
        ("resource-set", resource_sets, "resource-sets"),
        ("role", roles, "roles"),
        ("policy", policies, "policies"),
        ("logon-policy", logon_policies, "logon-policies"),
        ("access-key", access_keys, "access-keys"),
        ("audit", audit, None),
    ):
        app.add_typer(module.app, name=name, no_args_is_help=True)
        if plural:
            app.add_typer(module.app, name=plural, hidden=True, no_args_is_help=True)
    credentials.register(app)
    kubelet.register(app)
    k8s_helper.register(app)
