"""Repositories (list with search and paging, create, settings with the immutable switch,
delete) and their tags (digest, size, pushed time; delete with confirmation), with the pull
commands of this server's real address."""

from __future__ import annotations

from typing import Any
from urllib.parse import urlsplit

from starlette.responses import Response
from starlette.routing import Route

from dockyard.console import scanning
from dockyard.console.context import ConsoleServices
from dockyard.console.instances import PAGE_SIZE, instance_path
from dockyard.console.pages import PageContext, page, redirect
from dockyard.console.targets import repository_target
from dockyard.errors import (
    AlreadyExistsError,
    ConflictError,
    EditionRequiredError,
    InvalidInputError,
    LimitExceededError,
)
from dockyard.services.access import InstanceRef, actions
from dockyard.services.paging import PageRequest
from dockyard.services.tenancy import NamespaceChanges, RepositoryChanges
from dockyard.sizes import SIZE_HELP, read_size

#: Endpoint network types in the order a pull command prefers their domains.
_PREFERRED_NETWORKS = ("public", "vpc", "classic")


def _search(context: PageContext) -> str:
    return context.query("q")[:100]


async def _repositories(
    context: PageContext, ref: InstanceRef, namespace: str | None
) -> dict[str, Any]:
    """The listing part of a repositories page, after its authorization."""
    user, svc = context.user, context.svc
    await user.require(
        svc.audit, actions.LIST_REPOSITORY, actions.repository_list_arn(ref, namespace)
    )
    query = _search(context)
    found = await svc.tenancy.list_repositories(
        ref.id,
        PageRequest(context.page_number(), PAGE_SIZE),
        namespace=namespace,
        name_contains=query or None,
    )
    return {"instance": ref, "listing": found, "query": query}


async def instance_repositories_page(context: PageContext) -> Response:
    ref = await context.svc.tenancy.instance_ref(context.param("instance_id"))
    listed = await _repositories(context, ref, None)
    return context.render("repositories.html", namespace=None, **listed)


async def namespace_page(context: PageContext, status: int = 200, **values: Any) -> Response:
    user, svc = context.user, context.svc
    ref = await svc.tenancy.instance_ref(context.param("instance_id"))
    name = context.param("namespace")
    await user.require(svc.audit, actions.GET_NAMESPACE, actions.namespace_arn(ref, name))
    namespace = await svc.tenancy.get_namespace(ref.id, name)
    listed = await _repositories(context, ref, name)
    arn = actions.namespace_arn(ref, name)
    usage = None
    if user.may(actions.GET_USAGE, arn):
        usage = (await svc.usage.namespace(ref.id, name, PageRequest(1, 1))).namespace
    values.setdefault("errors", {})
    values.setdefault(
        "form",
        {
            "name": "",
            "summary": "",
            "description": "",
            "public": namespace.default_repository_type == "public",
        },
    )
    return context.render(
        "repositories.html",
        status=status,
        namespace=namespace,
        size_help=SIZE_HELP,
        usage=usage,
        may_create=user.may(actions.CREATE_REPOSITORY, arn),
        may_delete_namespace=user.may(actions.DELETE_NAMESPACE, arn),
        may_update_namespace=user.may(actions.UPDATE_NAMESPACE, arn),
        may_set_quota=user.may(actions.UPDATE_QUOTA, arn),
        **await scanning.policy_section(context, ref, name),
        **listed,
        **values,
    )


async def create_repository(context: PageContext) -> Response:
    user, svc, form = context.user, context.svc, context.form
    ref = await svc.tenancy.instance_ref(context.param("instance_id"))
    namespace = context.param("namespace")
    await user.require(svc.audit, actions.CREATE_REPOSITORY, actions.namespace_arn(ref, namespace))
    name = form.text("name")
    try:
        await svc.tenancy.create_repository(
            ref.id,
            namespace,
            name,
            repository_type="public" if form.checked("public") else "private",
            summary=form.text("summary"),
            description=form.text("description"),
        )
    except (InvalidInputError, AlreadyExistsError, LimitExceededError, EditionRequiredError) as exc:
        sent = {
            "name": name,
            "summary": form.text("summary"),
            "description": form.text("description"),
            "public": form.checked("public"),
        }
        field = "name" if isinstance(exc, InvalidInputError | AlreadyExistsError) else "form"
        return await namespace_page(context, 400, errors={field: exc.message}, form=sent)
    return redirect(f"{instance_path(ref.id)}/namespaces/{namespace}/repositories/{name}")


async def update_namespace(context: PageContext) -> Response:
    user, svc, form = context.user, context.svc, context.form
    ref = await svc.tenancy.instance_ref(context.param("instance_id"))
    name = context.param("namespace")
    await user.require(svc.audit, actions.UPDATE_NAMESPACE, actions.namespace_arn(ref, name))
    changes = NamespaceChanges(
        auto_create=form.checked("auto_create"),
        default_repository_type=form.text("default_repository_type") or None,
    )
    try:
        await svc.tenancy.update_namespace(ref.id, name, changes)
    except InvalidInputError as exc:
        return await namespace_page(context, 400, errors={"settings": exc.message})
    return redirect(f"{instance_path(ref.id)}/namespaces/{name}")


async def set_scan_policy(context: PageContext) -> Response:
    ref = await context.svc.tenancy.instance_ref(context.param("instance_id"))
    name = context.param("namespace")
    try:
        await scanning.save_policy(context, ref, name)
    except InvalidInputError as exc:
        return await namespace_page(context, 400, errors={"scan_policy": exc.message})
    return redirect(f"{instance_path(ref.id)}/namespaces/{name}")


async def set_quota(context: PageContext) -> Response:
    user, svc = context.user, context.svc
    ref = await svc.tenancy.instance_ref(context.param("instance_id"))
    name = context.param("namespace")
    arn = actions.namespace_arn(ref, name)
    await user.require(svc.audit, actions.UPDATE_QUOTA, arn)
    try:
        quota = read_size(context.form.text("quota") or "none")
        await svc.usage.set_quota(ref.id, name, quota, actor=user.actor, resource=arn)
    except InvalidInputError as exc:
        return await namespace_page(context, 400, errors={"quota": exc.message})
    return redirect(f"{instance_path(ref.id)}/namespaces/{name}")


def pull_address(context: PageContext, instance: Any) -> str:
    """Where clients reach this instance: an endpoint domain of it, else the public URL the
    server was given, else the address this browser used."""
    enabled = [e for e in instance.endpoints if e.enabled and e.domain]
    enabled.sort(
        key=lambda e: (
            _PREFERRED_NETWORKS.index(e.network_type)
            if e.network_type in _PREFERRED_NETWORKS
            else 9
        )
    )
    if enabled:
        return str(enabled[0].domain)
    if context.svc.public_url:
        return urlsplit(context.svc.public_url).netloc
    return context.request.headers.get("host", "localhost")


async def repository_page(context: PageContext, status: int = 200, **values: Any) -> Response:
    user, svc = context.user, context.svc
    target = await repository_target(context, actions.GET_REPOSITORY)
    ref, resource = target.instance, target.resource
    repository = await svc.tenancy.get_repository(ref.id, target.namespace, target.name)
    tags = None
    if user.may(actions.LIST_REPOSITORY_TAG, resource):
        repo = await svc.tenancy.repository_ref(ref.id, target.namespace, target.name)
        tags = await svc.content.list_tag_details(
            repo, PageRequest(context.page_number(), PAGE_SIZE)
        )
    address = pull_address(context, await svc.tenancy.get_instance(ref.id))
    image = f"{address}/{repository.full_name}"
    first_tag = tags.items[0].name if tags and tags.items else "latest"
    values.setdefault("errors", {})
    return context.render(
        "repository.html",
        status=status,
        instance=ref,
        repository=repository,
        tags=tags,
        pull_commands=[
            ("podman", f"podman pull {image}:{first_tag}"),
            ("docker", f"docker pull {image}:{first_tag}"),
            ("skopeo", f"skopeo inspect docker://{image}:{first_tag}"),
        ],
        may_update=user.may(actions.UPDATE_REPOSITORY, resource),
        may_delete=user.may(actions.DELETE_REPOSITORY, resource),
        may_delete_tags=user.may(actions.DELETE_REPOSITORY_TAG, resource),
        may_see_layers=user.may(actions.GET_REPOSITORY_LAYERS, resource),
        may_see_triggers=user.may(actions.LIST_REPO_TRIGGER, resource),
        may_replicate=user.may(actions.CREATE_REPO_SYNC_TASK, resource),
        may_see_scans=ref.edition == "Advanced" and user.may(actions.LIST_IMAGE_SCAN, resource),
        **values,
    )


async def update_repository(context: PageContext) -> Response:
    form = context.form
    target = await repository_target(context, actions.UPDATE_REPOSITORY)
    changes = RepositoryChanges(
        type="public" if form.checked("public") else "private",
        summary=form.text("summary"),
        description=form.text("description"),
        tag_mutability="Immutable" if form.checked("immutable") else "Flexible",
    )
    try:
        await context.svc.tenancy.update_repository(
            target.instance.id, target.namespace, target.name, changes
        )
    except (InvalidInputError, ConflictError, EditionRequiredError) as exc:
        return await repository_page(context, 400, errors={"settings": exc.message})
    return redirect(context.request.url.path.removesuffix("/settings"))


async def delete_repository_page(context: PageContext) -> Response:
    target = await repository_target(context, actions.DELETE_REPOSITORY)
    repository = await context.svc.tenancy.get_repository(
        target.instance.id, target.namespace, target.name
    )
    return context.render("repository_delete.html", instance=target.instance, repository=repository)


async def delete_repository(context: PageContext) -> Response:
    t = await repository_target(context, actions.DELETE_REPOSITORY)
    await context.svc.tenancy.delete_repository(
        t.instance.id, t.namespace, t.name, actor=context.user.actor, resource=t.resource
    )
    return redirect(f"{instance_path(t.instance.id)}/namespaces/{t.namespace}")


async def delete_tags_page(context: PageContext) -> Response:
    target = await repository_target(context, actions.DELETE_REPOSITORY_TAG)
    repository = await context.svc.tenancy.get_repository(
        target.instance.id, target.namespace, target.name
    )
    chosen = sorted({t for t in context.request.query_params.getlist("tag") if t})
    return context.render(
        "tags_delete.html", instance=target.instance, repository=repository, chosen=chosen
    )


async def delete_tags(context: PageContext) -> Response:
    t = await repository_target(context, actions.DELETE_REPOSITORY_TAG)
    svc = context.svc
    repo = await svc.tenancy.repository_ref(t.instance.id, t.namespace, t.name)
    for tag in sorted(set(context.form.all("tag"))):
        await svc.content.delete_tag(repo, tag, actor=context.user.actor, resource=t.resource)
    return redirect(context.request.url.path.removesuffix("/tags/delete"))


async def tag_page(context: PageContext) -> Response:
    """A tag's image: its layers with the history entry that made each (for an index, the
    image of the platform chosen in the tag list)."""
    t = await repository_target(context, actions.GET_REPOSITORY_LAYERS)
    svc = context.svc
    repository = await svc.tenancy.get_repository(t.instance.id, t.namespace, t.name)
    repo = await svc.tenancy.repository_ref(t.instance.id, t.namespace, t.name)
    tag, platform = context.param("tag"), context.query("platform") or None
    try:
        layers, problem = await svc.content.layers(repo, tag, platform), ""
    except InvalidInputError as exc:
        layers, problem = None, exc.message
    verification = None
    if svc.signing is not None and context.user.may(actions.LIST_SIGNATURE, "*"):
        verification = await svc.signing.verify(t.instance.id, t.namespace, t.name, tag)
    return context.render(
        "tag.html",
        instance=t.instance,
        repository=repository,
        tag=tag,
        layers=layers,
        problem=problem,
        verification=verification,
        **(await scanning.scan_section(context, t, layers.manifest_digest) if layers else {}),
    )


def routes(svc: ConsoleServices) -> list[Route]:
    ns = "/console/instances/{instance_id}/namespaces/{namespace}"
    repo = ns + "/repositories/{repository}"
    return [
        Route(
            "/console/instances/{instance_id}/repositories",
            page(svc, instance_repositories_page),
            methods=["GET"],
        ),
        Route(ns, page(svc, namespace_page), methods=["GET"]),
        Route(ns + "/settings", page(svc, update_namespace), methods=["POST"]),
        Route(ns + "/quota", page(svc, set_quota), methods=["POST"]),
        Route(ns + "/scan-policy", page(svc, set_scan_policy), methods=["POST"]),
        Route(ns + "/repositories", page(svc, create_repository), methods=["POST"]),
        Route(repo, page(svc, repository_page), methods=["GET"]),
        Route(repo + "/settings", page(svc, update_repository), methods=["POST"]),
        Route(repo + "/delete", page(svc, delete_repository_page), methods=["GET"]),
        Route(repo + "/delete", page(svc, delete_repository), methods=["POST"]),
        Route(repo + "/tags/delete", page(svc, delete_tags_page), methods=["GET"]),
        Route(repo + "/tags/delete", page(svc, delete_tags), methods=["POST"]),
        Route(repo + "/tags/{tag}", page(svc, tag_page), methods=["GET"]),
    ]
