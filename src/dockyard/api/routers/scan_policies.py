"""A namespace's scan policy (Advanced edition): scan on push and the pull gate.

Read with ``cr:GetScanPolicy`` and replaced whole with ``cr:UpdateScanPolicy``, both on
the namespace's ARN; a change is audited. A namespace without a policy scans on demand
only and gates nothing.
"""

from __future__ import annotations

from fastapi import APIRouter

from dockyard.api import actions
from dockyard.api.routers._routes import InNamespace, route
from dockyard.api.schemas.scans import ScanPolicyIn, ScanPolicyOut
from dockyard.services.scanning import AllowedId, ScanPolicySpec

router = APIRouter(
    prefix="/api/v1/instances/{instance_id}/namespaces/{namespace}", tags=["image scanning"]
)


@route(
    router,
    "GET",
    "/scan-policy",
    actions.GET_SCAN_POLICY,
    "A namespace's scan policy: scan on push, the pull gate, the allowlist",
    response_model=ScanPolicyOut,
)
async def get_policy(target: InNamespace) -> ScanPolicyOut:
    instance = await target.svc.tenancy.instance_ref(target.instance_id)
    view = await target.svc.scan_policies.get(instance, target.name)
    return ScanPolicyOut.model_validate(view)


@route(
    router,
    "PUT",
    "/scan-policy",
    actions.UPDATE_SCAN_POLICY,
    "Replace a namespace's scan policy",
    response_model=ScanPolicyOut,
    description=(
        "`blockSeverity`: pulls of images with a vulnerability of that severity or more "
        "are refused (`DENIED`, naming the counts and the policy), except for allowlisted "
        "ids or aliases until their `expires` date. `blockUnscanned`: pulls of images "
        "without a done scan are refused. `scanOnPush`: every image pushed is scanned."
    ),
)
async def set_policy(target: InNamespace, body: ScanPolicyIn) -> ScanPolicyOut:
    instance = await target.svc.tenancy.instance_ref(target.instance_id)
    spec = ScanPolicySpec(
        body.scan_on_push,
        body.block_severity,
        body.block_unscanned,
        tuple(AllowedId(e.id, e.expires) for e in body.allowlist),
    )
    view = await target.svc.scan_policies.set(
        instance, target.name, spec, actor=target.actor, resource=target.arn
    )
    return ScanPolicyOut.model_validate(view)
