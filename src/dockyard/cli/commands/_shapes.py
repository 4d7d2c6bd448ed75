"""The commands that have one shape on every resource (``list``, ``get``, ``delete``, and the
pairs that link two resources: grant/revoke a role, attach/detach a policy, add/remove a
member), made from a description of the resource, so each module writes only what is its own.

Users script against these commands, so a factory fixes their whole command line: the
arguments and options in one order, the help, the table columns and the ``--json`` output.
Commands on resources inside an instance also take ``--instance``.

A module's own ``create`` and ``update`` commands (their options differ) use the same
``Resource`` for their bodies and output: ``given`` keeps the options that were given,
``changes`` does so for an update and refuses one without any, ``Resource.create`` and
``Resource.update`` send the body and print the result, and ``delete_one`` is the body of a
``delete`` command with options of its own (``--force``). A new resource module reads
like ``roles.py``::

    THINGS = Resource("thing", "things", "/things", THING, _record)
    add_list(app, THINGS, "List the things.", COLUMNS)
    add_get(app, THINGS, "Show a thing.")

    @app.command("update")
    @handles_errors
    def update_thing(name: ThingArg, description: DescriptionOpt = None, ...) -> None:
        body = changes({"description": description}, "--description")
        with api(server) as client:
            THINGS.update(client, name, body, as_json)

    add_delete(app, THINGS, "Delete a thing.")

A ``list`` with filters of its own (``audit list``, ``job list``) fetches with
``_common.list_or_page`` and prints with ``_common.print_list``, as ``add_list`` does; an
organization given by id or name goes into a body through ``_identity.with_org_id``.
"""

from __future__ import annotations

import functools
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any, Literal

import typer

from dockyard.cli.client import ApiClient, CliError
from dockyard.cli.commands._common import (
    InstanceOpt,
    JsonOpt,
    PageOpt,
    PageSizeOpt,
    ServerOpt,
    api,
    handles_errors,
    list_or_page,
    print_json,
    print_list,
)
from dockyard.cli.commands._identity import OrgOpt, done, org_id

Record = dict[str, Any]
Columns = Sequence[tuple[str, str]]

#: ``--instance``'s value for the resources outside any instance (never sent).
NO_INSTANCE = ""


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

    def create(
        self, client: ApiClient, body: Record, as_json: bool, instance: str = NO_INSTANCE
    ) -> None:
        """POST ``body`` to the collection; print the new record as ``get`` would."""
        self.show(client, client.call("POST", self.collection_path(instance), json=body), as_json)

    def update(
        self,
        client: ApiClient,
        name: str,
        body: Record,
        as_json: bool,
        instance: str = NO_INSTANCE,
        headers: dict[str, str] | None = None,
    ) -> None:
        """PATCH the one named with ``body`` (only what changes); print the result."""
        path = self.path(client, instance, name)
        self.show(client, client.call("PATCH", path, json=body, headers=headers), as_json)


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


def delete_one(
    resource: Resource,
    name: str,
    instance: str = NO_INSTANCE,
    server: str | None = None,
    as_json: bool = False,
    *,
    force: bool | None = None,
) -> None:
    """The body of ``delete NAME``: one DELETE (with ``?force=`` when the command has
    ``--force``), then ``Deleted <noun> NAME.`` (or JSON)."""
    params = None if force is None else {"force": str(force).lower()}
    with api(server) as client:
        client.call("DELETE", resource.path(client, instance, name), params=params)
    done(as_json, None, {"deleted": name}, f"Deleted {resource.noun} {name}.")


def add_list(
    app: typer.Typer,
    resource: Resource,
    help: str,
    columns: Columns,
    *,
    rows: Callable[[ApiClient, list[Record]], list[Record]] | None = None,
    org_filter: bool = False,
) -> None:
    """``list``: every page (or ``--page``) as a table of ``columns``, or as JSON.

    ``rows`` adds the table's computed columns; ``org_filter`` adds ``--org``."""

    def run(
        server: str | None,
        as_json: bool,
        page: int | None,
        page_size: int,
        *,
        instance: str = NO_INSTANCE,
        org: str | None = None,
    ) -> None:
        with api(server) as client:
            query: Record = {"organizationId": org_id(client, org)} if org else {}
            path = resource.collection_path(instance)
            items = list_or_page(client, path, resource.plural, page, page_size, **query)
            # The computed columns may ask the API (organization names): inside the ``with``.
            print_list(
                items, columns, as_json, rows=functools.partial(rows, client) if rows else None
            )

    if org_filter:

        @app.command("list", help=help)
        @handles_errors
        def list_in_org(
            org: OrgOpt = None,
            server: ServerOpt = None,
            as_json: JsonOpt = False,
            page: PageOpt = None,
            page_size: PageSizeOpt = 30,
        ) -> None:
            run(server, as_json, page, page_size, org=org)

    elif resource.in_instance:

        @app.command("list", help=help)
        @handles_errors
        def list_in_instance(
            instance: InstanceOpt = "default",
            server: ServerOpt = None,
            as_json: JsonOpt = False,
            page: PageOpt = None,
            page_size: PageSizeOpt = 30,
        ) -> None:
            run(server, as_json, page, page_size, instance=instance)

    else:

        @app.command("list", help=help)
        @handles_errors
        def list_all(
            server: ServerOpt = None,
            as_json: JsonOpt = False,
            page: PageOpt = None,
            page_size: PageSizeOpt = 30,
        ) -> None:
            run(server, as_json, page, page_size)


def add_get(app: typer.Typer, resource: Resource, help: str) -> None:
    """``get NAME``: one record, printed by ``resource.record`` or as JSON."""

    def get(name: str, instance: str, server: str | None, as_json: bool) -> None:
        with api(server) as client:
            found = client.call("GET", resource.path(client, instance, name))
            resource.show(client, found, as_json)

    _add_on_one(app, "get", help, resource, get)


def add_delete(app: typer.Typer, resource: Resource, help: str) -> None:
    """``delete NAME``: one DELETE, then ``Deleted <noun> NAME.`` (or JSON)."""

    _add_on_one(app, "delete", help, resource, functools.partial(delete_one, resource))


def _add_on_one(
    app: typer.Typer,
    command: str,
    help: str,
    resource: Resource,
    run: Callable[[str, str, str | None, bool], None],
) -> None:
    """Command ``command NAME [--instance]``, done by ``run(name, instance, server, as_json)``."""
    if resource.in_instance:

        @app.command(command, help=help)
        @handles_errors
        def in_instance(
            name: str = resource.argument,
            instance: InstanceOpt = "default",
            server: ServerOpt = None,
            as_json: JsonOpt = False,
        ) -> None:
            run(name, instance, server, as_json)

    else:

        @app.command(command, help=help)
        @handles_errors
        def outside_instances(
            name: str = resource.argument, server: ServerOpt = None, as_json: JsonOpt = False
        ) -> None:
            run(name, NO_INSTANCE, server, as_json)


@dataclass(frozen=True)
class Link:
    """How a resource links to another: ``<owner path>/<segment>/[<instance>/]<target>``."""

    owner: Resource
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
    #: Whether the other side lives in an instance (then given by ``--instance``).
    in_instance: bool = False
    #: The other side's path from its argument (checking it on the way).
    target_path: Callable[[str], str] = str


@dataclass(frozen=True)
class Verb:
    """One command of a link pair: its name, help and message. The message names the two
    sides ``{owner}`` and ``{target}`` (and ``{instance}``)."""

    name: str
    help: str
    message: str


def add_links(app: typer.Typer, link: Link, on: Verb, off: Verb) -> None:
    """The two commands that link (PUT) and unlink (DELETE) ``owner`` and ``target``."""
    _add_link_command(app, link, on, "PUT")
    _add_link_command(app, link, off, "DELETE")


def _add_link_command(
    app: typer.Typer, link: Link, verb: Verb, method: Literal["PUT", "DELETE"]
) -> None:
    def run(owner: str, target: str, instance: str, server: str | None, as_json: bool) -> None:
        where = f"{instance}/" if link.in_instance else ""
        path = f"{link.owner.collection}/{owner}/{link.segment}/{where}{link.target_path(target)}"
        fallback: Record = {link.owner_key: owner}
        if link.in_instance:
            fallback["instanceId"] = instance
        fallback.update({link.target_key: target, link.state: method == "PUT"})
        message = verb.message.format(owner=owner, target=target, instance=instance)
        with api(server) as client:
            result = client.call(method, path)
        done(as_json, result, fallback, message)

    if link.in_instance:

        @app.command(verb.name, help=verb.help)
        @handles_errors
        def change_in_instance(
            owner: str = link.owner.argument,
            target: str = link.target,
            instance: InstanceOpt = "default",
            server: ServerOpt = None,
            as_json: JsonOpt = False,
        ) -> None:
            run(owner, target, instance, server, as_json)

    else:

        @app.command(verb.name, help=verb.help)
        @handles_errors
        def change(
            owner: str = link.owner.argument,
            target: str = link.target,
            server: ServerOpt = None,
            as_json: JsonOpt = False,
        ) -> None:
            run(owner, target, NO_INSTANCE, server, as_json)
