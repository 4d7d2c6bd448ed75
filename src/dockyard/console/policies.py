"""Policies (administrators): list; create and edit a policy document as JSON, with the
engine's validation error shown at the statement and field it names; built-in policies are
shown read-only. Over ``IdentityServices.policies``, as the API's routes."""

from __future__ import annotations

import json
import re
from dataclasses import dataclass
from typing import Any

from starlette.responses import Response
from starlette.routing import Route

from dockyard.console.context import ConsoleServices
from dockyard.console.instances import PAGE_SIZE
from dockyard.console.pages import PageContext, page, redirect
from dockyard.errors import AlreadyExistsError, ConflictError, InvalidInputError
from dockyard.services.access import actions
from dockyard.services.identity import Caller
from dockyard.services.paging import PageRequest

PATH = "/console/policies"
EXAMPLE = {
    "Version": "1",
    "Statement": [{"Effect": "Allow", "Action": ["cr:Pull*"], "Resource": "*"}],
}
#: Where the engine's messages point: ``Statement[1].Effect`` (the field is optional).
_WHERE = re.compile(r"Statement\[(\d+)\](?:\.(\w+))?")


@dataclass(frozen=True, slots=True)
class DocumentError:
    """A refused document, told where it went wrong."""

    message: str
    #: 1-based, as people count statements; None when no statement is named.
    statement: int | None = None
    field: str | None = None


def document_error(exc: InvalidInputError | json.JSONDecodeError) -> DocumentError:
    if isinstance(exc, json.JSONDecodeError):
        return DocumentError(f"not JSON: {exc.msg} at line {exc.lineno}, column {exc.colno}")
    message = exc.message.removeprefix("invalid policy document: ")
    where = _WHERE.search(message)
    if where is None:
        return DocumentError(message)
    return DocumentError(message, int(where.group(1)) + 1, where.group(2))


def _caller(context: PageContext) -> Caller:
    return Caller.of(context.user.principal, context.user.source_ip)


async def policies_page(context: PageContext, status: int = 200, **values: Any) -> Response:
    user, svc = context.user, context.svc
    await user.require(svc.audit, actions.LIST_POLICIES, "*")
    listing = await svc.identity.policies.list_policies(
        PageRequest(context.page_number(), PAGE_SIZE)
    )
    values.setdefault("errors", {})
    values.setdefault("problem", None)
    values.setdefault(
        "form", {"name": "", "description": "", "document": json.dumps(EXAMPLE, indent=2)}
    )
    return context.render(
        "policies.html",
        status=status,
        listing=listing,
        may_create=user.may(actions.CREATE_POLICY, "*"),
        **values,
    )


async def create_policy(context: PageContext) -> Response:
    user, svc, form = context.user, context.svc, context.form
    await user.require(svc.audit, actions.CREATE_POLICY, "*")
    sent = {name: form.secret(name) for name in ("name", "description", "document")}
    try:
        document = json.loads(sent["document"])
        await svc.identity.policies.create_policy(
            _caller(context),
            form.text("name"),
            document,
            description=form.text("description"),
        )
    except json.JSONDecodeError as exc:
        return await policies_page(context, 400, problem=document_error(exc), form=sent)
    except InvalidInputError as exc:
        if exc.message.startswith("invalid policy document"):
            return await policies_page(context, 400, problem=document_error(exc), form=sent)
        return await policies_page(context, 400, errors={"name": exc.message}, form=sent)
    except (AlreadyExistsError, ConflictError) as exc:
        return await policies_page(context, 400, errors={"name": exc.message}, form=sent)
    return redirect(f"{PATH}/{form.text('name')}")


async def policy_page(context: PageContext, status: int = 200, **values: Any) -> Response:
    user, svc = context.user, context.svc
    policies = svc.identity.policies
    name = context.param("name")
    arn = await policies.ram_arn(f"policy/{name}")
    await user.require(svc.audit, actions.GET_POLICY, arn)
    policy = await policies.get_policy(name)
    values.setdefault("problem", None)
    values.setdefault("document", json.dumps(policy.document, indent=2))
    return context.render(
        "policy.html",
        status=status,
        policy=policy,
        may_update=not policy.builtin and user.may(actions.UPDATE_POLICY, arn),
        **values,
    )


async def update_policy(context: PageContext) -> Response:
    user, svc, form = context.user, context.svc, context.form
    policies = svc.identity.policies
    name = context.param("name")
    await user.require(svc.audit, actions.UPDATE_POLICY, await policies.ram_arn(f"policy/{name}"))
    sent = form.secret("document")
    try:
        await policies.update_policy(
            _caller(context), name, form.text("etag") or None, document=json.loads(sent)
        )
    except (json.JSONDecodeError, InvalidInputError) as exc:
        return await policy_page(context, 400, problem=document_error(exc), document=sent)
    except ConflictError as exc:
        return await policy_page(context, 409, problem=DocumentError(exc.message), document=sent)
    return redirect(f"{PATH}/{name}")


async def simulate_page(context: PageContext) -> Response:
    """The policy simulator: would this user be allowed this action on this resource, and
    which policy statement decides (a GET: it changes nothing)."""
    user, svc = context.user, context.svc
    policies = svc.identity.policies
    form = {name: context.query(name)[:1024] for name in ("user", "action", "resource")}
    result, problem = None, ""
    if form["user"]:
        await user.require(
            svc.audit, actions.SIMULATE_POLICY, await policies.ram_arn(f"user/{form['user']}")
        )
        try:
            result = await policies.simulate(form["user"], form["action"], form["resource"])
        except InvalidInputError as exc:
            problem = exc.message
    return context.render(
        "simulate.html", status=400 if problem else 200, form=form, result=result, problem=problem
    )


def routes(svc: ConsoleServices) -> list[Route]:
    return [
        Route(PATH, page(svc, policies_page), methods=["GET"]),
        Route(PATH, page(svc, create_policy), methods=["POST"]),
        Route("/console/simulate", page(svc, simulate_page), methods=["GET"]),
        Route(PATH + "/{name}", page(svc, policy_page), methods=["GET"]),
        Route(PATH + "/{name}", page(svc, update_policy), methods=["POST"]),
    ]
