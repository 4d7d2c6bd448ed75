"""``dockyard scan run|result``: image scans (Advanced edition) over the management API."""

from __future__ import annotations

import time
from typing import Annotated, Any

import typer

from dockyard.cli.client import CliError
from dockyard.cli.commands._common import (
    Call,
    command,
    print_json,
    print_record,
    print_table,
    repo_path,
    split_reference,
)

app = typer.Typer(help="Image scanning: packages and known vulnerabilities of images.")

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
    """Scan an image now: its packages (syft) and their known vulnerabilities."""
    namespace, repository, ref = split_reference(image, digest_ok=True)
    path = repo_path(call.instance, namespace, repository)
    with call.api() as client:
        scan = client.call("POST", f"{path}/images/{ref}/scan")
        while wait and scan["state"] not in FINISHED:
            time.sleep(POLL_SECONDS)
            scan = client.call("GET", f"{path}/images/{scan['digest']}/scan")
    _show(scan, call.as_json)
    if scan["state"] == "failed":
        raise CliError(f"scan failed: {scan['reason']}")


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
