"""Image scans of a repository (Advanced edition): request one, read its result.

A scan request answers 202 with the queued scan; a background worker runs it. Both are
authorized on the repository's ARN; the result may be filtered by a minimum severity
(the counts always cover every vulnerability).
"""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Query

from dockyard.api import actions
from dockyard.api.context import Authz, Services
from dockyard.api.routers._routes import repository_in, route
from dockyard.api.routers.params import InstanceId, NamespaceName, Reference, RepositoryName
from dockyard.api.schemas.scans import ScanOut
from dockyard.services.scanning import check_severity

router = APIRouter(
    prefix="/api/v1/instances/{instance_id}/namespaces/{namespace}/repositories/{repository}",
    tags=["image scanning"],
)


@route(
    router,
    "POST",
    "/images/{reference}/scan",
    actions.SCAN_IMAGE,
    "Scan an image now (a tag or a digest)",
    status_code=202,
    response_model=ScanOut,
    description=(
        "Queues a scan of the image and answers it (`state` `queued`); poll "
        "`GET …/images/{reference}/scan` until `done` or `failed`. Scanning again "
        "replaces the earlier result. An index is refused: scan each platform's digest."
    ),
)
async def scan_image(
    instance_id: InstanceId,
    namespace: NamespaceName,
    repository: RepositoryName,
    reference: Reference,
    svc: Services,
    guard: Authz,
) -> ScanOut:
    repo, resource = await repository_in(svc, guard, instance_id, namespace, repository)
    view = await svc.scans.request(repo, reference, actor=guard.actor, resource=resource)
    return ScanOut.model_validate(view)


@route(
    router,
    "GET",
    "/images/{reference}/scan",
    actions.GET_IMAGE_SCAN,
    "An image's scan: state, packages, vulnerabilities, counts per severity",
    response_model=ScanOut,
)
async def get_scan(
    instance_id: InstanceId,
    namespace: NamespaceName,
    repository: RepositoryName,
    reference: Reference,
    svc: Services,
    guard: Authz,
    severity: Annotated[
        str | None,
        Query(
            pattern="^(?i:critical|high|medium|low|unknown)$",
            description="Only vulnerabilities of this severity or more",
        ),
    ] = None,
) -> ScanOut:
    repo, _ = await repository_in(svc, guard, instance_id, namespace, repository)
    minimum = check_severity(severity) if severity else None
    return ScanOut.model_validate(await svc.scans.result(repo, reference, minimum=minimum))
