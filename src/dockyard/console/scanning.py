"""Image scanning in the console (Advanced edition): a tag page's vulnerabilities (state,
counts per severity, each finding with its fixed version) with a "Scan now" button, and a
namespace's scan policy (scan on push, the pull gate, the CVE allowlist). Authorized as the
API's scan routes are: scans on the repository's ARN, the policy on the namespace's."""

from __future__ import annotations

from datetime import date
from typing import Any

from starlette.responses import Response
from starlette.routing import Route

from dockyard.console.context import ConsoleServices
from dockyard.console.pages import PageContext, page, redirect
from dockyard.console.targets import Target, repository_target
from dockyard.errors import InvalidInputError, NotFoundError
from dockyard.services.access import InstanceRef, actions
from dockyard.services.scanning import SEVERITIES, AllowedId, ScanPolicySpec

ADVANCED = "Advanced"


async def scan_section(context: PageContext, target: Target, digest: str) -> dict[str, Any]:
    """What the tag page shows of the image's scan: nothing on Standard or without
    cr:GetImageScan; else the scan (None: not scanned yet) and whether it may be asked."""
    user, svc = context.user, context.svc
    if target.instance.edition != ADVANCED or not user.may(actions.GET_IMAGE_SCAN, target.resource):
        return {"scanning": False}
    repo = await svc.tenancy.repository_ref(target.instance.id, target.namespace, target.name)
    try:
        scan = await svc.scans.result(repo, digest)
    except NotFoundError:
        scan = None
    return {
        "scanning": True,
        "scan": scan,
        "may_scan": user.may(actions.SCAN_IMAGE, target.resource),
    }


async def scan_image(context: PageContext) -> Response:
    target = await repository_target(context, actions.SCAN_IMAGE)
    svc, reference = context.svc, context.form.text("digest")
    repo = await svc.tenancy.repository_ref(target.instance.id, target.namespace, target.name)
    await svc.scans.request(repo, reference, actor=context.user.actor, resource=target.resource)
    return redirect(context.request.url.path.removesuffix("/scan"))


async def policy_section(context: PageContext, ref: InstanceRef, namespace: str) -> dict[str, Any]:
    """The namespace page's scan policy: nothing on Standard or without cr:GetScanPolicy."""
    arn = actions.namespace_arn(ref, namespace)
    user = context.user
    if ref.edition != ADVANCED or not user.may(actions.GET_SCAN_POLICY, arn):
        return {"scan_policy": None}
    return {
        "scan_policy": await context.svc.scan_policies.get(ref, namespace),
        "severities": [s for s in reversed(SEVERITIES)],
        "may_set_scan_policy": user.may(actions.UPDATE_SCAN_POLICY, arn),
    }


def _allowlist(text: str) -> tuple[AllowedId, ...]:
    """One id a line, optionally ``@YYYY-MM-DD`` (the day it stops being ignored)."""
    entries = []
    for line in text.splitlines():
        ident, _, expires = line.strip().partition("@")
        if not ident:
            continue
        try:
            until = date.fromisoformat(expires.strip()) if expires.strip() else None
        except ValueError as exc:
            raise InvalidInputError(f"{line.strip()!r}: the expiry is YYYY-MM-DD") from exc
        entries.append(AllowedId(ident.strip(), until))
    return tuple(entries)


async def save_policy(context: PageContext, ref: InstanceRef, namespace: str) -> None:
    """The namespace page's scan policy form, saved (a bad field: ``InvalidInputError``)."""
    svc, form = context.svc, context.form
    arn = actions.namespace_arn(ref, namespace)
    await context.user.require(svc.audit, actions.UPDATE_SCAN_POLICY, arn)
    spec = ScanPolicySpec(
        scan_on_push=form.checked("scan_on_push"),
        block_severity=form.text("block_severity") or None,
        block_unscanned=form.checked("block_unscanned"),
        allowlist=_allowlist(form.secret("allowlist")),
    )
    await svc.scan_policies.set(ref, namespace, spec, actor=context.user.actor, resource=arn)


def routes(svc: ConsoleServices) -> list[Route]:
    ns = "/console/instances/{instance_id}/namespaces/{namespace}"
    return [
        Route(
            ns + "/repositories/{repository}/tags/{tag}/scan",
            page(svc, scan_image),
            methods=["POST"],
        ),
    ]
