"""``dockyard scan run|result``: image scans (Advanced edition) over the management API."""

from __future__ import annotations

import time
from typing import Annotated, Any

import typer

from dockyard.cli.client import CliError
from dockyard.cli.commands._common import (
    Call,
    command,
    list_or_page,
    print_json,
    print_list,
    print_record,
    print_table,
    repo_path,
    split_name,
    split_reference,
)

app = typer.Typer(help="Image scanning: packages and known vulnerabilities of images.")

#: An index's scan request answers a scan per platform image.
INDEXES = (
    "application/vnd.oci.image.index.v1+json",
    "application/vnd.docker.distribution.manifest.list.v2+json",
)
#: Seconds between looks at a scan that is not finished.
POLL_SECONDS = 0.5
FINISHED = ("done", "failed")
SUMMARY = [
    ("Image", "image"),
    ("State", "state"),
    ("Reason", "reason"),
    ("OS", "os"),
    ("Database version", "dbVersion"),
    ("SBOM", "sbomDigest"),
    ("Packages", "packageCount"),
    ("Vulnerabilities", "countsText"),
]
FINDINGS = [
    ("Id", "id"),
    ("Aliases", "aliases"),
    ("Severity", "severity"),
    ("Package", "package"),
    ("Version", "version"),
    ("Fixed in", "fixedVersion"),
]
Image = Annotated[str, typer.Argument(metavar="NAMESPACE/REPOSITORY:TAG|@DIGEST")]


def _summary(scan: dict[str, Any]) -> dict[str, Any]:
    counts = ", ".join(f"{count} {name}" for name, count in scan["counts"].items() if count)
    return {
        **scan,
        "image": f"{scan['repository']}@{scan['digest']}",
        "packageCount": len(scan["packages"]),
        "countsText": counts or "none",
    }


def _show(scan: dict[str, Any], as_json: bool) -> None:
    if as_json:
        print_json(scan)
        return
    print_record(_summary(scan), SUMMARY)
    if scan["vulnerabilities"]:
        print_table(scan["vulnerabilities"], FINDINGS)


@command(app, "run", instance=True)
def run_scan(
    image: Image,
    wait: Annotated[bool, typer.Option("--wait", help="Wait until the scan is done.")] = False,
    *,
    call: Call,
) -> None:
    """Scan an image now (every platform image of an index): its packages (syft) and
    their known vulnerabilities."""
    namespace, repository, ref = split_reference(image, digest_ok=True)
    path = repo_path(call.instance, namespace, repository)
    with call.api() as client:
        batch = client.call("POST", f"{path}/images/{ref}/scans")
        scans = batch["scans"]
        for position, scan in enumerate(scans):
            while wait and scan["state"] not in FINISHED:
                time.sleep(POLL_SECONDS)
                scan = client.call("GET", f"{path}/images/{scan['digest']}/scan")
            scans[position] = scan
    if batch["mediaType"] in INDEXES:
        if call.as_json:
            print_json(batch)
        else:
            for scan in scans:
                _show(scan, False)
    else:
        _show(scans[0], call.as_json)
    failed = [scan for scan in scans if scan["state"] == "failed"]
    if failed:
        raise CliError("; ".join(f"scan of {s['digest']} failed: {s['reason']}" for s in failed))


@command(app, "result", instance=True)
def scan_result(
    image: Image,
    severity: Annotated[
        str | None,
        typer.Option(
            "--severity",
            help="Only vulnerabilities of this severity or more (CRITICAL, HIGH, MEDIUM, LOW).",
        ),
    ] = None,
    *,
    call: Call,
) -> None:
    """An image's last scan: state, packages, vulnerabilities and counts per severity."""
    namespace, repository, ref = split_reference(image, digest_ok=True)
    params = {"severity": severity} if severity else {}
    with call.api() as client:
        scan = client.call(
            "GET",
            repo_path(call.instance, namespace, repository) + f"/images/{ref}/scan",
            params=params,
        )
    _show(scan, call.as_json)


SCANS = [
    ("Digest", "digest"),
    ("State", "state"),
    ("Vulnerabilities", "countsText"),
    ("Database version", "dbVersion"),
    ("Queued", "queuedAt"),
]


@command(app, "list", instance=True, paged=True)
def list_scans(
    repository: Annotated[str, typer.Argument(metavar="NAMESPACE/REPOSITORY")],
    *,
    call: Call,
) -> None:
    """A repository's scans, most recently queued first (the first page unless --page)."""
    path = repo_path(call.instance, *split_name(repository)) + "/scans"
    with call.api() as client:
        items = list_or_page(client, path, "scans", call.page or 1, call.page_size)
    print_list(items, SCANS, call.as_json, rows=lambda scans: [_summary(s) for s in scans])


policy_app = typer.Typer(help="A namespace's scan policy: scan on push and the pull gate.")
app.add_typer(policy_app, name="policy", no_args_is_help=True)
POLICY = [
    ("Namespace", "namespace"),
    ("Scan on push", "scanOnPush"),
    ("Block severity", "blockSeverity"),
    ("Block unscanned", "blockUnscanned"),
    ("Allowlist", "allowed"),
]
NO_BLOCK = "none"


def _policy_path(instance: str, namespace: str) -> str:
    return f"/instances/{instance}/namespaces/{namespace}/scan-policy"


def _allowed(entry: str) -> dict[str, Any]:
    """``CVE-…`` or ``CVE-…@YYYY-MM-DD`` (the last day it is ignored)."""
    ident, _, expires = entry.partition("@")
    return {"id": ident, "expires": expires or None}


def _show_policy(policy: dict[str, Any], as_json: bool) -> None:
    if as_json:
        print_json(policy)
        return
    allowed = [
        e["id"] + (f" (until {e['expires']})" if e["expires"] else "") for e in policy["allowlist"]
    ]
    print_record(
        {
            **policy,
            "blockSeverity": policy["blockSeverity"] or NO_BLOCK,
            "allowed": ", ".join(allowed) or "-",
        },
        POLICY,
    )


@command(policy_app, "show", instance=True)
def show_policy(namespace: Annotated[str, typer.Argument()], *, call: Call) -> None:
    """A namespace's scan policy."""
    with call.api() as client:
        _show_policy(client.call("GET", _policy_path(call.instance, namespace)), call.as_json)


@command(policy_app, "set", instance=True)
def set_policy(
    namespace: Annotated[str, typer.Argument()],
    block_severity: Annotated[
        str | None,
        typer.Option(
            "--block-severity",
            help="Refuse pulls of images with a vulnerability this severe or more "
            "(CRITICAL, HIGH, MEDIUM, LOW, or none).",
        ),
    ] = None,
    block_unscanned: Annotated[
        bool | None,
        typer.Option(
            "--block-unscanned/--allow-unscanned", help="Refuse pulls of unscanned images."
        ),
    ] = None,
    scan_on_push: Annotated[
        bool | None,
        typer.Option("--scan-on-push/--no-scan-on-push", help="Scan every image pushed."),
    ] = None,
    allow: Annotated[
        list[str] | None,
        typer.Option(
            "--allow",
            help="A vulnerability id the gate ignores, ID or ID@YYYY-MM-DD (its last day); "
            "repeat it. Replaces the allowlist (--allow '' empties it).",
        ),
    ] = None,
    *,
    call: Call,
) -> None:
    """Change a namespace's scan policy; what is not given stays as it is."""
    path = _policy_path(call.instance, namespace)
    with call.api() as client:
        current = client.call("GET", path)
        body = {
            "scanOnPush": current["scanOnPush"] if scan_on_push is None else scan_on_push,
            "blockSeverity": current["blockSeverity"],
            "blockUnscanned": (
                current["blockUnscanned"] if block_unscanned is None else block_unscanned
            ),
            "allowlist": (
                current["allowlist"] if allow is None else [_allowed(a) for a in allow if a]
            ),
        }
        if block_severity is not None:
            body["blockSeverity"] = None if block_severity.lower() == NO_BLOCK else block_severity
        _show_policy(client.call("PUT", path, json=body), call.as_json)


scanner_app = typer.Typer(
    help="External scanners: adapters of Harbor's Pluggable Scanner API, deployment-wide."
)
app.add_typer(scanner_app, name="scanner", no_args_is_help=True)
SCANNERS = [
    ("Name", "name"),
    ("URL", "url"),
    ("Registry URL", "registryUrl"),
    ("Adapter", "adapter"),
    ("Instead of built-in", "insteadOfBuiltin"),
]


def _scanner_rows(scanners: list[dict[str, Any]]) -> list[dict[str, Any]]:
    return [
        {**s, "adapter": f"{s['adapterName']} {s['adapterVersion']} ({s['adapterVendor']})"}
        for s in scanners
    ]


@command(scanner_app, "add")
def add_scanner(
    name: Annotated[str, typer.Argument()],
    url: Annotated[str, typer.Argument(help="The adapter's base URL.")],
    registry_url: Annotated[
        str,
        typer.Option("--registry-url", help="This registry's URL as the adapter reaches it."),
    ],
    authorization: Annotated[
        str | None,
        typer.Option("--authorization", help="The Authorization header value sent to the adapter."),
    ] = None,
    instead_of_builtin: Annotated[
        bool,
        typer.Option("--instead-of-builtin", help="Scan with it instead of the built-in scanner."),
    ] = False,
    *,
    call: Call,
) -> None:
    """Register (or replace) a scanner adapter; every scan then runs it too."""
    body = {
        "url": url,
        "registryUrl": registry_url,
        "authorization": authorization,
        "insteadOfBuiltin": instead_of_builtin,
    }
    with call.api() as client:
        found = client.call("PUT", f"/scanners/{name}", json=body)
    if call.as_json:
        print_json(found)
    else:
        print_table(_scanner_rows([found]), SCANNERS)


@command(scanner_app, "list")
def list_scanners_command(*, call: Call) -> None:
    """The registered scanner adapters."""
    with call.api() as client:
        found = client.call("GET", "/scanners")
    print_list(found, SCANNERS, call.as_json, rows=_scanner_rows)


@command(scanner_app, "remove")
def remove_scanner(name: Annotated[str, typer.Argument()], *, call: Call) -> None:
    """Remove a scanner adapter (earlier results keep its findings)."""
    with call.api() as client:
        client.call("DELETE", f"/scanners/{name}")
