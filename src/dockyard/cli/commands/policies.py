"""``dockyard policy create|list|get|update|delete|simulate``."""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Annotated, Any

import typer

from dockyard.cli.client import ApiClient, ApiError, CliError
from dockyard.cli.commands._common import Call, command, print_json, print_record, stdout
from dockyard.cli.commands._identity import POLICY, DescriptionOpt
from dockyard.cli.commands._shapes import Listing, Resource, add_commands, changes, given

app = typer.Typer(help="Policies: JSON documents of Allow/Deny statements.")

PolicyArg = Annotated[str, POLICY]
DocumentOpt = Annotated[
    str | None,
    typer.Option(
        "--document",
        "-d",
        metavar="FILE",
        help='The JSON policy document ({"Version": "1", "Statement": [...]}); - for stdin.',
    ),
]
SharingOpt = Annotated[
    str | None,
    typer.Option("--sharing-scope", help="Who may attach it: global, organization or subtree."),
]

COLUMNS = [
    ("Name", "name"),
    ("Built-in", "builtin"),
    ("Sharing", "sharingScope"),
    ("Description", "description"),
    ("Updated", "updatedAt"),
]


def read_document(source: str) -> dict[str, Any]:
    """The JSON object in ``source`` (a file, or ``-`` for stdin); usage error otherwise."""
    where = "stdin" if source == "-" else source
    try:
        text = sys.stdin.read() if source == "-" else Path(source).read_text()
    except OSError as exc:
        raise CliError(f"cannot read {where}: {exc.strerror or exc}", 2) from exc
    try:
        document = json.loads(text)
    except ValueError as exc:
        raise CliError(f"{where} is not JSON: {exc}", 2) from exc
    if not isinstance(document, dict):
        raise CliError(f"{where}: a policy document is a JSON object", 2)
    return document


def _record(_client: ApiClient, policy: dict[str, Any]) -> None:
    print_record(policy, [*COLUMNS[:-1], ("Created", "createdAt"), ("Updated", "updatedAt")])
    document = policy.get("document")
    if document is not None:
        typer.echo("Document:")
        stdout().print_json(data=document, indent=2)


POLICIES = Resource("policy", "policies", "/policies", POLICY, _record)


def create_policy(
    name: PolicyArg,
    document: DocumentOpt = None,
    description: DescriptionOpt = None,
    sharing_scope: SharingOpt = None,
    *,
    call: Call,
) -> None:
    """Create a custom policy from a JSON document (names: at most 15 characters)."""
    if document is None:
        raise CliError("give the policy with --document FILE (or - for stdin)", 2)
    fields = {
        "name": name,
        "document": read_document(document),
        "description": description,
        "sharingScope": sharing_scope,
    }
    POLICIES.create(call, given(fields))


def update_policy(
    name: PolicyArg,
    document: DocumentOpt = None,
    description: DescriptionOpt = None,
    sharing_scope: SharingOpt = None,
    *,
    call: Call,
) -> None:
    """Replace a policy's document, or change its description."""
    fields = {
        "document": None if document is None else read_document(document),
        "description": description,
        "sharingScope": sharing_scope,
    }
    body = changes(fields, "--document, --description or --sharing-scope")
    POLICIES.update(call, name, body)


add_commands(
    app,
    POLICIES,
    create=create_policy,
    list=Listing("List the policies (built-in ones included).", COLUMNS),
    get="Show a policy and its document, pretty-printed.",
    update=update_policy,
    delete="Delete a custom policy (roles lose it).",
)


@command(app, "simulate")
def simulate(
    user: Annotated[str, typer.Option("--user", "-u", help="Whose permissions.")],
    action: Annotated[str, typer.Option("--action", "-a", help="e.g. cr:PullRepository")],
    resource: Annotated[
        str,
        typer.Option("--resource", "-r", help="ARN, e.g. acs:cr:*:*:repository/team/app, or *."),
    ],
    *,
    call: Call,
) -> None:
    """Would USER be allowed ACTION on RESOURCE, and why.

    Prints the decision with the deciding policy and statement; nothing is performed.
    """
    body = {"username": user, "action": action, "resource": resource}
    with call.api() as client:
        decision: dict[str, Any] = client.call("POST", "/authorization/simulate", json=body)
        statement = _statement(client, decision)
    if call.as_json:
        print_json(decision if statement is None else {**decision, "statementText": statement})
        return
    verdict = "ALLOWED" if decision.get("allowed") else "DENIED"
    typer.echo(f"{verdict}: {user} → {action} on {resource}")
    if decision.get("reason"):
        typer.echo(f"Why: {decision['reason']}")
    if decision.get("policy"):
        index = decision.get("statement")
        where = f", statement {index}" if isinstance(index, int) else ""
        typer.echo(f"Deciding policy: {decision['policy']}{where}")
    if statement is not None:
        stdout().print_json(data=statement, indent=2)


def _statement(client: ApiClient, decision: dict[str, Any]) -> Any:
    """The deciding statement itself (from the policy document), when it can be read."""
    name, index = decision.get("policy"), decision.get("statement")
    if not isinstance(name, str) or not isinstance(index, int):
        return None
    try:
        policy = client.call("GET", f"/policies/{name}")
    except ApiError:
        return None  # not allowed to read policies: the name and index say enough
    statements = (policy.get("document") or {}).get("Statement")
    if isinstance(statements, list) and 0 <= index < len(statements):
        return statements[index]
    return None
