"""``dockyard credential-provider-config``: the kubelet configuration for
``dockyard-credential-provider`` (pulls without an ``imagePullSecret``)."""

from __future__ import annotations

from typing import Annotated

import typer

from dockyard.cli.client import CliError
from dockyard.cli.commands._common import handles_errors, print_json
from dockyard.integrations.kubelet import go_duration, provider_config, registry_host
from dockyard.integrations.temporary_logins import (
    DEFAULT_THRESHOLD,
    CredentialError,
    parse_duration,
)


@handles_errors
def credential_provider_config(
    hosts: Annotated[
        list[str],
        typer.Argument(metavar="HOST[:PORT]...", help="The Dockyard registry hosts to sign in to."),
    ],
    access_key_file: Annotated[
        str,
        typer.Option(
            "--access-key-file",
            help="Where the nodes keep the access key (`dockyard access-key create --json`).",
        ),
    ] = "/etc/kubernetes/dockyard-access-key.json",
    expiring_threshold: Annotated[
        str,
        typer.Option("--expiring-threshold", help="Renew credentials expiring within this."),
    ] = DEFAULT_THRESHOLD,
) -> None:
    """Print a kubelet CredentialProviderConfig (JSON, which the kubelet reads as YAML) that
    runs dockyard-credential-provider for the given registries.

    Save it as the kubelet's --image-credential-provider-config, and put the
    dockyard-credential-provider executable in its --image-credential-provider-bin-dir.
    """
    for host in hosts:
        if registry_host(f"{host}/image") != host.lower():
            raise CliError(f"expected a registry HOST[:PORT], got {host!r}", exit_code=2)
    try:
        threshold = parse_duration(expiring_threshold)
    except CredentialError as exc:
        raise CliError(exc.message, exc.exit_code) from exc
    # Temporary credentials last an hour; the provider asks for new ones this much earlier.
    cache_duration = go_duration(parse_duration("1h") - threshold)
    print_json(
        provider_config(
            [host.lower() for host in hosts],
            access_key_file=access_key_file,
            cache_duration=cache_duration,
            threshold=expiring_threshold,
        )
    )


def register(app: typer.Typer) -> None:
    app.command("credential-provider-config")(credential_provider_config)
