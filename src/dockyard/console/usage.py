"""A namespace's storage usage: its figures and quota, a page of its repositories' own
figures, and how usage is counted (the service's rules, the content shared by several
manifests and the largest shared digests); on the namespace's ARN as the API's usage
routes are."""

from __future__ import annotations

from starlette.responses import Response
from starlette.routing import Route

from dockyard.console.context import ConsoleServices
from dockyard.console.instances import PAGE_SIZE
from dockyard.console.pages import PageContext, page
from dockyard.services.access import actions
from dockyard.services.paging import Page, PageRequest


async def usage_page(context: PageContext) -> Response:
    user, svc = context.user, context.svc
    ref = await svc.tenancy.instance_ref(context.param("instance_id"))
    name = context.param("namespace")
    await user.require(svc.audit, actions.GET_USAGE, actions.namespace_arn(ref, name))
    wanted = PageRequest(context.page_number(), PAGE_SIZE)
    detail = await svc.usage.namespace(ref.id, name, wanted)
    return context.render(
        "usage.html",
        instance=ref,
        namespace=name,
        detail=detail,
        # The repositories as a page, for the pager.
        repositories=Page(
            detail.repositories, wanted.page, wanted.page_size, detail.repository_count
        ),
        explanation=await svc.usage.explain(ref.id, name),
    )


def routes(svc: ConsoleServices) -> list[Route]:
    return [
        Route(
            "/console/instances/{instance_id}/namespaces/{namespace}/usage",
            page(svc, usage_page),
            methods=["GET"],
        )
    ]
