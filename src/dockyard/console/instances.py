"""Instances (list, detail with edition, region and endpoints) and their namespaces (list,
create, delete with confirmation)."""

from __future__ import annotations

from typing import Any

from starlette.responses import Response
from starlette.routing import Route

from dockyard.console.context import ConsoleServices
from dockyard.console.pages import PageContext, page, redirect
from dockyard.errors import (
    AlreadyExistsError,
    ConflictError,
    EditionRequiredError,
    InvalidInputError,
    LimitExceededError,
)
from dockyard.services.access import actions
from dockyard.services.paging import PageRequest
from dockyard.services.tenancy import AllowlistEntry, Endpoint, InstanceChanges
from dockyard.services.tenancy.editions import EDITIONS
from dockyard.services.tenancy.rules import NETWORK_TYPES

PAGE_SIZE = 20


def instance_path(instance_id: str) -> str:
    return f"/console/instances/{instance_id}"


async def home(context: PageContext) -> Response:
    return redirect("/console/instances")


async def instances_page(context: PageContext, status: int = 200, **values: Any) -> Response:
    user, svc = context.user, context.svc
    await user.require(svc.audit, actions.LIST_INSTANCE, "*")
    found = await svc.tenancy.list_instances(PageRequest(context.page_number(), PAGE_SIZE))
    values.setdefault("errors", {})
    values.setdefault("form", {"name": "", "region": "", "edition": "Standard"})
    return context.render(
        "instances.html",
        status=status,
        listing=found,
        editions=EDITIONS,
        may_create=user.may(actions.CREATE_INSTANCE, "*"),
        **values,
    )


async def create_instance(context: PageContext) -> Response:
    user, svc, form = context.user, context.svc, context.form
    await user.require(svc.audit, actions.CREATE_INSTANCE, "*")
    sent = {name: form.text(name) for name in ("name", "region", "edition")}
    try:
        made = await svc.tenancy.create_instance(sent["name"], sent["region"], sent["edition"])
    except (InvalidInputError, AlreadyExistsError, LimitExceededError) as exc:
        return await instances_page(context, 400, errors={"form": exc.message}, form=sent)
    return redirect(instance_path(made.id))


async def instance_page(context: PageContext, status: int = 200, **values: Any) -> Response:
    user, svc = context.user, context.svc
    await user.require(svc.audit, actions.GET_INSTANCE, "*")
    instance = await svc.tenancy.get_instance(context.param("instance_id"))
    ref = await svc.tenancy.instance_ref(instance.id)
    current = {e.network_type: e for e in instance.endpoints}
    arn = actions.instance_arn(ref)
    usage = None
    if user.may(actions.GET_USAGE, arn):
        usage = await svc.usage.instance(ref.id, PageRequest(1, PAGE_SIZE))
    values.setdefault("errors", {})
    return context.render(
        "instance.html",
        status=status,
        instance=instance,
        limits=await svc.tenancy.instance_limits(ref.id),
        usage=usage,
        may_see_retention=user.may(actions.LIST_RETENTION_POLICY, arn),
        may_see_signing=svc.signing is not None
        and user.may(actions.LIST_METADATA_NAMESPACE, actions.metadata_list_arn(ref)),
        may_see_replication=user.may(
            actions.LIST_REPO_SYNC_TASK, actions.repository_list_arn(ref, None)
        ),
        endpoint_forms=[(network, current.get(network)) for network in NETWORK_TYPES],
        may_update=user.may(actions.UPDATE_INSTANCE, arn),
        may_list_namespaces=user.may(actions.LIST_NAMESPACE, actions.namespace_list_arn(ref)),
        may_list_repositories=user.may(
            actions.LIST_REPOSITORY, actions.repository_list_arn(ref, None)
        ),
        **values,
    )


def _allowlist(text: str) -> tuple[AllowlistEntry, ...]:
    """One entry a line: a CIDR, then (after a space) what it is for."""
    entries = []
    for line in text.splitlines():
        cidr, _, description = line.strip().partition(" ")
        if cidr:
            entries.append(AllowlistEntry(cidr, description.strip()))
    return tuple(entries)


async def update_endpoints(context: PageContext) -> Response:
    """Every network type's endpoint at once, as the form shows them (``If-Match``: the
    version the form was read at, so that a concurrent change is not overwritten)."""
    user, svc, form = context.user, context.svc, context.form
    ref = await svc.tenancy.instance_ref(context.param("instance_id"))
    await user.require(svc.audit, actions.UPDATE_INSTANCE, actions.instance_arn(ref))
    endpoints = tuple(
        Endpoint(
            network,
            form.text(f"{network}_domain"),
            form.checked(f"{network}_enabled"),
            _allowlist(form.secret(f"{network}_allowlist")),
        )
        for network in NETWORK_TYPES
        if form.text(f"{network}_domain")
    )
    try:
        await svc.tenancy.update_instance(
            ref.id, InstanceChanges(endpoints=endpoints), form.text("etag") or None
        )
    except (InvalidInputError, AlreadyExistsError, ConflictError) as exc:
        return await instance_page(context, 400, errors={"endpoints": exc.message})
    return redirect(instance_path(ref.id))


async def namespaces_page(context: PageContext, status: int = 200, **values: Any) -> Response:
    user, svc = context.user, context.svc
    ref = await svc.tenancy.instance_ref(context.param("instance_id"))
    await user.require(svc.audit, actions.LIST_NAMESPACE, actions.namespace_list_arn(ref))
    found = await svc.tenancy.list_namespaces(ref.id, PageRequest(context.page_number(), PAGE_SIZE))
    values.setdefault("errors", {})
    values.setdefault("form", {"name": "", "auto_create": True, "default_repository_type": ""})
    return context.render(
        "namespaces.html",
        status=status,
        instance=ref,
        listing=found,
        may_create=user.may(actions.CREATE_NAMESPACE, actions.namespace_create_arn(ref, "*")),
        may_delete={
            ns.name: user.may(actions.DELETE_NAMESPACE, actions.namespace_arn(ref, ns.name))
            for ns in found.items
        },
        **values,
    )


async def create_namespace(context: PageContext) -> Response:
    user, svc, form = context.user, context.svc, context.form
    ref = await svc.tenancy.instance_ref(context.param("instance_id"))
    name = form.text("name")
    await user.require(svc.audit, actions.CREATE_NAMESPACE, actions.namespace_create_arn(ref, name))
    try:
        await svc.tenancy.create_namespace(
            ref.id,
            name,
            auto_create=form.checked("auto_create"),
            default_repository_type=form.text("default_repository_type") or "private",
        )
    except (InvalidInputError, AlreadyExistsError) as exc:
        return await namespaces_page(
            context, 400, errors={"name": exc.message}, form=form_values(context)
        )
    except (LimitExceededError, EditionRequiredError) as exc:
        return await namespaces_page(
            context, 409, errors={"form": exc.message}, form=form_values(context)
        )
    return redirect(f"{instance_path(ref.id)}/namespaces/{name}")


def form_values(context: PageContext) -> dict[str, Any]:
    """The namespace form as it was sent (shown again beside its error)."""
    form = context.form
    return {
        "name": form.text("name"),
        "auto_create": form.checked("auto_create"),
        "default_repository_type": form.text("default_repository_type"),
    }


async def delete_namespace_page(context: PageContext) -> Response:
    user, svc = context.user, context.svc
    ref = await svc.tenancy.instance_ref(context.param("instance_id"))
    name = context.param("namespace")
    await user.require(svc.audit, actions.DELETE_NAMESPACE, actions.namespace_arn(ref, name))
    namespace = await svc.tenancy.get_namespace(ref.id, name)
    return context.render("namespace_delete.html", instance=ref, namespace=namespace)


async def delete_namespace(context: PageContext) -> Response:
    user, svc = context.user, context.svc
    ref = await svc.tenancy.instance_ref(context.param("instance_id"))
    name = context.param("namespace")
    resource = actions.namespace_arn(ref, name)
    await user.require(svc.audit, actions.DELETE_NAMESPACE, resource)
    await svc.tenancy.delete_namespace(
        ref.id, name, force=True, actor=user.actor, resource=resource
    )
    return redirect(f"{instance_path(ref.id)}/namespaces")


def routes(svc: ConsoleServices) -> list[Route]:
    ns = "/console/instances/{instance_id}/namespaces"
    return [
        Route("/console", page(svc, home), methods=["GET"]),
        Route("/console/", page(svc, home), methods=["GET"]),
        Route("/console/instances", page(svc, instances_page), methods=["GET"]),
        Route("/console/instances", page(svc, create_instance), methods=["POST"]),
        Route("/console/instances/{instance_id}", page(svc, instance_page), methods=["GET"]),
        Route(
            "/console/instances/{instance_id}/endpoints",
            page(svc, update_endpoints),
            methods=["POST"],
        ),
        Route(ns, page(svc, namespaces_page), methods=["GET"]),
        Route(ns, page(svc, create_namespace), methods=["POST"]),
        Route(ns + "/{namespace}/delete", page(svc, delete_namespace_page), methods=["GET"]),
        Route(ns + "/{namespace}/delete", page(svc, delete_namespace), methods=["POST"]),
    ]
