"""``dockyard k8s-credential-helper``: the controller that keeps pull Secrets with temporary
Dockyard credentials in a cluster (src/dockyard/integrations/k8s_helper.py)."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer


def k8s_credential_helper(
    server: Annotated[
        str,
        typer.Option(
            "--server",
            "-s",
            envvar="DOCKYARD_SERVER",
            help="The Dockyard to sign in to (its API), e.g. https://registry.example.com.",
            show_default=False,
        ),
    ],
    region: Annotated[
        str,
        typer.Option(
            "--region",
            envvar="DOCKYARD_REGION",
            help="The cluster's region: an empty acr-registry-info serves its instances.",
        ),
    ] = "local",
    access_key_secret: Annotated[
        str,
        typer.Option(
            "--access-key-secret",
            help="The Secret in kube-system with accessKeyId and accessKeySecret.",
        ),
    ] = "dockyard-access-key",  # noqa: S107 - a Secret's name
    pull_secret: Annotated[
        str,
        typer.Option("--pull-secret", help="The name of the pull Secret it writes."),
    ] = "dockyard-pull-credentials",  # noqa: S107 - a Secret's name
    kubeconfig: Annotated[
        Path | None,
        typer.Option(
            "--kubeconfig",
            help="Outside a cluster: the kubeconfig (default: in-cluster, then KUBECONFIG).",
            show_default=False,
        ),
    ] = None,
    log_level: Annotated[str, typer.Option("--log-level")] = "info",
) -> None:
    """Keep a pull Secret with temporary Dockyard credentials in the watched namespaces and
    attach it to the listed service accounts, as the acr-configuration ConfigMap in
    kube-system says; runs until stopped."""
    from dockyard import logging as dlogging

    try:
        from dockyard.integrations import k8s_helper
    except ImportError as exc:
        typer.echo(f"error: {exc.name} is missing: install dockyard[kubernetes]", err=True)
        raise typer.Exit(2) from None
    dlogging.configure(log_level)
    options = k8s_helper.Options(
        k8s_helper.Dockyard(server, region),
        access_key_secret=access_key_secret,
        pull_secret=pull_secret,
        kubeconfig=kubeconfig,
    )
    raise typer.Exit(k8s_helper.run(options))


def register(app: typer.Typer) -> None:
    app.command("k8s-credential-helper")(k8s_credential_helper)
