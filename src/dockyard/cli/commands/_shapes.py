"""The commands that have one shape on every resource (``list``, ``get``, ``delete``, and the
pairs that link two resources: grant/revoke a role, attach/detach a policy, add/remove a
member), made from a description of the resource, so each module writes only what is its own.

Users script against these commands, so a factory fixes their whole command line: the
arguments and options in one order, the help, the table columns and the ``--json`` output.
Commands on resources inside an instance also take ``--instance``.

A module declares its resource and its commands, in the order ``--help`` lists them, with
``add_commands``: a ``Listing`` makes the standard ``list``, a help text the standard
``get`` (or ``show``, the same command under that name) or ``delete``, and a function a
command of the module's own (``create``, ``update``, a ``delete`` with ``--force``), which
takes its own options and the shared ones as ``call`` (``_common.command``). Their bodies
use the same ``Resource``: ``given`` keeps the options that were given, ``changes`` does so
for an update and refuses one without any, ``Resource.create`` and ``Resource.update`` send
the body and print the result, and ``delete_one`` is the body of a ``delete`` with options
of its own. A new resource module reads like ``roles.py``::

    THINGS = Resource("thing", "things", "/things", THING, _record)

    def update_thing(name: ThingArg, description: DescriptionOpt = None, *, call: Call) -> None:
        # its docstring: the command's help
        body = changes({"description": description}, "--description")
        THINGS.update(call, name, body)

    add_commands(
        app,
        THINGS,
        list=Listing("List the things.", COLUMNS),
        get="Show a thing.",
        update=update_thing,
        delete="Delete a thing.",
    )

A ``list`` with filters of its own (``audit list``, ``job list``) fetches with
``_common.list_or_page`` and prints with ``_common.print_list``, as the standard one does. A
resource in an organization names the body key in ``Resource.org_key``: ``create`` and
``update`` then send the organization given by id or name as its id.
"""

from __future__ import annotations

import functools
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any, Literal

import typer

from dockyard.cli.client import ApiClient, CliError
from dockyard.cli.commands._common import Call, command, list_or_page, print_json, print_list
from dockyard.cli.commands._identity import OrgOpt, done, org_id, with_org_id

Record = dict[str, Any]
Columns = Sequence[tuple[str, str]]


@dataclass(frozen=True)
class Resource:
    """One kind of API resource, as its commands address and print it."""

    #: How messages name it: ``Deleted resource set dev.``
    noun: str
    #: What ``list`` says it is fetching: ``Listing resource sets``.
    plural: str
    #: The collection's API path; ``{instance}`` in it stands for ``--instance``.
    collection: str
    #: The positional argument naming one (a ``typer.Argument``).
    argument: Any
    #: Prints one record for people (``--json`` prints it as the API sent it).
    record: Callable[[ApiClient, Record], None]
    #: The API path of the one named (default: ``collection/name``), for resources named
    #: by something other than their path segment (an organization's name, ``ns/repo``).
    locate: Callable[[ApiClient, str, str], str] | None = None
    #: The body key naming the organization it belongs to (or its parent): given by id or
    #: name, sent as the id.
    org_key: str | None = None

    @property
    def in_instance(self) -> bool:
        return "{instance}" in self.collection

    def collection_path(self, instance: str) -> str:
        return self.collection.format(instance=instance)

    def path(self, client: ApiClient, instance: str, name: str) -> str:
        if self.locate is not None:
            return self.locate(client, instance, name)
        return f"{self.collection_path(instance)}/{name}"

    def show(self, client: ApiClient, found: Record, as_json: bool) -> None:
        if as_json:
            print_json(found)
        else:
            self.record(client, found)

    def create(self, call: Call, body: Record) -> None:
        """POST ``body`` to the collection (in ``--instance``); print the new record as
        ``get`` would."""
        with call.api() as client:
            sent = self._with_org_id(client, body)
            created = client.call("POST", self.collection_path(call.instance), json=sent)
            self.show(client, created, call.as_json)

    def update(
        self, call: Call, name: str, body: Record, headers: dict[str, str] | None = None
    ) -> None:
        """PATCH the one named with ``body`` (only what changes); print the result."""
        with call.api() as client:
            sent = self._with_org_id(client, body)
            path = self.path(client, call.instance, name)
            changed = client.call("PATCH", path, json=sent, headers=headers)
            self.show(client, changed, call.as_json)

    def _with_org_id(self, client: ApiClient, body: Record) -> Record:
        return body if self.org_key is None else with_org_id(client, body, self.org_key)


def given(fields: Record) -> Record:
    """The ``fields`` whose option was given (not None): a body that leaves the rest alone."""
    return {key: value for key, value in fields.items() if value is not None}


def changes(fields: Record, options: str) -> Record:
    """An update's body: the ``fields`` that were given; when none was, a usage error (exit 2)
    naming the ``options``."""
    body = given(fields)
    if not body:
        raise CliError(f"nothing to update: give {options}", 2)
    return body


def delete_one(resource: Resource, name: str, call: Call, *, force: bool | None = None) -> None:
    """The body of ``delete NAME``: one DELETE (with ``?force=`` when the command has
    ``--force``), then ``Deleted <noun> NAME.`` (or JSON)."""
    params = None if force is None else {"force": str(force).lower()}
    with call.api() as client:
        client.call("DELETE", resource.path(client, call.instance, name), params=params)
    done(call.as_json, None, {"deleted": name}, f"Deleted {resource.noun} {name}.")


@dataclass(frozen=True)
class Listing:
    """The standard ``list``: every page (or ``--page``) as a table of ``columns``, or as
    JSON."""

    help: str
    columns: Columns
    #: Adds the table's computed columns (it may ask the API: organization names).
    rows: Callable[[ApiClient, list[Record]], list[Record]] | None = None
    #: Whether it takes ``--org``: only the resources of that organization.
    org_filter: bool = False


@dataclass(frozen=True)
class Verb:
    """One command of a link pair: its name, help and message. The message names the two
    sides ``{owner}`` and ``{target}`` (and ``{instance}``)."""

    name: str
    help: str
    message: str


@dataclass(frozen=True)
class Link:
    """How a resource links to another, ``<owner path>/<segment>/[<instance>/]<target>``,
    and the two commands that link (PUT) and unlink (DELETE) them."""

    #: The JSON key naming the owner in ``--json`` output (``"group"``).
    owner_key: str
    #: The positional argument naming the other side (a ``typer.Argument``).
    target: Any
    #: The JSON key naming the other side (``"user"``).
    target_key: str
    #: The path segment of the links (``"members"``).
    segment: str
    #: The JSON key saying whether the two are linked now (``"member"``).
    state: str
    #: The command that links them, and the one that unlinks them.
    on: Verb
    off: Verb
    #: Whether the other side lives in an instance (then given by ``--instance``).
    in_instance: bool = False
    #: The other side's path from its argument (checking it on the way).
    target_path: Callable[[str], str] = str


#: A command of ``add_commands``: a standard ``list`` or the help of a standard ``get`` or
#: ``delete``, or the module's own command (taking ``call``).
Command = Listing | str | Callable[..., None]


def add_commands(
    app: typer.Typer, resource: Resource, *, links: Sequence[Link] = (), **commands: Command
) -> None:
    """Register ``resource``'s ``commands`` in the order given (the order ``--help`` lists
    them), then the pairs of commands of its ``links``. The module's own ``list`` is paged as
    the standard one is."""
    for name, spec in commands.items():
        if isinstance(spec, Listing):
            _add_list(app, resource, spec)
        elif isinstance(spec, str):
            _STANDARD[name](app, resource, spec)
        else:
            command(app, name, instance=resource.in_instance, paged=name == "list")(spec)
    for link in links:
        _add_link_command(app, resource, link, link.on, "PUT")
        _add_link_command(app, resource, link, link.off, "DELETE")


def _add_list(app: typer.Typer, resource: Resource, listing: Listing) -> None:
    def run(call: Call, org: str | None = None) -> None:
        with call.api() as client:
            query: Record = {"organizationId": org_id(client, org)} if org else {}
            path = resource.collection_path(call.instance)
            items = list_or_page(client, path, resource.plural, call.page, call.page_size, **query)
            # The computed columns may ask the API (organization names): inside the ``with``.
            rows = functools.partial(listing.rows, client) if listing.rows else None
            print_list(items, listing.columns, call.as_json, rows=rows)

    register = command(app, "list", instance=resource.in_instance, paged=True, help=listing.help)
    if listing.org_filter:

        @register
        def list_in_org(org: OrgOpt = None, *, call: Call) -> None:
            run(call, org)

    else:

        @register
        def list_all(*, call: Call) -> None:
            run(call)


def _add_get(app: typer.Typer, resource: Resource, help: str, verb: str = "get") -> None:
    """``get NAME`` (or ``verb NAME``): one record, printed by ``resource.record`` or as
    JSON."""

    @command(app, verb, instance=resource.in_instance, help=help)
    def get(name: str = resource.argument, *, call: Call) -> None:
        with call.api() as client:
            found = client.call("GET", resource.path(client, call.instance, name))
            resource.show(client, found, call.as_json)


def _add_delete(app: typer.Typer, resource: Resource, help: str) -> None:
    """``delete NAME``: one DELETE, then ``Deleted <noun> NAME.`` (or JSON)."""

    @command(app, "delete", instance=resource.in_instance, help=help)
    def delete(name: str = resource.argument, *, call: Call) -> None:
        delete_one(resource, name, call)


_STANDARD: dict[str, Callable[[typer.Typer, Resource, str], None]] = {
    "get": _add_get,
    "show": functools.partial(_add_get, verb="show"),
    "delete": _add_delete,
}


def _add_link_command(
    app: typer.Typer,
    resource: Resource,
    link: Link,
    verb: Verb,
    method: Literal["PUT", "DELETE"],
) -> None:
    @command(app, verb.name, instance=link.in_instance, help=verb.help)
    def change(owner: str = resource.argument, target: str = link.target, *, call: Call) -> None:
        where = f"{call.instance}/" if link.in_instance else ""
        path = f"{resource.collection}/{owner}/{link.segment}/{where}{link.target_path(target)}"
        fallback: Record = {link.owner_key: owner}
        if link.in_instance:
            fallback["instanceId"] = call.instance
        fallback.update({link.target_key: target, link.state: method == "PUT"})
        message = verb.message.format(owner=owner, target=target, instance=call.instance)
        with call.api() as client:
            result = client.call(method, path)
        done(call.as_json, result, fallback, message)
