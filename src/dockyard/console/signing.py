"""Signing in the console: an instance's metadata namespaces (list, create, delete) and its
signature policies (list, create, delete); a metadata namespace's notes and public keys
(list, create, delete). Over the signing services' public functions, authorized as the
API's routes are: metadata on ``metadata/<namespace>`` (``metadata/*`` to list), policies
on the instance's ARN. Signatures themselves are on the tag page."""

from __future__ import annotations

from typing import Any

from starlette.responses import Response
from starlette.routing import Route

from dockyard.console.context import ConsoleServices
from dockyard.console.instances import PAGE_SIZE, instance_path
from dockyard.console.pages import PageContext, configured, page, redirect
from dockyard.errors import (
    AlreadyExistsError,
    ConflictError,
    InvalidInputError,
    NotFoundError,
)
from dockyard.services.access import InstanceRef, actions
from dockyard.services.paging import PageRequest
from dockyard.services.signing import (
    NoteSpec,
    SignaturePolicyService,
    SignaturePolicySpec,
    SigningService,
)

_REFUSED = (InvalidInputError, AlreadyExistsError, NotFoundError, ConflictError)
_BLANK_POLICY = {"name": "", "scope": "", "note": "", "keys": "", "tags": ""}
_BLANK_NOTE = {"note_name": "", "short_description": "", "human_readable_name": ""}


def signing_path(instance_id: str) -> str:
    return f"{instance_path(instance_id)}/signing"


def _signing(context: PageContext) -> SigningService:
    return configured(context.svc.signing, "signing")


def _policies(context: PageContext) -> SignaturePolicyService:
    return configured(context.svc.signature_policies, "signature policies")


async def _instance(context: PageContext) -> InstanceRef:
    return await context.svc.tenancy.instance_ref(context.param("instance_id"))


async def _on_metadata(context: PageContext, action: str, name: str) -> tuple[InstanceRef, str]:
    """The instance, once ``action`` is allowed on its metadata namespace ``name``."""
    ref = await _instance(context)
    arn = actions.metadata_arn(ref, name)
    await context.user.require(context.svc.audit, action, arn)
    return ref, arn


# ---- an instance's metadata namespaces and signature policies ------------------------------


async def signing_page(context: PageContext, status: int = 200, **values: Any) -> Response:
    ref = await _instance(context)
    user, svc = context.user, context.svc
    await user.require(svc.audit, actions.LIST_METADATA_NAMESPACE, actions.metadata_list_arn(ref))
    namespaces = await _signing(context).list_namespaces(
        ref.id, PageRequest(context.page_number(), PAGE_SIZE)
    )
    arn = actions.instance_arn(ref)
    policies = None
    if user.may(actions.LIST_SIGNATURE_POLICY, arn):
        policies = await _policies(context).list_policies(ref.id, PageRequest(1, 100))
    values.setdefault("errors", {})
    values.setdefault("form", {"namespace_name": "", "description": ""})
    values.setdefault("policy_form", _BLANK_POLICY)
    return context.render(
        "signing.html",
        status=status,
        instance=ref,
        here=signing_path(ref.id),
        namespaces=namespaces,
        may_create=user.may(actions.CREATE_METADATA_NAMESPACE, actions.metadata_arn(ref, "*")),
        deletable={
            n.name
            for n in namespaces.items
            if user.may(actions.DELETE_METADATA_NAMESPACE, actions.metadata_arn(ref, n.name))
        },
        policies=policies,
        may_create_policy=user.may(actions.CREATE_SIGNATURE_POLICY, arn),
        may_delete_policy=user.may(actions.DELETE_SIGNATURE_POLICY, arn),
        **values,
    )


async def create_namespace(context: PageContext) -> Response:
    form = context.form
    name = form.text("namespace_name")
    ref, arn = await _on_metadata(context, actions.CREATE_METADATA_NAMESPACE, name)
    try:
        await _signing(context).create_namespace(
            ref.id, name, form.text("description"), actor=context.user.actor, resource=arn
        )
    except _REFUSED as exc:
        sent = {"namespace_name": name, "description": form.text("description")}
        return await signing_page(context, 400, errors={"namespace_name": exc.message}, form=sent)
    return redirect(f"{signing_path(ref.id)}/{name}")


async def delete_namespace(context: PageContext) -> Response:
    name = context.param("namespace")
    ref, arn = await _on_metadata(context, actions.DELETE_METADATA_NAMESPACE, name)
    try:
        await _signing(context).delete_namespace(
            ref.id, name, actor=context.user.actor, resource=arn
        )
    except ConflictError as exc:
        return await signing_page(context, 409, errors={"namespaces": exc.message})
    return redirect(signing_path(ref.id))


async def create_policy(context: PageContext) -> Response:
    ref = await _instance(context)
    arn = actions.instance_arn(ref)
    await context.user.require(context.svc.audit, actions.CREATE_SIGNATURE_POLICY, arn)
    form = context.form
    sent = {name: form.text(name) for name in _BLANK_POLICY}
    scope = sent["scope"]
    spec = SignaturePolicySpec(
        sent["name"],
        sent["note"],
        namespace=None if "/" in scope else scope,
        repository=scope if "/" in scope else None,
        keys=sent["keys"].replace(",", " ").split() or None,
        tags=sent["tags"] or None,
    )
    try:
        await _policies(context).create(ref.id, spec, actor=context.user.actor, resource=arn)
    except _REFUSED as exc:
        return await signing_page(context, 400, errors={"policy": exc.message}, policy_form=sent)
    return redirect(signing_path(ref.id))


async def delete_policy(context: PageContext) -> Response:
    ref = await _instance(context)
    arn = actions.instance_arn(ref)
    await context.user.require(context.svc.audit, actions.DELETE_SIGNATURE_POLICY, arn)
    await _policies(context).delete(
        ref.id, context.param("name"), actor=context.user.actor, resource=arn
    )
    return redirect(signing_path(ref.id))


# ---- a metadata namespace: its notes and public keys ---------------------------------------


async def namespace_page(context: PageContext, status: int = 200, **values: Any) -> Response:
    name = context.param("namespace")
    ref, arn = await _on_metadata(context, actions.GET_METADATA_NAMESPACE, name)
    user, signing = context.user, _signing(context)
    shown = await signing.get_namespace(ref.id, name)
    notes = None
    if user.may(actions.LIST_METADATA_NOTE, arn):
        notes = await signing.list_notes(
            ref.id, name, PageRequest(context.page_number(), PAGE_SIZE)
        )
    keys = None
    if user.may(actions.LIST_METADATA_PUBLIC_KEY, arn):
        keys = await signing.list_public_keys(ref.id, name)
    values.setdefault("errors", {})
    values.setdefault("form", _BLANK_NOTE)
    return context.render(
        "signing_namespace.html",
        status=status,
        instance=ref,
        here=f"{signing_path(ref.id)}/{name}",
        shown=shown,
        notes=notes,
        keys=keys,
        may_create_note=user.may(actions.CREATE_METADATA_NOTE, arn),
        may_delete_note=user.may(actions.DELETE_METADATA_NOTE, arn),
        may_add_key=user.may(actions.CREATE_METADATA_PUBLIC_KEY, arn),
        may_delete_key=user.may(actions.DELETE_METADATA_PUBLIC_KEY, arn),
        **values,
    )


async def create_note(context: PageContext) -> Response:
    name = context.param("namespace")
    ref, arn = await _on_metadata(context, actions.CREATE_METADATA_NOTE, name)
    form = context.form
    sent = {field: form.text(field) for field in _BLANK_NOTE}
    spec = NoteSpec(
        sent["note_name"],
        short_description=sent["short_description"],
        human_readable_name=sent["human_readable_name"],
    )
    try:
        await _signing(context).create_note(
            ref.id, name, spec, actor=context.user.actor, resource=arn
        )
    except _REFUSED as exc:
        return await namespace_page(context, 400, errors={"note_name": exc.message}, form=sent)
    return redirect(f"{signing_path(ref.id)}/{name}")


async def delete_note(context: PageContext) -> Response:
    name = context.param("namespace")
    ref, arn = await _on_metadata(context, actions.DELETE_METADATA_NOTE, name)
    try:
        await _signing(context).delete_note(
            ref.id, name, context.param("note"), actor=context.user.actor, resource=arn
        )
    except ConflictError as exc:
        return await namespace_page(context, 409, errors={"notes": exc.message})
    return redirect(f"{signing_path(ref.id)}/{name}")


async def add_key(context: PageContext) -> Response:
    name = context.param("namespace")
    ref, arn = await _on_metadata(context, actions.CREATE_METADATA_PUBLIC_KEY, name)
    try:
        await _signing(context).add_public_key(
            ref.id,
            name,
            armored=context.form.secret("public_key").strip(),
            data=None,
            actor=context.user.actor,
            resource=arn,
        )
    except _REFUSED as exc:
        return await namespace_page(context, 400, errors={"public_key": exc.message})
    return redirect(f"{signing_path(ref.id)}/{name}")


async def delete_key(context: PageContext) -> Response:
    name = context.param("namespace")
    ref, arn = await _on_metadata(context, actions.DELETE_METADATA_PUBLIC_KEY, name)
    await _signing(context).delete_public_key(
        ref.id, name, context.param("fingerprint"), actor=context.user.actor, resource=arn
    )
    return redirect(f"{signing_path(ref.id)}/{name}")


def routes(svc: ConsoleServices) -> list[Route]:
    base = "/console/instances/{instance_id}/signing"
    one = base + "/{namespace}"
    return [
        Route(base, page(svc, signing_page), methods=["GET"]),
        Route(base, page(svc, create_namespace), methods=["POST"]),
        Route(base + "/policies", page(svc, create_policy), methods=["POST"]),
        Route(base + "/policies/{name}/delete", page(svc, delete_policy), methods=["POST"]),
        Route(one, page(svc, namespace_page), methods=["GET"]),
        Route(one + "/delete", page(svc, delete_namespace), methods=["POST"]),
        Route(one + "/notes", page(svc, create_note), methods=["POST"]),
        Route(one + "/notes/{note}/delete", page(svc, delete_note), methods=["POST"]),
        Route(one + "/keys", page(svc, add_key), methods=["POST"]),
        Route(one + "/keys/{fingerprint}/delete", page(svc, delete_key), methods=["POST"]),
    ]
