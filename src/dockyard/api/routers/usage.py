"""Storage usage of instances, namespaces and repositories, and namespace quotas.

Reads are ``cr:GetUsage`` on the ARN of what they measure (the instance, the namespace or
the repository); a quota is ``cr:UpdateQuota`` on the namespace's ARN and is audited.
"""

from __future__ import annotations

from fastapi import APIRouter

from dockyard.api import actions
from dockyard.api.context import Authz, Services
from dockyard.api.routers._routes import InInstance, InNamespace, require_in, route
from dockyard.api.routers.params import InstanceId, NamespaceName, Paging, RepositoryName
from dockyard.api.schemas.usage import (
    ExplanationOut,
    InstanceUsageOut,
    NamespaceDetailOut,
    NamespaceUsageOut,
    QuotaSet,
    RepositoryUsageOut,
)

router = APIRouter(prefix="/api/v1/instances/{instance_id}", tags=["usage"])


@route(
    router,
    "GET",
    "/usage",
    actions.GET_USAGE,
    "Storage usage of the instance, and a page of its namespaces'",
    response_model=InstanceUsageOut,
)
async def instance_usage(target: InInstance, paging: Paging) -> InstanceUsageOut:
    return InstanceUsageOut.model_validate(await target.svc.usage.instance(target.id, paging))


@route(
    router,
    "GET",
    "/namespaces/{namespace}/usage",
    actions.GET_USAGE,
    "Storage usage and quota of a namespace, and a page of its repositories'",
    response_model=NamespaceDetailOut,
)
async def namespace_usage(target: InNamespace, paging: Paging) -> NamespaceDetailOut:
    view = await target.svc.usage.namespace(target.instance_id, target.name, paging)
    return NamespaceDetailOut.model_validate(view)


@route(
    router,
    "GET",
    "/namespaces/{namespace}/usage/explain",
    actions.GET_USAGE,
    "What counts in a namespace's usage and why",
    response_model=ExplanationOut,
    description=(
        "The rules, the distinct digests counted, those shared by several manifests "
        "(counted once per namespace) and the largest of them with the repositories "
        "holding them."
    ),
)
async def explain_usage(target: InNamespace) -> ExplanationOut:
    view = await target.svc.usage.explain(target.instance_id, target.name)
    return ExplanationOut.model_validate(view)


@route(
    router,
    "GET",
    "/namespaces/{namespace}/repositories/{repository}/usage",
    actions.GET_USAGE,
    "Storage usage of a repository",
    response_model=RepositoryUsageOut,
)
async def repository_usage(
    instance_id: InstanceId,
    namespace: NamespaceName,
    repository: RepositoryName,
    svc: Services,
    guard: Authz,
) -> RepositoryUsageOut:
    await require_in(svc, guard, instance_id, actions.repository_arn, namespace, repository)
    view = await svc.usage.repository(instance_id, namespace, repository)
    return RepositoryUsageOut.model_validate(view)


@route(
    router,
    "PUT",
    "/namespaces/{namespace}/quota",
    actions.UPDATE_QUOTA,
    "Set or clear a namespace's byte quota",
    response_model=NamespaceUsageOut,
    description=(
        "Pushes that would take the namespace's deduplicated usage beyond the quota are "
        "refused (`DENIED`, naming the quota and the usage). A quota below the current "
        'usage is accepted and refuses pushes that add bytes. `{"quota": null}` clears it.'
    ),
)
async def set_quota(target: InNamespace, body: QuotaSet) -> NamespaceUsageOut:
    view = await target.svc.usage.set_quota(
        target.instance_id, target.name, body.quota, actor=target.actor, resource=target.arn
    )
    return NamespaceUsageOut.model_validate(view)
