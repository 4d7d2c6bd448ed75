"""The metadata service (PRODUCT.md §8, API version 2018-12-01 names) and verification.

Metadata namespaces, notes, occurrences and public keys are authorized on
``acs:cr:$region:$account:metadata/$namespace`` (listing the namespaces on
``metadata/*``); verifying an image's signatures is ``cr:ListSignature`` on ``*``, as
§3 has it. Bodies keep the guide's PascalCase shapes.
"""

from __future__ import annotations

import json
from typing import Annotated

from fastapi import APIRouter, Depends, Path, Query

from dockyard.api import actions
from dockyard.api.context import Authz, Services
from dockyard.api.routers._routes import NamespaceTarget, require_in, route
from dockyard.api.routers.params import InstanceId, NamespaceName, Paging, Reference, RepositoryName
from dockyard.api.schemas.common import PAGE_MAX, PAGE_SIZE_MAX, Page
from dockyard.api.schemas.signing import (
    MetadataNamespaceCreate,
    MetadataNamespaceOut,
    NoteCreate,
    NoteOut,
    OccurrenceCreate,
    OccurrenceOut,
    OccurrencePage,
    PublicKeyCreate,
    PublicKeyOut,
    SignatureOut,
    VerificationOut,
)
from dockyard.errors import InvalidInputError
from dockyard.services.paging import PageRequest
from dockyard.services.signing import (
    NoteSpec,
    NoteView,
    OccurrenceSpec,
    OccurrenceView,
    SignatureSpec,
)

router = APIRouter(prefix="/api/v1/instances/{instance_id}", tags=["signing"])

_NS = "/metadata/namespaces/{namespace}"
MetadataNamespace = Annotated[
    str, Path(max_length=64, description="The metadata namespace (not a repository namespace)")
]
ItemName = Annotated[str, Path(max_length=128)]
Fingerprint = Annotated[str, Path(max_length=64, description="The key's fingerprint")]


async def _metadata_namespace(
    instance_id: InstanceId, namespace: MetadataNamespace, svc: Services, guard: Authz
) -> NamespaceTarget:
    arn = await require_in(svc, guard, instance_id, actions.metadata_arn, namespace)
    return NamespaceTarget(arn, svc, guard, instance_id, namespace)


#: The metadata namespace named in the path, once the route's action is allowed on its ARN.
InMetadataNamespace = Annotated[NamespaceTarget, Depends(_metadata_namespace)]


@route(
    router,
    "POST",
    "/metadata/namespaces",
    actions.CREATE_METADATA_NAMESPACE,
    "CreateMetadataNamespace: a namespace of notes, occurrences and public keys",
    errors=(409,),
    status_code=201,
    response_model=MetadataNamespaceOut,
)
async def create_namespace(
    instance_id: InstanceId, body: MetadataNamespaceCreate, svc: Services, guard: Authz
) -> MetadataNamespaceOut:
    arn = await require_in(svc, guard, instance_id, actions.metadata_arn, body.namespace_name)
    view = await svc.signing.create_namespace(
        instance_id, body.namespace_name, body.description, actor=guard.actor, resource=arn
    )
    return MetadataNamespaceOut.model_validate(view)


@route(
    router,
    "GET",
    "/metadata/namespaces",
    actions.LIST_METADATA_NAMESPACE,
    "List the instance's metadata namespaces",
    response_model=Page[MetadataNamespaceOut],
)
async def list_namespaces(
    instance_id: InstanceId, paging: Paging, svc: Services, guard: Authz
) -> Page[MetadataNamespaceOut]:
    await require_in(svc, guard, instance_id, actions.metadata_list_arn)
    page = await svc.signing.list_namespaces(instance_id, paging)
    return Page[MetadataNamespaceOut].model_validate(page)


@route(
    router,
    "GET",
    _NS,
    actions.GET_METADATA_NAMESPACE,
    "Get a metadata namespace",
    response_model=MetadataNamespaceOut,
)
async def get_namespace(ns: InMetadataNamespace) -> MetadataNamespaceOut:
    return MetadataNamespaceOut.model_validate(
        await ns.svc.signing.get_namespace(ns.instance_id, ns.name)
    )


@route(
    router,
    "DELETE",
    _NS,
    actions.DELETE_METADATA_NAMESPACE,
    "Delete an empty metadata namespace",
    errors=(409,),
    status_code=204,
)
async def delete_namespace(ns: InMetadataNamespace) -> None:
    await ns.svc.signing.delete_namespace(ns.instance_id, ns.name, actor=ns.actor, resource=ns.arn)


def _note_out(view: NoteView) -> NoteOut:
    hint = {"Hint": {"HumanReadableName": view.human_readable_name}}
    return NoteOut(
        name=view.path,
        short_description=view.short_description,
        long_description=view.long_description,
        expiration_time=view.expiration_time,
        kind=view.kind,
        attestation=hint,
        create_time=view.created_at,
    )


@route(
    router,
    "POST",
    _NS + "/notes",
    actions.CREATE_METADATA_NOTE,
    "CreateMetadataNote: an attestation note (a past ExpirationTime is accepted)",
    errors=(409,),
    status_code=201,
    response_model=NoteOut,
)
async def create_note(
    ns: InMetadataNamespace,
    body: NoteCreate,
) -> NoteOut:
    note = body.note
    spec = NoteSpec(
        name=body.note_name,
        path=note.name,
        kind=note.kind,
        short_description=note.short_description,
        long_description=note.long_description,
        expiration_time=note.expiration_time,
        human_readable_name=note.attestation.hint.human_readable_name,
    )
    view = await ns.svc.signing.create_note(
        ns.instance_id, ns.name, spec, actor=ns.actor, resource=ns.arn
    )
    return _note_out(view)


@route(
    router,
    "GET",
    _NS + "/notes",
    actions.LIST_METADATA_NOTE,
    "List a metadata namespace's notes",
    response_model=Page[NoteOut],
)
async def list_notes(
    ns: InMetadataNamespace,
    paging: Paging,
) -> Page[NoteOut]:
    page = await ns.svc.signing.list_notes(ns.instance_id, ns.name, paging)
    return Page[NoteOut](
        items=[_note_out(v) for v in page.items],
        page=page.page,
        page_size=page.page_size,
        total=page.total,
    )


@route(
    router,
    "GET",
    _NS + "/notes/{note}",
    actions.GET_METADATA_NOTE,
    "Get a note",
    response_model=NoteOut,
)
async def get_note(
    ns: InMetadataNamespace,
    note: ItemName,
) -> NoteOut:
    return _note_out(await ns.svc.signing.get_note(ns.instance_id, ns.name, note))


@route(
    router,
    "DELETE",
    _NS + "/notes/{note}",
    actions.DELETE_METADATA_NOTE,
    "Delete a note no occurrence refers to",
    errors=(409,),
    status_code=204,
)
async def delete_note(
    ns: InMetadataNamespace,
    note: ItemName,
) -> None:
    await ns.svc.signing.delete_note(ns.instance_id, ns.name, note, actor=ns.actor, resource=ns.arn)


def _occurrence_out(view: OccurrenceView) -> OccurrenceOut:
    signatures = [SignatureOut.model_validate(s) for s in view.signatures]
    return OccurrenceOut(
        name=view.path,
        note_name=f"/namespaces/{view.namespace}/notes/{view.note_name}",
        resource_uri=view.resource_uri,
        kind=view.kind,
        attestation={"Signatures": signatures},
        create_time=view.created_at,
    )


@route(
    router,
    "POST",
    _NS + "/occurrences",
    actions.CREATE_METADATA_OCCURRENCE,
    "CreateMetadataOccurrence: signatures of a note over one image of this instance",
    errors=(409,),
    status_code=201,
    response_model=OccurrenceOut,
)
async def create_occurrence(
    ns: InMetadataNamespace,
    body: OccurrenceCreate,
) -> OccurrenceOut:
    occurrence = body.occurrence
    spec = OccurrenceSpec(
        name=body.occurrence_name,
        path=occurrence.name,
        note_name=occurrence.note_name,
        resource_uri=occurrence.resource_uri,
        kind=occurrence.kind,
        signatures=[
            SignatureSpec(s.signature, s.public_key_id) for s in occurrence.attestation.signatures
        ],
    )
    view = await ns.svc.signing.create_occurrence(
        ns.instance_id, ns.name, spec, actor=ns.actor, resource=ns.arn
    )
    return _occurrence_out(view)


def _resource_uris(value: str | None) -> list[str]:
    """``ResourceURIs`` is a JSON-array string, as the guide passes it."""
    if not value:
        return []
    try:
        parsed = json.loads(value)
    except ValueError as exc:
        raise InvalidInputError(
            'ResourceURIs must be a JSON array of strings: ["image://…"]'
        ) from exc
    if not isinstance(parsed, list) or not all(isinstance(u, str) for u in parsed):
        raise InvalidInputError('ResourceURIs must be a JSON array of strings: ["image://…"]')
    return parsed


@route(
    router,
    "GET",
    _NS + "/occurrences",
    actions.LIST_METADATA_OCCURRENCES,
    "ListMetadataOccurrences: by note and by resource URI",
    response_model=OccurrencePage,
)
async def list_occurrences(
    ns: InMetadataNamespace,
    note_name: Annotated[
        str | None, Query(alias="NoteName", max_length=256, description="Short name or path")
    ] = None,
    resource_uris: Annotated[
        str | None,
        Query(alias="ResourceURIs", max_length=4096, description="A JSON array of image URLs"),
    ] = None,
    page_no: Annotated[int, Query(alias="PageNo", ge=1, le=PAGE_MAX)] = 1,
    page_size: Annotated[int, Query(alias="PageSize", ge=1, le=PAGE_SIZE_MAX)] = 30,
) -> OccurrencePage:
    page = await ns.svc.signing.list_occurrences(
        ns.instance_id,
        ns.name,
        PageRequest(page_no, page_size),
        note_name=note_name,
        resource_uris=_resource_uris(resource_uris),
    )
    return OccurrencePage(
        occurrences=[_occurrence_out(v) for v in page.items],
        total_count=page.total,
        page_no=page.page,
        page_size=page.page_size,
    )


@route(
    router,
    "DELETE",
    _NS + "/occurrences/{occurrence}",
    actions.DELETE_METADATA_OCCURRENCE,
    "Delete an occurrence",
    status_code=204,
)
async def delete_occurrence(
    ns: InMetadataNamespace,
    occurrence: ItemName,
) -> None:
    await ns.svc.signing.delete_occurrence(
        ns.instance_id, ns.name, occurrence, actor=ns.actor, resource=ns.arn
    )


@route(
    router,
    "POST",
    _NS + "/public-keys",
    actions.CREATE_METADATA_PUBLIC_KEY,
    "Register an OpenPGP public key for the namespace's occurrences",
    errors=(409,),
    status_code=201,
    response_model=PublicKeyOut,
    description="`PublicKey` (armored) or `publicKeyData` (its base64, as the guide exports it).",
)
async def add_public_key(
    ns: InMetadataNamespace,
    body: PublicKeyCreate,
) -> PublicKeyOut:
    view = await ns.svc.signing.add_public_key(
        ns.instance_id,
        ns.name,
        armored=body.public_key,
        data=body.public_key_data,
        actor=ns.actor,
        resource=ns.arn,
    )
    return PublicKeyOut.model_validate(view)


@route(
    router,
    "GET",
    _NS + "/public-keys",
    actions.LIST_METADATA_PUBLIC_KEY,
    "The namespace's public keys: fingerprint, user id, expiry",
    response_model=list[PublicKeyOut],
)
async def list_public_keys(ns: InMetadataNamespace) -> list[PublicKeyOut]:
    views = await ns.svc.signing.list_public_keys(ns.instance_id, ns.name)
    return [PublicKeyOut.model_validate(v) for v in views]


@route(
    router,
    "DELETE",
    _NS + "/public-keys/{fingerprint}",
    actions.DELETE_METADATA_PUBLIC_KEY,
    "Unregister a public key",
    status_code=204,
)
async def delete_public_key(
    ns: InMetadataNamespace,
    fingerprint: Fingerprint,
) -> None:
    await ns.svc.signing.delete_public_key(
        ns.instance_id, ns.name, fingerprint, actor=ns.actor, resource=ns.arn
    )


@route(
    router,
    "GET",
    "/namespaces/{namespace}/repositories/{repository}/manifests/{reference}/signatures",
    actions.LIST_SIGNATURE,
    "Verify an image: every signature of every occurrence over it, checked with GnuPG",
    response_model=VerificationOut,
    description=(
        "`ResourceUri` is the URL a publisher signs for this image. Each signature is valid "
        "when it is an inline OpenPGP message by a key registered in the occurrence's "
        "metadata namespace over exactly that URL (with or without a final newline), and "
        "its note has not expired; otherwise `Reason` says why (unknown key, expired key, "
        "revoked key, bad signature, signed text is another image's URL, note expired)."
    ),
)
async def verify_image(
    instance_id: InstanceId,
    namespace: NamespaceName,
    repository: RepositoryName,
    reference: Reference,
    svc: Services,
    guard: Authz,
) -> VerificationOut:
    await require_in(svc, guard, instance_id, actions.signature_arn)
    view = await svc.signing.verify(instance_id, namespace, repository, reference)
    return VerificationOut.model_validate(view)
