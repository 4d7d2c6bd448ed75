"""How a console page is served: who is signed in, the CSRF check of every form, the
template, and the error pages (403, 404) every page shares."""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass, field
from typing import Any, TypeVar
from urllib.parse import quote

import jinja2
from starlette.requests import Request
from starlette.responses import HTMLResponse, RedirectResponse, Response

from dockyard.authn import client_address, session_principal
from dockyard.console import security
from dockyard.console.context import ConsoleServices, Visitor
from dockyard.errors import (
    AuthenticationError,
    DeniedError,
    DockyardError,
    NotFoundError,
    UnavailableError,
)

SIGNIN_PATH = "/console/signin"
T = TypeVar("T")

TEMPLATES = jinja2.Environment(
    loader=jinja2.PackageLoader("dockyard.console", "templates"),
    # Every value a page shows is escaped: names, summaries and descriptions are user input.
    autoescape=True,
    undefined=jinja2.StrictUndefined,
    trim_blocks=True,
    lstrip_blocks=True,
)


def _size(value: int) -> str:
    amount = float(value)
    for unit in ("B", "KiB", "MiB", "GiB"):
        if amount < 1024 or unit == "GiB":
            return f"{amount:.0f} {unit}" if unit == "B" else f"{amount:.1f} {unit}"
        amount /= 1024
    return f"{amount:.1f} GiB"


TEMPLATES.filters["size"] = _size
TEMPLATES.filters["urlpart"] = lambda value: quote(str(value), safe="")


@dataclass
class Form:
    """The fields of a posted form (every value a list, as a form may repeat a name)."""

    fields: Mapping[str, list[str]] = field(default_factory=dict)

    def text(self, name: str) -> str:
        values = self.fields.get(name) or [""]
        return values[0].strip()

    def secret(self, name: str) -> str:
        """A password, exactly as typed."""
        values = self.fields.get(name) or [""]
        return values[0]

    def all(self, name: str) -> list[str]:
        return [v for v in self.fields.get(name, []) if v]

    def checked(self, name: str) -> bool:
        return bool(self.fields.get(name))


@dataclass
class PageContext:
    request: Request
    svc: ConsoleServices
    #: None on the pages open before sign-in.
    visitor: Visitor | None
    form: Form
    #: The CSRF token this page's forms carry.
    csrf: str

    @property
    def user(self) -> Visitor:
        if self.visitor is None:
            raise AuthenticationError("sign in first")
        return self.visitor

    def param(self, name: str) -> str:
        return str(self.request.path_params[name])

    def query(self, name: str) -> str:
        return self.request.query_params.get(name, "").strip()

    def page_number(self) -> int:
        raw = self.query("page")
        return int(raw) if raw.isdigit() and 0 < int(raw) < 1_000_000 else 1

    def render(self, template: str, status: int = 200, **values: Any) -> HTMLResponse:
        html = TEMPLATES.get_template(template).render(
            visitor=self.visitor, csrf=self.csrf, path=self.request.url.path, **values
        )
        return HTMLResponse(html, status_code=status)


Handler = Callable[[PageContext], Awaitable[Response]]
Endpoint = Callable[[Request], Awaitable[Response]]


def configured(service: T | None, what: str) -> T:
    """A service the deployment may run without (None): then the page says so."""
    if service is None:
        raise UnavailableError(f"{what} is not configured")
    return service


def redirect(path: str) -> RedirectResponse:
    """After a form: 303, so that a reload does not post it again."""
    return RedirectResponse(path, status_code=303)


def _signin_redirect(request: Request) -> RedirectResponse:
    target = request.url.path if request.method == "GET" else "/console/"
    return redirect(f"{SIGNIN_PATH}?next={quote(target, safe='/')}")


def safe_next(value: str) -> str:
    """Where to go after sign-in: only a console page of this origin."""
    if value.startswith("/console/") and not value.startswith("//") and "\\" not in value:
        return value
    return "/console/instances"


async def _visitor(request: Request, svc: ConsoleServices) -> tuple[Visitor, str] | None:
    token = request.cookies.get(security.SESSION_COOKIE)
    if not token:
        return None
    address = client_address(request)
    principal = await session_principal(
        token, svc.tokens, svc.verifier, svc.audit, address, face="console"
    )
    return Visitor(principal, security.csrf_token(token), address or ""), token


def page(svc: ConsoleServices, handler: Handler, *, signed_in: bool = True) -> Endpoint:
    """Serve ``handler`` as a console page: a signed-in visitor (else to the sign-in page),
    every POST's CSRF token checked, refusals as the 403 and 404 pages."""

    async def endpoint(request: Request) -> Response:
        visitor: Visitor | None = None
        seed = request.cookies.get(security.PRESESSION_COOKIE)
        new_seed = None
        try:
            found = await _visitor(request, svc)
        except AuthenticationError:
            ended = _signin_redirect(request)
            security.clear_cookie(ended, request, security.SESSION_COOKIE)
            return ended
        if found is not None:
            visitor, seed = found
        elif signed_in:
            return _signin_redirect(request)
        elif not seed:
            seed = new_seed = security.new_presession()
        context = PageContext(request, svc, visitor, Form(), security.csrf_token(seed))
        if request.method == "POST":
            try:
                context.form = Form(await security.read_form(request))
            except security.FormTooLargeError as exc:
                return error_page(context, 413, "The form is too large", str(exc))
            if new_seed is not None or not security.csrf_matches(
                seed, context.form.text(security.CSRF_FIELD)
            ):
                return error_page(
                    context,
                    403,
                    "The form was refused",
                    "Its security token is missing or out of date. Go back, reload the page "
                    "and send it again.",
                )
        response: Response
        try:
            response = await handler(context)
        except DeniedError as exc:
            response = error_page(context, 403, "Not allowed", exc.message)
        except NotFoundError as exc:
            response = error_page(context, 404, "Not found", exc.message)
        except AuthenticationError:
            response = _signin_redirect(request)
        except DockyardError as exc:
            response = error_page(context, 400, "The request was refused", exc.message)
        if new_seed is not None:
            security.set_cookie(response, request, security.PRESESSION_COOKIE, new_seed)
        return response

    return endpoint


def error_page(context: PageContext, status: int, title: str, message: str) -> HTMLResponse:
    return context.render("error.html", status=status, title=title, message=message)


async def not_found(request: Request, exc: Exception) -> Response:
    """Any unknown path under /console: the 404 page (no visitor needed to say so)."""
    html = TEMPLATES.get_template("error.html").render(
        visitor=None,
        csrf="",
        path=request.url.path,
        title="Not found",
        message=f"There is no console page at {request.url.path}.",
    )
    return HTMLResponse(html, status_code=404)
