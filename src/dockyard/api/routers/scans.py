"""Image scans of a repository (Advanced edition): request one, read its result.

A scan request answers 202 with the queued scan; a background worker runs it. Both are
authorized on the repository's ARN; the result may be filtered by a minimum severity
(the counts always cover every vulnerability).
"""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Query

from dockyard.api import actions
from dockyard.api.routers._routes import InRepository, route
from dockyard.api.routers.params import Paging, Reference
from dockyard.api.schemas.common import Page
from dockyard.api.schemas.scans import ScanBatchOut, ScanOut
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
        "replaces the earlier result. An index is refused: scan it with "
        "`POST …/images/{reference}/scans`."
    ),
)
async def scan_image(target: InRepository, reference: Reference) -> ScanOut:
    view = await target.svc.scans.request(
        target.ref, reference, actor=target.actor, resource=target.arn
    )
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
    target: InRepository,
    reference: Reference,
    severity: Annotated[
        str | None,
        Query(
            pattern="^(?i:critical|high|medium|low|unknown)$",
            description="Only vulnerabilities of this severity or more",
        ),
    ] = None,
) -> ScanOut:
    minimum = check_severity(severity) if severity else None
    view = await target.svc.scans.result(target.ref, reference, minimum=minimum)
    return ScanOut.model_validate(view)


@route(
    router,
    "GET",
    "/scans",
    actions.LIST_IMAGE_SCAN,
    "A repository's scans, most recently queued first, with their counts per severity",
    response_model=Page[ScanOut],
)
async def list_scans(target: InRepository, paging: Paging) -> Page[ScanOut]:
    return Page[ScanOut].model_validate(await target.svc.scans.list_scans(target.ref, paging))


@route(
    router,
    "POST",
    "/images/{reference}/scans",
    actions.SCAN_IMAGE,
    "Scan an image, or every platform image of an index (a tag or a digest)",
    status_code=202,
    response_model=ScanBatchOut,
    description=(
        "Queues a scan of the image, or of each platform image of the index that is "
        "stored in the repository (attestations and other artifacts are not scanned), "
        "and answers them all (`state` `queued`)."
    ),
)
async def scan_images(target: InRepository, reference: Reference) -> ScanBatchOut:
    manifest, views = await target.svc.scans.request_all(
        target.ref, reference, actor=target.actor, resource=target.arn
    )
    return ScanBatchOut(
        digest=manifest.digest,
        media_type=manifest.media_type,
        scans=[ScanOut.model_validate(view) for view in views],
    )
