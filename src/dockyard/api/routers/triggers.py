"""Webhook triggers of a repository, their delivery log, pings and redeliveries (§7).

Every operation is authorized on the repository's ARN. Readers without cr:UpdateWebHook
see trigger URLs with the query string masked (deploy hooks carry tokens there).
"""

from __future__ import annotations

import uuid
from typing import Annotated

from fastapi import APIRouter, Path, Query

from dockyard.api import actions
from dockyard.api.routers._routes import InRepository, RepositoryTarget, route
from dockyard.api.routers.params import Paging
from dockyard.api.schemas.common import Page
from dockyard.api.schemas.triggers import (
    RecordStatus,
    TriggerCreate,
    TriggerOut,
    TriggerRecordOut,
    TriggerUpdate,
    TriggerWithSecretOut,
)
from dockyard.services.triggers import TriggerChanges, TriggerSpec

router = APIRouter(
    prefix="/api/v1/instances/{instance_id}/namespaces/{namespace}/repositories/{repository}",
    tags=["triggers"],
)

TriggerName = Annotated[str, Path(max_length=64, description="The trigger's name")]


def _reveal(target: RepositoryTarget) -> bool:
    """Whether the reader may see trigger URLs unmasked: the read routes check
    cr:UpdateWebHook besides their own action."""
    return target.guard.allows(actions.UPDATE_WEBHOOK, target.arn)


@route(
    router,
    "POST",
    "/triggers",
    actions.CREATE_REPO_TRIGGER,
    "Create a trigger (a webhook fired by tag pushes)",
    errors=(409,),
    status_code=201,
    response_model=TriggerWithSecretOut,
    description=(
        "Mode `every` fires on every tag push, `expression` when the regular expression "
        "matches from the start of the tag, `tags` for 1-10 listed tags. URLs: http on port "
        "80, 21, 70, 210, 280, 443, 488, 591, 777 or 1025-65535; https on 443 only. With "
        '`"secret": true` a secret is generated and returned once, in this answer.'
    ),
)
async def create_trigger(
    target: InRepository,
    body: TriggerCreate,
) -> TriggerWithSecretOut:
    triggers = target.svc.triggers
    spec = TriggerSpec(
        body.name,
        body.url,
        body.mode,
        body.expression,
        body.tags,
        body.cloudevents,
        body.secret,
    )
    view = await triggers.create(target.ref, spec, actor=target.actor, resource=target.arn)
    return TriggerWithSecretOut.model_validate(view)


@route(
    router,
    "GET",
    "/triggers",
    actions.LIST_REPO_TRIGGER,
    "List the repository's triggers",
    response_model=Page[TriggerOut],
)
async def list_triggers(
    target: InRepository,
    paging: Paging,
) -> Page[TriggerOut]:
    triggers, reveal = target.svc.triggers, _reveal(target)
    page = await triggers.list_triggers(target.ref, paging, reveal=reveal)
    return Page[TriggerOut].model_validate(page)


@route(
    router,
    "GET",
    "/triggers/{name}",
    actions.GET_REPO_TRIGGER,
    "Get a trigger",
    response_model=TriggerOut,
)
async def get_trigger(
    target: InRepository,
    name: TriggerName,
) -> TriggerOut:
    triggers, reveal = target.svc.triggers, _reveal(target)
    return TriggerOut.model_validate(await triggers.get(target.ref, name, reveal=reveal))


@route(
    router,
    "PATCH",
    "/triggers/{name}",
    actions.UPDATE_WEBHOOK,
    "Change a trigger's URL, mode, CloudEvents or secret",
    response_model=TriggerWithSecretOut,
    description=(
        "Fields left out stay as they are; a new mode needs its expression or tags. "
        '`"secret": true` generates a new secret (returned once), `false` removes it.'
    ),
)
async def update_trigger(
    target: InRepository,
    name: TriggerName,
    body: TriggerUpdate,
) -> TriggerWithSecretOut:
    triggers = target.svc.triggers
    changes = TriggerChanges(
        body.url, body.mode, body.expression, body.tags, body.cloudevents, body.secret
    )
    view = await triggers.update(target.ref, name, changes, actor=target.actor, resource=target.arn)
    return TriggerWithSecretOut.model_validate(view)


@route(
    router,
    "DELETE",
    "/triggers/{name}",
    actions.DELETE_REPO_TRIGGER,
    "Delete a trigger (its log records stay until the retention period ends)",
    status_code=204,
)
async def delete_trigger(
    target: InRepository,
    name: TriggerName,
) -> None:
    triggers = target.svc.triggers
    await triggers.delete(target.ref, name, actor=target.actor, resource=target.arn)


@route(
    router,
    "POST",
    "/triggers/{name}/ping",
    actions.UPDATE_WEBHOOK,
    "Send a test delivery to the trigger's URL (logged with ping=true)",
    status_code=202,
    response_model=TriggerRecordOut,
    description="Queued for the background workers; follow it in the trigger log.",
)
async def ping_trigger(
    target: InRepository,
    name: TriggerName,
) -> TriggerRecordOut:
    triggers = target.svc.triggers
    record = await triggers.ping(target.ref, name, actor=target.actor, resource=target.arn)
    return TriggerRecordOut.model_validate(record)


@route(
    router,
    "GET",
    "/trigger-records",
    actions.LIST_REPO_TRIGGER_RECORD,
    "The trigger log: every push for every trigger, newest first",
    response_model=Page[TriggerRecordOut],
    description=(
        "`Triggered` (a 2xx answer), `Failed` (another answer, a refused address, or "
        "retries used up), `Pending` (not delivered yet, or retrying), `Untriggered` (the "
        "tag did not match; `reason` says why)."
    ),
)
async def list_trigger_records(
    target: InRepository,
    paging: Paging,
    trigger: Annotated[str | None, Query(max_length=64, description="Only this trigger")] = None,
    status: Annotated[RecordStatus | None, Query(description="Only this status")] = None,
) -> Page[TriggerRecordOut]:
    page = await target.svc.triggers.log(target.ref, paging, trigger=trigger, status=status)
    return Page[TriggerRecordOut].model_validate(page)


@route(
    router,
    "POST",
    "/trigger-records/{record_id}/redeliver",
    actions.UPDATE_WEBHOOK,
    "Deliver a logged delivery again, as a new record (`redeliveryOf` the old)",
    errors=(409,),
    status_code=202,
    response_model=TriggerRecordOut,
    description="Refused with 409 `CONFLICT` when its trigger was deleted.",
)
async def redeliver(
    target: InRepository,
    record_id: uuid.UUID,
) -> TriggerRecordOut:
    redelivery = target.svc.triggers.redeliver
    record = await redelivery(target.ref, record_id, actor=target.actor, resource=target.arn)
    return TriggerRecordOut.model_validate(record)
