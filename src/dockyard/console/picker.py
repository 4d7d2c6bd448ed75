"""Pick a repository and tag for a deployment: search the repositories, choose one, and copy
the image reference of a tag (by tag, or pinned by digest) with this server's address."""

from __future__ import annotations

from starlette.responses import Response
from starlette.routing import Route

from dockyard.console.context import ConsoleServices
from dockyard.console.instances import PAGE_SIZE
from dockyard.console.pages import PageContext, page
from dockyard.console.repositories import pull_address
from dockyard.services.access import actions
from dockyard.services.paging import PageRequest

PATH = "/console/pick"
#: Tags shown for the chosen repository (the newest pushes of its first page).
TAG_PAGE = PageRequest(1, 50)


async def picker_page(context: PageContext) -> Response:
    user, svc = context.user, context.svc
    ref = await svc.tenancy.instance_ref(context.query("instance") or "default")
    await user.require(svc.audit, actions.LIST_REPOSITORY, actions.repository_list_arn(ref, None))
    query = context.query("q")[:100]
    listing = await svc.tenancy.list_repositories(
        ref.id, PageRequest(context.page_number(), PAGE_SIZE), name_contains=query or None
    )
    chosen = context.query("repository")
    picked = None
    if chosen:
        namespace, _, name = chosen.partition("/")
        await user.require(
            svc.audit, actions.LIST_REPOSITORY_TAG, actions.repository_arn(ref, namespace, name)
        )
        repo = await svc.tenancy.repository_ref(ref.id, namespace, name)
        address = pull_address(context, await svc.tenancy.get_instance(ref.id))
        tags = await svc.content.list_tag_details(repo, TAG_PAGE)
        picked = {"name": repo.full_name, "image": f"{address}/{repo.full_name}", "tags": tags}
    return context.render(
        "pick.html", instance=ref, listing=listing, query=query, picked=picked, chosen=chosen
    )


def routes(svc: ConsoleServices) -> list[Route]:
    return [Route(PATH, page(svc, picker_page), methods=["GET"])]
