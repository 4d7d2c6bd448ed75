"""Signature policies of an instance and the admission endpoint (PRODUCT.md §8).

A policy may name any namespace of the instance, so its operations are authorized on the
instance's ARN (as retention policies are). Admission reads signatures: ``cr:ListSignature``
on ``*``, as §3 has it, so a cluster controller needs nothing more.
"""

from __future__ import annotations

import re
from typing import Annotated

from fastapi import APIRouter, Path

from dockyard.api import actions
from dockyard.api.context import Authz, Services
from dockyard.api.routers._routes import InInstance, require_in, route
from dockyard.api.routers.params import InstanceId, Paging
from dockyard.api.schemas.common import Page
from dockyard.api.schemas.signing import (
    AdmissionOut,
    AdmissionRequest,
    SignaturePolicyCreate,
    SignaturePolicyOut,
)
from dockyard.errors import InvalidInputError
from dockyard.services.signing import SignaturePolicySpec

router = APIRouter(prefix="/api/v1/instances/{instance_id}", tags=["signing"])

PolicyName = Annotated[str, Path(max_length=64, description="The policy's name")]
_IMAGE = re.compile(
    r"^(?:(?P<host>[^/]*[.:][^/]*|localhost)/)?(?P<ns>[^/:@\s]+)/(?P<repo>[^/:@\s]+)"
    r"(?::(?P<tag>[^/:@\s]+))?(?:@(?P<digest>[a-z0-9]+:[a-zA-Z0-9=_-]+))?$"
)


@route(
    router,
    "POST",
    "/signature-policies",
    actions.CREATE_SIGNATURE_POLICY,
    "Create a signature policy: pulls need a valid signature of a note",
    errors=(409,),
    status_code=201,
    response_model=SignaturePolicyOut,
    description=(
        "Manifest GET/HEAD under `/v2` of the `namespace`'s or the `repository`'s images "
        "(only of tags matching `tags`, when given) are refused with `DENIED` naming the "
        "policy unless the manifest, or an index listing it, has a valid signature of `note` "
        "(by one of `keys`, when given). The management API and blob GETs are not gated."
    ),
)
async def create_policy(instance: InInstance, body: SignaturePolicyCreate) -> SignaturePolicyOut:
    spec = SignaturePolicySpec(
        body.name, body.note, body.namespace, body.repository, body.keys, body.tags
    )
    view = await instance.svc.signature_policies.create(
        instance.id, spec, actor=instance.actor, resource=instance.arn
    )
    return SignaturePolicyOut.model_validate(view)


@route(
    router,
    "GET",
    "/signature-policies",
    actions.LIST_SIGNATURE_POLICY,
    "List the instance's signature policies",
    response_model=Page[SignaturePolicyOut],
)
async def list_policies(instance: InInstance, paging: Paging) -> Page[SignaturePolicyOut]:
    page = await instance.svc.signature_policies.list_policies(instance.id, paging)
    return Page[SignaturePolicyOut].model_validate(page)


@route(
    router,
    "GET",
    "/signature-policies/{name}",
    actions.GET_SIGNATURE_POLICY,
    "Get a signature policy",
    response_model=SignaturePolicyOut,
)
async def get_policy(instance: InInstance, name: PolicyName) -> SignaturePolicyOut:
    view = await instance.svc.signature_policies.get(instance.id, name)
    return SignaturePolicyOut.model_validate(view)


@route(
    router,
    "DELETE",
    "/signature-policies/{name}",
    actions.DELETE_SIGNATURE_POLICY,
    "Delete a signature policy",
    status_code=204,
)
async def delete_policy(instance: InInstance, name: PolicyName) -> None:
    await instance.svc.signature_policies.delete(
        instance.id, name, actor=instance.actor, resource=instance.arn
    )


@route(
    router,
    "POST",
    "/admission",
    actions.LIST_SIGNATURE,
    "Is this image admitted by the signature policies of its repository?",
    response_model=AdmissionOut,
    description=(
        "For an admission controller: `image` as a pod spec names it (a registry host "
        "prefix is ignored). The answer says, per policy of the repository, whether it "
        "applies (its tag pattern), whether it is satisfied, and why not."
    ),
)
async def admission(
    instance_id: InstanceId, body: AdmissionRequest, svc: Services, guard: Authz
) -> AdmissionOut:
    await require_in(svc, guard, instance_id, actions.signature_arn)
    match = _IMAGE.fullmatch(body.image)
    if match is None or not (match["tag"] or match["digest"]):
        raise InvalidInputError(
            f"image must be [host/]namespace/repository@digest or …:tag, got {body.image!r}"
        )
    reference = match["digest"] or match["tag"]
    view = await svc.signature_policies.admission(
        instance_id, match["ns"], match["repo"], reference
    )
    return AdmissionOut.model_validate(view)
