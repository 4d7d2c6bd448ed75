"""What every resource command shares: options, the API client, output, errors, progress."""

from __future__ import annotations

import functools
import inspect
import itertools
import json
import re
from collections.abc import Callable, Iterator, Sequence
from contextlib import AbstractContextManager, contextmanager
from dataclasses import dataclass
from typing import Annotated, Any, ParamSpec, TypeVar

import typer
from rich.console import Console
from rich.markup import escape
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn
from rich.table import Table

from dockyard.cli.client import ApiClient, ApiError, CliError, CredentialStore, normalize_server

P = ParamSpec("P")
R = TypeVar("R")

ServerOpt = Annotated[
    str | None,
    typer.Option(
        "--server",
        "-s",
        envvar="DOCKYARD_SERVER",
        help="Server URL (default: the one you last logged in to).",
        show_default=False,
    ),
]
InstanceOpt = Annotated[
    str,
    typer.Option("--instance", "-i", envvar="DOCKYARD_INSTANCE", help="Instance id."),
]
JsonOpt = Annotated[bool, typer.Option("--json", help="Print JSON (for scripts).")]
PageOpt = Annotated[
    int | None,
    typer.Option("--page", min=1, help="Fetch only this page (default: every page)."),
]
PageSizeOpt = Annotated[
    int, typer.Option("--page-size", min=1, max=100, help="Items per page with --page.")
]

#: ``--instance``'s value for the resources outside any instance (never sent).
NO_INSTANCE = ""


def stdout() -> Console:
    # No emoji codes: ARNs such as ``acs:ram::…`` contain ``:ram:``.
    return Console(soft_wrap=False, emoji=False)


def stderr() -> Console:
    return Console(stderr=True, emoji=False)


def fail(message: str, exit_code: int = 1) -> typer.Exit:
    """Print ``error: message`` on stderr; raise the returned ``typer.Exit``."""
    typer.echo(f"error: {message}", err=True)
    return typer.Exit(exit_code)


def handles_errors(func: Callable[P, R]) -> Callable[P, R]:
    """Turn ``CliError`` (API refusals included) into ``error: …`` on stderr and exit 1."""

    @functools.wraps(func)
    def wrapper(*args: P.args, **kwargs: P.kwargs) -> R:
        try:
            return func(*args, **kwargs)
        except CliError as exc:
            raise fail(exc.message, exc.exit_code) from None

    return wrapper


@dataclass(frozen=True)
class Call:
    """The options every API command takes after its own, as ``command`` hands them over:
    ``--server`` and ``--json``, and where the command has them ``--instance``, ``--page``
    and ``--page-size``."""

    server: str | None
    as_json: bool
    instance: str = NO_INSTANCE
    page: int | None = None
    page_size: int = 30

    def api(self) -> AbstractContextManager[ApiClient]:
        return api(self.server)


def _option(name: str, annotation: Any, default: Any) -> inspect.Parameter:
    return inspect.Parameter(
        name, inspect.Parameter.KEYWORD_ONLY, annotation=annotation, default=default
    )


_INSTANCE = (_option("instance", InstanceOpt, "default"),)
_OUTPUT = (_option("server", ServerOpt, None), _option("as_json", JsonOpt, False))
_PAGING = (_option("page", PageOpt, None), _option("page_size", PageSizeOpt, 30))


def command(
    app: typer.Typer, name: str, *, instance: bool = False, paged: bool = False, **options: Any
) -> Callable[[Callable[..., None]], Callable[..., None]]:
    """Register the decorated function as command ``name`` of ``app`` (``options`` go to
    ``app.command``), its errors handled as ``handles_errors`` does.

    The command line has the function's own parameters, then ``--instance`` (with
    ``instance``), ``--server``, ``--json`` and (with ``paged``) ``--page`` and
    ``--page-size``, always in this order; the function receives those as its keyword
    ``call``."""
    shared = (*(_INSTANCE if instance else ()), *_OUTPUT, *(_PAGING if paged else ()))

    def register(func: Callable[..., None]) -> Callable[..., None]:
        own = [
            parameter
            for parameter in inspect.signature(func, eval_str=True).parameters.values()
            if parameter.name != "call"
        ]

        def run(**values: Any) -> None:
            call = Call(**{parameter.name: values.pop(parameter.name) for parameter in shared})
            func(**values, call=call)

        functools.update_wrapper(run, func)  # its name, and its docstring: the help
        signature = inspect.Signature([*own, *shared])
        run.__signature__ = signature  # type: ignore[attr-defined]
        run.__annotations__ = {p.name: p.annotation for p in signature.parameters.values()}
        app.command(name, **options)(handles_errors(run))
        return func

    return register


def resolve_server(server: str | None) -> str:
    if server:
        return normalize_server(server)
    found = CredentialStore().default_server()
    if not found:
        raise CliError("not logged in: run `dockyard login <server>` or pass --server")
    return found


@contextmanager
def api(server: str | None) -> Iterator[ApiClient]:
    """A client for ``server`` (or the default one) with its stored credential."""
    url = resolve_server(server)
    credential = CredentialStore().get(url)
    # Without a credential the request goes out anonymously (a server run with
    # --insecure-no-auth accepts it); otherwise the API's 401 says what is missing.
    client = ApiClient.for_credential(url, credential)
    try:
        yield client
    except ApiError as exc:
        if exc.status == 401:
            hint = "not logged in" if credential is None else "the stored credential was refused"
            exc.message = f"{exc.message} ({hint}: run `dockyard login {url}`)"
        raise
    finally:
        client.close()


def print_json(value: Any) -> None:
    typer.echo(json.dumps(value, indent=2, sort_keys=False, default=str))


def print_table(
    rows: Sequence[dict[str, Any]],
    columns: Sequence[tuple[str, str]],
    *,
    title: str | None = None,
) -> None:
    """``columns``: (heading, key) pairs; ``key`` may be dotted or a list joined by ``, ``."""
    table = Table(title=title, header_style="bold", show_lines=False)
    for heading, _ in columns:
        table.add_column(heading, overflow="fold")
    for row in rows:
        table.add_row(*(_cell(row, key) for _, key in columns))
    stdout().print(table)
    if not rows:
        stderr().print("[dim](none)[/dim]")


def print_list(
    items: list[dict[str, Any]],
    columns: Sequence[tuple[str, str]],
    as_json: bool,
    rows: Callable[[list[dict[str, Any]]], list[dict[str, Any]]] | None = None,
) -> None:
    """A list command's output: ``items`` as the API sent them with ``--json``, else a table
    of ``columns`` (over ``rows(items)`` when the table has computed cells)."""
    if as_json:
        print_json(items)
    else:
        print_table(rows(items) if rows else items, columns)


def print_record(record: dict[str, Any], fields: Sequence[tuple[str, str]]) -> None:
    table = Table(show_header=False, box=None, pad_edge=False)
    table.add_column(style="bold")
    table.add_column(overflow="fold")
    for heading, key in fields:
        table.add_row(heading, _cell(record, key))
    stdout().print(table)


def _cell(row: dict[str, Any], key: str) -> str:
    value: Any = row
    for part in key.split("."):
        value = value.get(part) if isinstance(value, dict) else None
    if value is None:
        return "-"
    if isinstance(value, str):
        value = escape(value)  # API text is never rich markup
    if key.endswith("At") and isinstance(value, str) and len(value) >= 19:
        return value[:19].replace("T", " ")  # an ISO time, to the second
    if isinstance(value, bool):
        return "yes" if value else "no"
    if isinstance(value, list):
        return ", ".join(escape(str(v)) for v in value) or "-"
    return str(value)


def human_size(size: Any) -> str:
    if not isinstance(size, int):
        return "-"
    value = float(size)
    for unit in ("B", "KiB", "MiB", "GiB"):
        if value < 1024 or unit == "GiB":
            return f"{value:.0f} {unit}" if unit == "B" else f"{value:.1f} {unit}"
        value /= 1024
    return str(size)


@contextmanager
def progress(description: str, total: int | None = None) -> Iterator[Callable[..., None]]:
    """A rich progress bar on stderr (only on a terminal); yields ``update(completed, total)``
    (and a new description, for counts the bar does not show)."""
    console = stderr()
    bar = Progress(
        TextColumn("{task.description}"),
        BarColumn(),
        MofNCompleteColumn(),
        TimeElapsedColumn(),
        console=console,
        transient=True,
        disable=not console.is_terminal,
    )
    with bar:
        task = bar.add_task(description, total=total)

        def update(
            completed: int, new_total: int | None = None, description: str | None = None
        ) -> None:
            bar.update(task, completed=completed, total=new_total or total)
            if description is not None:
                bar.update(task, description=description)

        yield update


def fetch_all(
    client: ApiClient, path: str, what: str, *, limit: int | None = None, **params: Any
) -> list[dict[str, Any]]:
    """Every item of a paged list (or its first ``limit``, fetching no further page), with a
    progress bar once there is more than one page."""
    with progress(f"Listing {what}") as update:
        return list(itertools.islice(client.iter_all(path, on_page=update, **params), limit))


def list_or_page(
    client: ApiClient,
    path: str,
    what: str,
    page: int | None,
    page_size: int,
    *,
    limit: int | None = None,
    **params: Any,
) -> list[dict[str, Any]]:
    """One ``page`` of a list, or (without one) every page up to ``limit`` items."""
    if page is None:
        return fetch_all(client, path, what, limit=limit, **params)
    items: list[dict[str, Any]] = client.page(path, page, page_size, **params)["items"]
    return items


_REF = re.compile(
    r"^(?P<ns>[^/:@\s]+)/(?P<repo>[^/:@\s]+)(?::(?P<tag>[^/:@\s]+))?(?:@(?P<digest>\S+))?$"
)


def split_name(value: str) -> tuple[str, str]:
    """``namespace/repository`` → the two parts."""
    match = _REF.match(value)
    if match is None or match["tag"] or match["digest"]:
        raise CliError(f"expected NAMESPACE/REPOSITORY, got {value!r}", exit_code=2)
    return match["ns"], match["repo"]


def split_reference(value: str, *, digest_ok: bool = False) -> tuple[str, str, str]:
    """``namespace/repository:tag`` (or ``@digest``) → (namespace, repository, reference)."""
    match = _REF.match(value)
    if match is None or not (match["tag"] or (digest_ok and match["digest"])):
        shape = "NAMESPACE/REPOSITORY:TAG" + (" or …@DIGEST" if digest_ok else "")
        raise CliError(f"expected {shape}, got {value!r}", exit_code=2)
    return match["ns"], match["repo"], match["digest"] or match["tag"]


def repo_path(instance: str, namespace: str, repository: str) -> str:
    return f"/instances/{instance}/namespaces/{namespace}/repositories/{repository}"


def if_match(etag: str | None) -> dict[str, str]:
    return {"If-Match": etag} if etag else {}
