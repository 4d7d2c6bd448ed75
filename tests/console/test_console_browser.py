"""The web console in a real browser: Playwright drives Debian's chromium against a real
``dockyard serve``, with real podman and skopeo for the registry side.

One server and one browser for the module (the CI budget); every test signs in on a fresh
browser context and makes its own namespaces, so the tests do not depend on their order.
Every page a test opens is checked with axe-core (no serious or critical violation) and
photographed at 1280 and 390 pixels wide into ``DOCKYARD_CONSOLE_SCREENSHOTS`` (default: a
temporary directory); docs/console.md says how to refresh the committed set in docs/console/.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import time
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx
import pyotp
import pytest
from axe_playwright_python.sync_playwright import Axe
from playwright.sync_api import (
    Browser,
    BrowserContext,
    Page,
    Playwright,
    sync_playwright,
)
from tests import oci_signatures as S
from tests.api.conftest import Pusher
from tests.api.test_api_jobs import queue_jobs
from tests.conftest import DockyardServer
from tests.e2e import clients as C
from tests.gpg import Keyring

pytestmark = [pytest.mark.e2e, pytest.mark.clients]

CHROMIUM = shutil.which("chromium") or "/usr/bin/chromium"
CHROMIUM_ARGS = [
    "--headless",
    "--no-sandbox",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
]
WIDTHS = {"1280": (1280, 900), "390": (390, 844)}
#: axe-core impacts that fail a page.
BLOCKING = {"serious", "critical"}

READER = "reader"
OPERATOR = "operator"
INITIAL_PASSWORD = "Initial-pass-1"
NEW_PASSWORD = "Changed-pass-2"
REGISTRY_PASSWORD = "Registry-pass-3"


# ---- fixtures -----------------------------------------------------------------------------


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[DockyardServer]:
    with DockyardServer(tmp_path_factory.mktemp("console-server"), workers=1) as started:
        yield started


@pytest.fixture(scope="module")
def api(server: DockyardServer) -> Iterator[httpx.Client]:
    """The administrator on the management API, for what the console does not build yet."""
    with httpx.Client(base_url=f"{server.url}/api/v1", auth=server.admin, timeout=60) as client:
        yield client


def ok(resp: httpx.Response, status: int = 200) -> Any:
    assert resp.status_code == status, f"{resp.request.method} {resp.request.url}: {resp.text}"
    return resp.json() if resp.content else None


def create_user(api: httpx.Client, username: str, roles: list[str]) -> None:
    orgs = ok(api.get("/organizations"))
    root = next(o for o in orgs["items"] if o["name"] == "root")
    body = {
        "username": username,
        "displayName": username,
        "organizationId": root["id"],
        "email": f"{username}@example.com",
        "phone": "13800000000",
        "password": INITIAL_PASSWORD,
        "roles": roles,
    }
    ok(api.post("/users", json=body), 201)


@pytest.fixture(scope="module")
def users(api: httpx.Client) -> dict[str, str]:
    """An operator (Administrator role) and a reader (the read-only built-in policy), both
    with an initial password they must change at their first sign-in."""
    ok(
        api.post(
            "/roles",
            json={"name": "readers", "policies": ["AliyunContainerRegistryReadOnlyAccess"]},
        ),
        201,
    )
    create_user(api, OPERATOR, ["Administrator"])
    create_user(api, READER, ["readers"])
    return {OPERATOR: INITIAL_PASSWORD, READER: INITIAL_PASSWORD}


@pytest.fixture(scope="module")
def shots(tmp_path_factory: pytest.TempPathFactory) -> Path:
    wanted = os.environ.get("DOCKYARD_CONSOLE_SCREENSHOTS")
    if wanted:
        Path(wanted).mkdir(parents=True, exist_ok=True)
        return Path(wanted)
    return tmp_path_factory.mktemp("console-screenshots")


@pytest.fixture(scope="module")
def playwright() -> Iterator[Playwright]:
    with sync_playwright() as started:
        yield started


@pytest.fixture(scope="module")
def browser(playwright: Playwright) -> Iterator[Browser]:
    launched = playwright.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
    yield launched
    launched.close()


@dataclass
class Visit:
    """A browser context of one user: opens pages, checks them with axe, photographs them."""

    server: DockyardServer
    context: BrowserContext
    page: Page
    shots: Path
    dialogs: list[str] = field(default_factory=list)

    def url(self, path: str) -> str:
        return f"{self.server.url}{path}"

    def go(self, path: str) -> Page:
        response = self.page.goto(self.url(path))
        assert response is not None
        return self.page

    def check(self, name: str) -> None:
        """axe-core on the page as it stands, no sideways scrolling of the page, then a
        screenshot, at both widths."""
        for width, (w, h) in WIDTHS.items():
            self.page.set_viewport_size({"width": w, "height": h})
            results = Axe().run(self.page)
            blocking = [
                (v["id"], v["impact"], [n["target"] for n in v["nodes"]][:3])
                for v in results.response["violations"]
                if v["impact"] in BLOCKING
            ]
            assert blocking == [], f"{name} at {width}px: {blocking}"
            # Nothing wider than the window: wide tables scroll inside their own box.
            assert self.page.evaluate("document.documentElement.scrollWidth") <= w, name
            self.page.screenshot(path=str(self.shots / f"{name}-{width}.png"), full_page=True)
        self.page.set_viewport_size({"width": 1280, "height": 900})

    def sign_in(self, username: str, password: str) -> None:
        self.go("/console/signin")
        self.page.get_by_label("User name").fill(username)
        self.page.get_by_label("Password", exact=True).fill(password)
        self.page.get_by_role("button", name="Sign in").click()

    def change_initial(self, username: str, password: str, new_password: str) -> None:
        self.sign_in(username, password)
        self.page.get_by_label("Current password").fill(password)
        self.page.get_by_label("New password", exact=True).fill(new_password)
        self.page.get_by_label("New password again").fill(new_password)
        self.page.get_by_role("button", name="Change the password and sign in").click()
        assert self.page.url.endswith("/console/instances"), self.page.content()

    def csrf(self) -> str:
        value = self.page.locator("input[name=csrf]").first.get_attribute("value")
        assert value
        return value

    def post(self, path: str, form: dict[str, str]) -> tuple[int, str]:
        """A form post from this session's cookies, as a forging script would send it."""
        resp = self.context.request.post(self.url(path), form=form, max_redirects=0)
        return resp.status, resp.text()


@pytest.fixture
def visit(browser: Browser, server: DockyardServer, shots: Path) -> Iterator[Visit]:
    context = browser.new_context(viewport={"width": 1280, "height": 900})
    page = context.new_page()
    opened = Visit(server, context, page, shots)
    # Confirmations (``data-confirm`` forms) are answered yes; any other dialog (an alert a
    # script injected) is recorded and dismissed.
    page.on(
        "dialog",
        lambda d: (
            opened.dialogs.append(d.message),
            d.accept() if d.type == "confirm" else d.dismiss(),
        ),
    )
    yield opened
    context.close()


@pytest.fixture
def admin(visit: Visit, server: DockyardServer) -> Visit:
    visit.sign_in(*server.admin)
    assert visit.page.url.endswith("/console/instances"), visit.page.content()
    return visit


def create_namespace(visit: Visit, name: str) -> None:
    visit.go("/console/instances/default/namespaces")
    visit.page.get_by_label("Name", exact=True).fill(name)
    visit.page.get_by_role("button", name="Create namespace").click()
    assert visit.page.url.endswith(f"/namespaces/{name}"), visit.page.content()


def create_repository(
    visit: Visit, namespace: str, name: str, summary: str = "", description: str = ""
) -> None:
    visit.go(f"/console/instances/default/namespaces/{namespace}")
    visit.page.get_by_label("Name", exact=True).fill(name)
    visit.page.get_by_label("Summary").fill(summary)
    visit.page.get_by_label("Description").fill(description)
    visit.page.get_by_role("button", name="Create repository").click()
    assert visit.page.url.endswith(f"/repositories/{name}"), visit.page.content()


def set_registry_password(visit: Visit, password: str) -> None:
    visit.go("/console/credentials")
    visit.page.get_by_role("textbox", name="Registry password", exact=True).fill(password)
    visit.page.get_by_label("Registry password again").fill(password)
    visit.page.get_by_role("button", name="Set the registry password").click()
    assert "Your registry password is set" in visit.page.get_by_role("status").inner_text()


# ---- sign-in ------------------------------------------------------------------------------


def test_signin_refusals_are_told_in_words(visit: Visit, api: httpx.Client) -> None:
    visit.go("/console/signin")
    visit.check("signin")
    visit.sign_in("admin", "not-the-password")
    assert "invalid username or password" in visit.page.get_by_role("alert").inner_text()
    create_user(api, "locked-out", [])
    for _ in range(5):
        visit.sign_in("locked-out", "wrong-password-1")
    visit.sign_in("locked-out", INITIAL_PASSWORD)
    alert = visit.page.get_by_role("alert").inner_text()
    assert "locked after 5 failed sign-ins" in alert
    visit.check("signin-locked")
    ok(api.post("/logon-policies", json={"name": "office-only", "cidrs": ["10.0.0.0/8"]}), 201)
    create_user(api, "remote", [])
    ok(api.patch("/users/remote", json={"logonPolicy": "office-only"}))
    visit.sign_in("remote", INITIAL_PASSWORD)
    alert = visit.page.get_by_role("alert").inner_text()
    assert "not allowed from 127.0.0.1: the address is outside the logon policy's" in alert


def test_initial_password_is_changed_and_a_change_ends_other_sessions(
    visit: Visit, browser: Browser, users: dict[str, str]
) -> None:
    visit.sign_in(OPERATOR, INITIAL_PASSWORD)
    assert "This password must be changed first." in visit.page.inner_text("main")
    visit.check("signin-change")
    # Two different new passwords: refused at the field, nothing changed.
    visit.page.get_by_label("Current password").fill(INITIAL_PASSWORD)
    visit.page.get_by_label("New password", exact=True).fill(NEW_PASSWORD)
    visit.page.get_by_label("New password again").fill(NEW_PASSWORD + "x")
    visit.page.get_by_role("button", name="Change the password and sign in").click()
    assert "The passwords do not match." in visit.page.inner_text("#e-confirm_password")
    visit.change_initial(OPERATOR, INITIAL_PASSWORD, NEW_PASSWORD)
    visit.check("instances")

    # A second session of the same user ...
    other = browser.new_context()
    try:
        other_page = other.new_page()
        other_page.goto(visit.url("/console/signin"))
        other_page.get_by_label("User name").fill(OPERATOR)
        other_page.get_by_label("Password", exact=True).fill(NEW_PASSWORD)
        other_page.get_by_role("button", name="Sign in").click()
        assert other_page.url.endswith("/console/instances")
        # ... ends when the password changes on the account page.
        visit.go("/console/account")
        visit.check("account")
        visit.page.get_by_label("Current password").fill(NEW_PASSWORD)
        visit.page.get_by_label("New password", exact=True).fill(NEW_PASSWORD + "!")
        visit.page.get_by_label("New password again").fill(NEW_PASSWORD + "!")
        visit.page.get_by_role("button", name="Change the password").click()
        assert "Your password is changed" in visit.page.get_by_role("status").inner_text()
        other_page.goto(visit.url("/console/instances"))
        assert "/console/signin" in other_page.url
        # This session goes on with the new cookie, and sign-out ends it.
        visit.go("/console/instances")
        assert visit.page.url.endswith("/console/instances")
        visit.page.get_by_role("button", name="Sign out").click()
        assert "You have signed out." in visit.page.get_by_role("status").inner_text()
        visit.go("/console/instances")
        assert "/console/signin" in visit.page.url
    finally:
        other.close()


def test_session_cookie_is_httponly_and_strict(admin: Visit) -> None:
    cookies = {c["name"]: c for c in admin.context.cookies()}
    session = cookies["dockyard_console"]
    assert session["httpOnly"] is True
    assert session["sameSite"] == "Strict"
    assert session["path"] == "/console"


def test_pages_carry_the_content_security_policy(server: DockyardServer) -> None:
    for path in ("/console/signin", "/console/static/console.css", "/console/nowhere"):
        resp = httpx.get(f"{server.url}{path}")
        csp = resp.headers["content-security-policy"]
        assert "script-src 'self'" in csp
        assert "unsafe-inline" not in csp
        assert "frame-ancestors 'none'" in csp
        assert resp.headers["x-frame-options"] == "DENY"
    assert httpx.get(f"{server.url}/console/nowhere").status_code == 404


# ---- instances, namespaces, repositories, tags ---------------------------------------------


def test_instances_list_and_detail(admin: Visit) -> None:
    admin.go("/console/instances")
    admin.page.get_by_role("link", name="default").click()
    main = admin.page.inner_text("main")
    assert "Advanced" in main
    assert "local" in main
    assert "no endpoint domains" in main
    limits = admin.page.locator("table.limits").inner_text()
    assert "repositories in one namespace" in limits and "no limit" in limits
    admin.check("instance")


def test_namespace_create_with_field_error_and_delete_with_confirmation(admin: Visit) -> None:
    admin.go("/console/instances/default/namespaces")
    admin.check("namespaces")
    admin.page.get_by_label("Name", exact=True).fill("Bad Name!")
    admin.page.get_by_role("button", name="Create namespace").click()
    assert admin.page.locator("#e-name").inner_text()
    assert admin.page.get_by_label("Name", exact=True).get_attribute("aria-invalid") == "true"
    admin.check("namespaces-error")
    create_namespace(admin, "doomed")
    create_repository(admin, "doomed", "one")
    admin.go("/console/instances/default/namespaces/doomed")
    admin.page.get_by_role("link", name="Delete this namespace").click()
    text = admin.page.inner_text("main")
    assert "doomed" in text
    assert "1 repository" in text
    admin.check("namespace-delete")
    admin.page.get_by_role("button", name="Delete namespace doomed").click()
    assert admin.page.url.endswith("/console/instances/default/namespaces")
    assert admin.page.get_by_role("link", name="doomed", exact=True).count() == 0


def test_repository_search_and_paging(admin: Visit, api: httpx.Client) -> None:
    create_namespace(admin, "many")
    admin.check("namespace-empty")
    admin.page.get_by_text("Namespace settings", exact=True).click()
    admin.page.get_by_label("Create repositories automatically on the first push").uncheck()
    admin.page.get_by_label("Default repository type").select_option("public")
    admin.page.get_by_role("button", name="Save namespace settings").click()
    facts = admin.page.locator("dl.facts").inner_text()
    assert "public" in facts
    assert re.search(r"Auto-create on push\s+no", facts), facts
    for i in range(23):
        ok(
            api.post(
                "/instances/default/namespaces/many/repositories",
                json={"name": f"app-{i:02d}", "summary": f"application {i}"},
            ),
            201,
        )
    admin.go("/console/instances/default/namespaces/many")
    assert "Page 1 of 2 (23 in all)" in admin.page.inner_text("main")
    admin.check("namespace")
    admin.page.get_by_role("link", name="Next").click()
    assert admin.page.locator("tbody tr").count() == 3
    admin.page.get_by_label("Search by name").fill("app-1")
    admin.page.get_by_role("button", name="Search").click()
    names = admin.page.locator("tbody tr td:first-child").all_inner_texts()
    assert names == [f"many/app-1{i}" for i in range(10)]
    admin.page.get_by_label("Search by name").fill("nothing-like-it")
    admin.page.get_by_role("button", name="Search").click()
    assert "No repository's name contains" in admin.page.inner_text("main")
    admin.go("/console/instances/default/repositories?q=app-2")
    assert admin.page.locator("tbody tr td:first-child").all_inner_texts() == [
        "many/app-20",
        "many/app-21",
        "many/app-22",
    ]
    admin.check("repositories")


def test_push_then_tags_deleted_in_the_console_are_gone_for_skopeo(
    admin: Visit, api: httpx.Client, server: DockyardServer, tmp_path: Path
) -> None:
    create_namespace(admin, "shop")
    create_repository(admin, "shop", "web", "The shop's web front", "Built nightly.")
    admin.check("repository-empty")
    set_registry_password(admin, REGISTRY_PASSWORD)
    creds = ("admin", REGISTRY_PASSWORD)
    layout = C.make_oci_layout(tmp_path / "image", tag="v1", layers=2)
    with C.Podman(tmp_path / "podman") as podman:
        image = podman.pull(layout.oci_ref)
        pushed = {
            tag: podman.push(image, f"{server.host}/shop/web:{tag}", creds=creds)
            for tag in ("v1", "v2", "v3")
        }
    admin.go("/console/instances/default/namespaces/shop/repositories/web")
    rows = admin.page.locator("table.tags tbody tr")
    assert rows.count() == 3
    assert admin.page.locator("table.tags td.pusher").all_inner_texts() == ["admin"] * 3
    table = admin.page.inner_text("table.tags")
    for digest in pushed.values():
        assert digest in table
    commands = admin.page.locator("ul.commands code").all_inner_texts()
    assert f"podman pull {server.host}/shop/web:" in commands[0]
    assert commands[1].startswith(f"docker pull {server.host}/shop/web:")
    assert commands[2].startswith(f"skopeo inspect docker://{server.host}/shop/web:")
    admin.check("repository")

    admin.page.get_by_label("Select tag v1").check()
    admin.page.get_by_label("Select tag v3").check()
    admin.page.get_by_role("button", name="Delete selected tags…").click()
    assert admin.page.locator("ul.chosen li").all_inner_texts() == ["shop/web:v1", "shop/web:v3"]
    admin.check("tags-delete")
    admin.page.get_by_role("button", name="Delete 2 tags").click()
    assert admin.page.locator("table.tags tbody tr").count() == 1

    skopeo = C.Skopeo(tmp_path / "skopeo")
    for gone in ("v1", "v3"):
        with pytest.raises(C.ClientError):
            skopeo.inspect(f"docker://{server.host}/shop/web:{gone}", creds=creds)
    kept = skopeo.inspect(f"docker://{server.host}/shop/web:v2", creds=creds)
    assert kept["Digest"] == pushed["v2"]

    # A tag's layers with their history; an index's per platform.
    admin.page.get_by_role("link", name="v2", exact=True).click()
    assert pushed["v2"] in admin.page.locator("dl.facts").inner_text()
    assert admin.page.locator("tbody tr").count() == 2
    admin.check("tag")
    multi = C.make_oci_layout(tmp_path / "multi", platforms=["linux/amd64", "linux/arm64"])
    skopeo.copy(multi.oci_ref, f"docker://{server.host}/shop/web:multi", dest_creds=creds, all=True)
    admin.go("/console/instances/default/namespaces/shop/repositories/web")
    admin.page.get_by_role("link", name="linux/arm64").click()
    assert "linux/arm64" in admin.page.locator("dl.facts").inner_text()
    assert admin.page.locator("tbody tr").count() == 1


def test_immutable_switch_and_repository_delete(admin: Visit) -> None:
    create_namespace(admin, "frozen")
    create_repository(admin, "frozen", "base")
    admin.page.get_by_label("Immutable tags").check()
    admin.page.get_by_role("button", name="Save settings").click()
    assert "immutable" in admin.page.locator("dl.facts").inner_text()
    assert admin.page.get_by_label("Immutable tags").is_checked()
    admin.page.get_by_role("link", name="Delete this repository").click()
    assert "frozen/base" in admin.page.inner_text("h1")
    admin.check("repository-delete")
    admin.page.get_by_role("button", name="Delete repository frozen/base").click()
    assert admin.page.url.endswith("/namespaces/frozen")
    assert "No repositories yet." in admin.page.inner_text("main")


# ---- authorization, CSRF, XSS ---------------------------------------------------------------


def test_read_only_user_gets_no_buttons_and_a_forged_post_is_refused(
    visit: Visit, admin: Visit, browser: Browser, api: httpx.Client, users: dict[str, str]
) -> None:
    create_namespace(admin, "readable")
    create_repository(admin, "readable", "thing")
    reader_context = browser.new_context()
    reader = Visit(admin.server, reader_context, reader_context.new_page(), admin.shots)
    try:
        reader.change_initial(READER, INITIAL_PASSWORD, NEW_PASSWORD)
        assert reader.page.get_by_role("link", name="Users").count() == 0
        reader.go("/console/instances/default/namespaces")
        assert reader.page.get_by_role("button", name="Create namespace").count() == 0
        assert reader.page.get_by_role("link", name=re.compile("^Delete")).count() == 0
        reader.check("namespaces-read-only")
        reader.go("/console/instances/default/namespaces/readable/repositories/thing")
        for name in ("Save settings", "Delete selected tags…"):
            assert reader.page.get_by_role("button", name=name).count() == 0
        assert reader.page.get_by_role("link", name="Delete this repository").count() == 0
        reader.check("repository-read-only")

        csrf = reader.csrf()
        status, body = reader.post(
            "/console/instances/default/namespaces", {"csrf": csrf, "name": "forged"}
        )
        assert status == 403
        assert "not allowed cr:CreateNamespace" in body
        status, _ = reader.post(
            "/console/instances/default/namespaces/readable/repositories/thing/delete",
            {"csrf": csrf},
        )
        assert status == 403
        for path, action in (
            ("/console/groups/readers-group/edit", "ram:UpdateGroup"),
            ("/console/jobs/00000000-0000-4000-8000-000000000000/retry", "cr:RetryJob"),
            ("/console/instances/default/replication-remotes", "cr:CreateReplicationRemote"),
            ("/console/instances/default/signing", "cr:CreateMetadataNamespace"),
            ("/console/instances/default/signing/policies", "cr:CreateSignaturePolicy"),
            ("/console/vulndb", "cr:ImportVulnDb"),
        ):
            status, body = reader.post(path, {"csrf": csrf, "namespace_name": "forged"})
            assert (status, f"not allowed {action}" in body) == (403, True), path
        ok(api.get("/instances/default/namespaces/readable/repositories/thing"))
        assert api.get("/instances/default/namespaces/forged").status_code == 404
        denied = ok(api.get("/audit-events", params={"actor": READER, "outcome": "denied"}))
        refused = {e["action"] for e in denied["items"]}
        assert {"cr:CreateNamespace", "cr:DeleteRepository"} <= refused
        reader.go("/console/instances/default/namespaces/readable/delete")
        assert reader.page.inner_text("h1") == "Not allowed"
        reader.check("forbidden")
    finally:
        reader_context.close()


def test_a_post_without_the_csrf_token_is_refused(admin: Visit, api: httpx.Client) -> None:
    admin.go("/console/instances/default/namespaces")
    for form in ({"name": "no-token"}, {"name": "no-token", "csrf": "0" * 64}):
        status, body = admin.post("/console/instances/default/namespaces", form)
        assert status == 403
        assert "security token is missing or out of date" in body
    assert api.get("/instances/default/namespaces/no-token").status_code == 404
    # The same form with the session's token passes.
    status, _ = admin.post(
        "/console/instances/default/namespaces", {"name": "with-token", "csrf": admin.csrf()}
    )
    assert status == 303
    ok(api.get("/instances/default/namespaces/with-token"))


SCRIPT = "<script>alert('summary')</script>"
IMG = "\"><img src=x onerror=alert('description')>"


def test_markup_in_summary_and_description_renders_inert(admin: Visit) -> None:
    create_namespace(admin, "xss")
    create_repository(admin, "xss", "probe", SCRIPT, IMG)
    assert admin.page.locator("#repo-summary").inner_text() == SCRIPT
    assert admin.page.locator("#repo-description").inner_text() == IMG
    assert admin.page.locator("#repo-description img").count() == 0
    assert admin.page.get_by_label("Summary").input_value() == SCRIPT
    assert admin.page.get_by_label("Description").input_value() == IMG
    admin.go("/console/instances/default/namespaces/xss")
    assert admin.page.locator("td.summary").inner_text() == SCRIPT
    admin.go("/console/instances/default/namespaces/xss/repositories/probe")
    assert admin.dialogs == []


def test_a_disabled_user_is_signed_out(visit: Visit, api: httpx.Client) -> None:
    create_user(api, "leaver", [])
    visit.change_initial("leaver", INITIAL_PASSWORD, NEW_PASSWORD)
    ok(api.patch("/users/leaver", json={"disabled": True}))
    visit.go("/console/account")
    assert "/console/signin" in visit.page.url
    visit.sign_in("leaver", NEW_PASSWORD)
    assert "disabled" in visit.page.get_by_role("alert").inner_text()


def test_mfa_device_is_bound_then_a_code_signs_in(visit: Visit, api: httpx.Client) -> None:
    create_user(api, "careful", ["Administrator"])
    ok(api.put("/users/careful/mfa", json={"required": True}))
    visit.sign_in("careful", INITIAL_PASSWORD)
    visit.page.get_by_label("Current password").fill(INITIAL_PASSWORD)
    visit.page.get_by_label("New password", exact=True).fill(NEW_PASSWORD)
    visit.page.get_by_label("New password again").fill(NEW_PASSWORD)
    visit.page.get_by_role("button", name="Change the password and sign in").click()
    # The guide's order: bind the device, sign in again with the password, then the code.
    secret = visit.page.locator("#mfa-secret").inner_text()
    assert visit.page.locator("#mfa-uri").inner_text().startswith("otpauth://totp/")
    qr = visit.page.get_by_role("img", name="QR code of the key URI below")
    assert (qr.get_attribute("src") or "").startswith("data:image/svg+xml")
    assert qr.bounding_box() is not None
    visit.check("signin-mfa-bind")
    totp = pyotp.TOTP(secret)
    visit.page.get_by_label("Code from the app (6 digits)").fill(
        "000000" if totp.now() != "000000" else "111111"
    )
    visit.page.get_by_role("button", name="Bind the device").click()
    assert visit.page.locator("#e-code").inner_text()
    visit.page.get_by_label("Code from the app (6 digits)").fill(totp.now())
    visit.page.get_by_role("button", name="Bind the device").click()
    assert "The MFA device is bound" in visit.page.get_by_role("status").inner_text()
    visit.sign_in("careful", NEW_PASSWORD)
    visit.check("signin-mfa")
    visit.page.get_by_label("Password", exact=True).fill(NEW_PASSWORD)
    # A code of the next 30-second step: the one used to bind is never accepted again.
    visit.page.get_by_label("MFA code (6 digits)").fill(totp.at(time.time() + 30))
    visit.page.get_by_role("button", name="Sign in").click()
    assert visit.page.url.endswith("/console/instances"), visit.page.content()


def test_sign_in_and_create_a_namespace_with_the_keyboard_alone(
    visit: Visit, server: DockyardServer, api: httpx.Client
) -> None:
    page = visit.go("/console/signin")

    def tab_to(element_id: str) -> None:
        for _ in range(100):
            page.keyboard.press("Tab")
            if page.evaluate("document.activeElement.id") == element_id:
                return
        raise AssertionError(f"Tab never reached #{element_id}")

    page.keyboard.press("Tab")
    assert page.evaluate("document.activeElement.className") == "skip"
    tab_to("f-username")
    page.keyboard.type(server.admin_user)
    page.keyboard.press("Tab")
    page.keyboard.type(server.admin_password)
    page.keyboard.press("Enter")
    page.wait_for_url("**/console/instances")
    visit.go("/console/instances/default/namespaces")
    tab_to("f-name")
    page.keyboard.type("typed")
    page.keyboard.press("Enter")
    page.wait_for_url("**/namespaces/typed")
    ok(api.get("/instances/default/namespaces/typed"))


def test_credentials_page_logs_clients_in(
    admin: Visit, server: DockyardServer, tmp_path: Path
) -> None:
    admin.go("/console/credentials")
    assert admin.page.locator("#login-user").inner_text() == "admin"
    assert admin.page.locator("#login-1").inner_text() == (
        f"docker login --username=admin {server.host}"
    )
    admin.page.get_by_role("textbox", name="Registry password", exact=True).fill("short")
    admin.page.get_by_label("Registry password again").fill("short")
    admin.page.get_by_role("button", name="Set the registry password").click()
    assert admin.page.locator("#e-password").inner_text()
    admin.check("credentials")

    # Temporary credentials, shown once, log a registry client in.
    admin.page.get_by_role("button", name="Get temporary credentials").click()
    temporary = (
        admin.page.locator("#temp-user").inner_text(),
        admin.page.locator("#temp-password").inner_text(),
    )
    admin.check("credentials-temporary")
    skopeo = C.Skopeo(tmp_path / "skopeo")
    skopeo.login(server.host, *temporary)

    # An access key: its secret shown once, then disabled, then deleted.
    admin.go("/console/credentials")
    admin.page.get_by_label("Description of a new key").fill("ci <robot>")
    admin.page.get_by_role("button", name="Create an access key").click()
    key_id = admin.page.locator("#new-key-id").inner_text()
    secret = admin.page.locator("#new-key-secret").inner_text()
    assert "ci <robot>" in admin.page.inner_text("main")
    admin.check("credentials-access-key")
    instances = f"{server.url}/api/v1/instances"
    assert httpx.get(instances, auth=(key_id, secret)).status_code == 200
    admin.page.get_by_role("button", name=f"Disable {key_id}").click()
    assert "The access key is disabled." in admin.page.get_by_role("status").inner_text()
    assert httpx.get(instances, auth=(key_id, secret)).status_code == 401
    admin.page.get_by_role("link", name=f"Delete {key_id}").click()
    admin.check("access-key-delete")
    admin.page.get_by_role("button", name=f"Delete access key {key_id}").click()
    assert "The access key is deleted." in admin.page.get_by_role("status").inner_text()
    assert admin.page.get_by_text(key_id).count() == 0
    # The page shows the secret only once.
    assert secret not in admin.page.content()


def test_instance_created_with_endpoints_and_standard_controls_disabled(
    admin: Visit, api: httpx.Client
) -> None:
    admin.go("/console/instances")
    admin.page.get_by_label("Name", exact=True).fill("edge")
    admin.page.get_by_label("Region").fill("eu-west-1")
    admin.page.get_by_label("Edition").select_option("Standard")
    admin.page.get_by_role("button", name="Create instance").click()
    instance_id = admin.page.url.rsplit("/", 1)[1]
    assert instance_id.startswith("cri-")
    admin.page.get_by_label("Domain (vpc)").fill("edge-vpc.registry.example")
    admin.page.get_by_label("Allowlist (vpc)").fill("10.0.0.0/8 office\n192.168.1.0/24")
    admin.page.get_by_role("button", name="Save endpoints").click()
    endpoints = admin.page.locator("table").first.inner_text()
    assert "edge-vpc.registry.example" in endpoints
    assert "10.0.0.0/8 (office)" in endpoints
    assert "192.168.1.0/24" in endpoints
    admin.check("instance-edit")
    admin.page.get_by_label("Allowlist (vpc)").fill("not-a-cidr")
    admin.page.get_by_role("button", name="Save endpoints").click()
    assert admin.page.get_by_role("alert").inner_text()
    body = ok(api.get(f"/instances/{instance_id}"))
    assert [e["domain"] for e in body["endpoints"]] == ["edge-vpc.registry.example"]

    # On Standard, the immutable switch is shown disabled, and a forged post is refused.
    ok(api.post(f"/instances/{instance_id}/namespaces", json={"name": "std"}), 201)
    ok(api.post(f"/instances/{instance_id}/namespaces/std/repositories", json={"name": "r"}), 201)
    path = f"/console/instances/{instance_id}/namespaces/std/repositories/r"
    admin.go(path)
    assert admin.page.get_by_label("Immutable tags").is_disabled()
    assert "Requires the Advanced edition." in admin.page.inner_text("main")
    commands = admin.page.locator("ul.commands code").all_inner_texts()
    assert commands[0] == "podman pull edge-vpc.registry.example/std/r:latest"
    status, text = admin.post(path + "/settings", {"csrf": admin.csrf(), "immutable": "on"})
    assert status == 400
    assert "Advanced edition" in text
    body = ok(api.get(f"/instances/{instance_id}/namespaces/std/repositories/r"))
    assert body["tagMutability"] == "Flexible"


def test_administrator_creates_and_manages_a_user(
    admin: Visit, browser: Browser, users: dict[str, str]
) -> None:
    admin.go("/console/users")
    form = {
        "User name": "newcomer",
        "Display name": "New.comer",
        "Email": "newcomer@example.com",
        "Mobile phone": "12",
        "Initial console password": INITIAL_PASSWORD,
    }
    for label, value in form.items():
        admin.page.get_by_label(label, exact=True).fill(value)
    admin.page.get_by_label("readers").check()
    admin.page.get_by_role("button", name="Create user").click()
    assert admin.page.locator("#e-phone").inner_text()
    admin.check("users")
    admin.page.get_by_label("Mobile phone").fill("13800000000")
    admin.page.get_by_label("Initial console password").fill(INITIAL_PASSWORD)
    admin.page.get_by_role("button", name="Create user").click()
    assert admin.page.url.endswith("/console/users/newcomer")
    facts = admin.page.locator("dl.facts").inner_text()
    assert "New.comer" in facts
    assert "readers" in facts
    admin.check("user")
    admin.page.get_by_role("button", name="Require MFA").click()
    assert "MFA is required" in admin.page.get_by_role("status").inner_text()
    admin.page.get_by_role("button", name="Stop requiring MFA").click()
    admin.page.get_by_role("button", name="Disable the user").click()
    assert admin.page.locator("#user-state").inner_text().startswith("disabled")
    admin.page.get_by_role("button", name="Enable the user").click()
    admin.page.get_by_label("New initial password").fill("short")
    admin.page.get_by_role("button", name="Reset the password").click()
    assert admin.page.locator("#e-password").inner_text()
    admin.page.get_by_label("New initial password").fill("Reset-pass-9")
    admin.page.get_by_role("button", name="Reset the password").click()
    assert "The password is reset" in admin.page.get_by_role("status").inner_text()

    context = browser.new_context()
    try:
        newcomer = Visit(admin.server, context, context.new_page(), admin.shots)
        newcomer.change_initial("newcomer", "Reset-pass-9", NEW_PASSWORD)
        assert newcomer.page.get_by_role("link", name="default").count() == 1
    finally:
        context.close()


def test_audit_log_filters(admin: Visit, api: httpx.Client) -> None:
    create_namespace(admin, "audited")
    admin.go("/console/instances/default/namespaces/audited/delete")
    admin.page.get_by_role("button", name="Delete namespace audited").click()
    admin.go("/console/audit")
    admin.page.get_by_label("Action").fill("cr:DeleteNamespace")
    admin.page.get_by_label("Outcome").select_option("success")
    admin.page.get_by_role("button", name="Filter").click()
    rows = admin.page.locator("table.audit tbody tr").all_inner_texts()
    assert any("audited" in row and "admin" in row for row in rows), rows
    admin.check("audit")
    admin.page.get_by_label("Since (UTC)").fill("yesterday")
    admin.page.get_by_role("button", name="Filter").click()
    assert "ISO-8601" in admin.page.get_by_role("alert").inner_text()
    for _ in range(21):  # one more than a page: failed sign-ins of no user
        api.post("/auth/signin", json={"username": "nobody", "password": "wrong-password-1"})
    admin.go("/console/audit")
    admin.page.get_by_role("link", name="Next").click()
    assert "page=2" in admin.page.url


def test_deployment_picker_gives_tag_and_digest_references(
    admin: Visit, api: httpx.Client, server: DockyardServer, tmp_path: Path
) -> None:
    password = {"password": REGISTRY_PASSWORD, "confirm": REGISTRY_PASSWORD}
    ok(api.put("/users/admin/registry-password", json=password), 204)
    layout = C.make_oci_layout(tmp_path / "image", tag="v1")
    target = f"docker://{server.host}/deploy/service:1.0"
    digest = C.Skopeo(tmp_path / "skopeo").copy(
        layout.oci_ref, target, dest_creds=("admin", REGISTRY_PASSWORD)
    )
    admin.go("/console/pick")
    admin.page.get_by_label("Repository name contains").fill("servi")
    admin.page.get_by_role("button", name="Search").click()
    admin.page.get_by_role("link", name="deploy/service").click()
    refs = admin.page.locator("ul.commands code").all_inner_texts()
    assert refs == [f"{server.host}/deploy/service:1.0", f"{server.host}/deploy/service@{digest}"]
    admin.check("pick")


def test_policy_editor_shows_the_engine_error_at_its_statement_and_field(admin: Visit) -> None:
    admin.go("/console/policies")
    document = {
        "Version": "1",
        "Statement": [
            {"Effect": "Allow", "Action": "cr:PullRepository", "Resource": "*"},
            {"Effect": "Maybe", "Action": "cr:PushRepository", "Resource": "*"},
        ],
    }
    admin.page.get_by_label("Name", exact=True).fill("PullPush")
    editor = admin.page.get_by_label("Policy document (JSON)")
    editor.fill(json.dumps(document))
    admin.page.get_by_role("button", name="Create policy").click()
    error = admin.page.locator("#e-document").inner_text()
    assert "In statement 2, field Effect:" in error
    assert 'must be "Allow" or "Deny"' in error
    assert editor.get_attribute("aria-invalid") == "true"
    assert json.loads(editor.input_value()) == document  # kept as typed
    admin.check("policies-error")
    document["Statement"][1]["Effect"] = "Deny"
    editor.fill(json.dumps(document))
    admin.page.get_by_role("button", name="Create policy").click()
    assert admin.page.url.endswith("/console/policies/PullPush")
    admin.check("policy")
    editor.fill('{"Version": "1", "Statement": [')
    admin.page.get_by_role("button", name="Save the document").click()
    assert "not JSON" in admin.page.locator("#e-document").inner_text()
    admin.go("/console/policies/AdministratorAccess")
    assert admin.page.get_by_role("button", name="Save the document").count() == 0
    assert '"Action": "*"' in admin.page.locator("pre.code").inner_text()


def test_policy_simulator_tells_why(admin: Visit, users: dict[str, str]) -> None:
    admin.go("/console/simulate")
    admin.page.get_by_label("User name").fill(READER)
    admin.page.get_by_label("Action").fill("cr:DeleteRepository")
    admin.page.get_by_label("Resource").fill("*")
    admin.page.get_by_role("button", name="Simulate").click()
    assert admin.page.locator("#outcome").inner_text() == "Denied"
    admin.check("simulate")
    admin.page.get_by_label("Action").fill("cr:ListRepository")
    admin.page.get_by_role("button", name="Simulate").click()
    assert admin.page.locator("#outcome").inner_text() == "Allowed"
    assert "AliyunContainerRegistryReadOnlyAccess" in admin.page.get_by_role("status").inner_text()


def test_roles_carry_at_most_five_policies(admin: Visit, api: httpx.Client) -> None:
    document = {"Version": "1", "Statement": [{"Effect": "Allow", "Action": "*", "Resource": "*"}]}
    for index in range(3):
        ok(api.post("/policies", json={"name": f"Extra{index}", "document": document}), 201)
    admin.go("/console/roles")
    admin.page.get_by_label("Name", exact=True).fill("pullers")
    boxes = admin.page.locator("input[name=policies]")
    assert boxes.count() >= 6
    for index in range(6):
        boxes.nth(index).check()
    admin.page.get_by_role("button", name="Create role").click()
    assert "at most 5 policies" in admin.page.locator("#e-policies").inner_text()
    admin.check("roles")
    admin.page.get_by_label("AliyunContainerRegistryReadOnlyAccess").check()
    for index in range(6):
        if admin.page.locator("input[name=policies]").nth(index).get_attribute("value") != (
            "AliyunContainerRegistryReadOnlyAccess"
        ):
            admin.page.locator("input[name=policies]").nth(index).uncheck()
    admin.page.get_by_role("button", name="Create role").click()
    row = admin.page.get_by_role("row", name=re.compile("^pullers"))
    assert "AliyunContainerRegistryReadOnlyAccess" in row.inner_text()


def test_logon_policy_created_with_its_errors_at_the_fields(admin: Visit) -> None:
    admin.go("/console/logon-policies")
    admin.page.get_by_label("Name", exact=True).fill("office-hours")
    admin.page.get_by_label("Time windows (UTC)").fill("9-18")
    admin.page.get_by_label("Networks").fill("10.0.0.0/8")
    admin.page.get_by_role("button", name="Create logon policy").click()
    assert "is not a time HH:MM" in admin.page.locator("#e-time_windows").inner_text()
    admin.check("logon-policies")
    admin.page.get_by_label("Time windows (UTC)").fill("09:00-18:00")
    admin.page.get_by_role("button", name="Create logon policy").click()
    row = admin.page.get_by_role("row", name=re.compile("^office-hours"))
    assert "09:00-18:00" in row.inner_text()
    assert "10.0.0.0/8" in row.inner_text()


def test_organizations_tree(admin: Visit) -> None:
    admin.go("/console/organizations")
    admin.page.get_by_label("Name", exact=True).fill("platform")
    admin.page.get_by_label("Under").select_option(label="root")
    admin.page.get_by_role("button", name="Create organization").click()
    admin.page.get_by_label("Name", exact=True).fill("builds")
    admin.page.get_by_label("Under").select_option(label="platform")
    admin.page.get_by_role("button", name="Create organization").click()
    nested = admin.page.locator("ul.tree ul.tree ul.tree li .org")
    assert nested.all_inner_texts() == ["builds"]
    admin.page.get_by_label("Name", exact=True).fill("platform")
    admin.page.get_by_role("button", name="Create organization").click()
    assert admin.page.locator("#e-name").inner_text()
    admin.check("organizations")


def test_group_members_and_roles(admin: Visit, users: dict[str, str]) -> None:
    admin.go("/console/groups")
    admin.page.get_by_label("Name", exact=True).fill("team-devs")
    admin.page.get_by_role("button", name="Create group").click()
    assert admin.page.url.endswith("/console/groups/team-devs")
    admin.page.get_by_label("Add a member (user name)").fill("no-such-user")
    admin.page.get_by_role("button", name="Add member").click()
    assert admin.page.locator("#e-username").inner_text()
    admin.page.get_by_label("Add a member (user name)").fill(READER)
    admin.page.get_by_role("button", name="Add member").click()
    admin.page.get_by_label("Grant a role").select_option("readers")
    admin.page.get_by_role("button", name="Grant role").click()
    assert admin.page.locator("#group-roles").inner_text() == "readers"
    assert admin.page.locator("ul.members li a").all_inner_texts() == [READER]
    admin.check("group")
    admin.page.get_by_role("button", name=f"Remove {READER}").click()
    assert "No members yet." in admin.page.inner_text("main")
    admin.go("/console/groups")
    admin.check("groups")


def test_resource_set_holds_namespaces_for_linked_groups(admin: Visit, api: httpx.Client) -> None:
    ok(api.post("/instances/default/namespaces", json={"name": "team"}), 201)
    ok(api.post("/instances/default/namespaces/team/repositories", json={"name": "app"}), 201)
    root = next(o for o in ok(api.get("/organizations"))["items"] if o["name"] == "root")
    ok(api.post("/groups", json={"name": "set-devs", "organizationId": root["id"]}), 201)
    admin.go("/console/resource-sets")
    admin.page.get_by_label("Name", exact=True).fill("team-set")
    admin.page.get_by_role("button", name="Create resource set").click()
    admin.page.get_by_label("Link a group").select_option("set-devs")
    admin.page.get_by_role("button", name="Link group").click()
    admin.page.get_by_label("Namespace or repository").fill("nowhere")
    admin.page.get_by_role("button", name="Add to the set").click()
    assert "does not exist" in admin.page.locator("#e-resource").inner_text()
    admin.page.get_by_label("Namespace or repository").fill("team")
    admin.page.get_by_role("button", name="Add to the set").click()
    admin.page.get_by_label("Namespace or repository").fill("team/app")
    admin.page.get_by_role("button", name="Add to the set").click()
    assert admin.page.locator("#set-groups").inner_text() == "set-devs"
    assert admin.page.locator("#set-namespaces").inner_text() == "default: team"
    assert admin.page.locator("#set-repositories").inner_text() == "default: team/app"
    admin.check("resource-set")
    admin.go("/console/resource-sets")
    admin.check("resource-sets")


# ---- triggers, retention, garbage collection, usage ----------------------------------------


def _reload_until(visit: Visit, done: Any, what: str) -> None:
    """Reload the page until ``done()`` holds: background work moves at its own pace."""
    deadline = time.monotonic() + 60
    while not done():
        assert time.monotonic() < deadline, f"still waiting for {what}: {visit.page.content()}"
        time.sleep(0.5)
        visit.page.reload()


def test_triggers_are_created_pinged_logged_and_deleted(admin: Visit, api: httpx.Client) -> None:
    create_namespace(admin, "hooks")
    create_repository(admin, "hooks", "app")
    admin.page.get_by_role("link", name="Webhook triggers").click()
    assert admin.page.url.endswith("/repositories/app/triggers")
    admin.check("triggers-empty")

    # A bad regular expression is told at the form, which keeps what was typed.
    admin.page.get_by_label("Name", exact=True).fill("deploy")
    admin.page.get_by_label("URL").fill("http://127.0.0.1:8080/hook?token=s3cret")
    admin.page.get_by_label("Fires on").select_option("expression")
    admin.page.get_by_label("Regular expression").fill("release-(")
    admin.page.get_by_role("button", name="Create trigger").click()
    assert "expression" in admin.page.get_by_role("alert").inner_text()
    assert admin.page.get_by_label("Name", exact=True).input_value() == "deploy"

    admin.page.get_by_label("Regular expression").fill("release-.*")
    admin.page.get_by_label("Sign deliveries with a generated secret").check()
    admin.page.get_by_role("button", name="Create trigger").click()
    secret = admin.page.locator("#trigger-secret").inner_text()
    assert len(secret) >= 32
    row = admin.page.locator("table.triggers tbody tr")
    assert row.count() == 1
    assert "release-.*" in row.inner_text() and "token=s3cret" in row.inner_text()
    admin.check("triggers")
    # The secret is shown once: a reload does not show it again.
    admin.go("/console/instances/default/namespaces/hooks/repositories/app/triggers")
    assert admin.page.locator("#trigger-secret").count() == 0
    listed = ok(api.get("/instances/default/namespaces/hooks/repositories/app/triggers"))
    assert [(t["name"], t["mode"], t["expression"]) for t in listed["items"]] == [
        ("deploy", "expression", "release-.*")
    ]

    # A ping is queued and logged; loopback is refused by the outbound guard, and the log
    # says why.
    admin.page.get_by_role("button", name="Ping deploy").click()
    assert "/trigger-records" in admin.page.url
    status = admin.page.locator("table.records tbody tr td.status").first
    _reload_until(admin, lambda: status.inner_text() != "Pending", "the ping's delivery")
    assert status.inner_text() == "Failed"
    assert "loopback" in admin.page.locator("table.records tbody tr").first.inner_text()
    admin.check("trigger-records")
    admin.page.get_by_role("button", name=re.compile("^Redeliver")).first.click()
    assert admin.page.locator("table.records tbody tr").count() == 2
    admin.page.get_by_label("Status").select_option("Failed")
    admin.page.get_by_role("button", name="Filter").click()
    assert "status=Failed" in admin.page.url

    admin.go("/console/instances/default/namespaces/hooks/repositories/app/triggers")
    admin.page.get_by_role("button", name="Delete deploy").click()
    assert admin.dialogs == ["Delete the trigger deploy? Its log stays."]
    assert "No triggers yet." in admin.page.inner_text("main")
    assert (
        ok(api.get("/instances/default/namespaces/hooks/repositories/app/triggers"))["total"] == 0
    )


def test_retention_dry_run_then_execution_deletes_exactly_what_it_listed(
    admin: Visit, api: httpx.Client, server: DockyardServer, tmp_path: Path
) -> None:
    create_namespace(admin, "kept")
    set_registry_password(admin, REGISTRY_PASSWORD)
    skopeo = C.Skopeo(tmp_path / "skopeo")
    for number in (1, 2, 3):
        layout = C.make_oci_layout(tmp_path / f"v{number}", tag="t")
        skopeo.copy(
            layout.oci_ref,
            f"docker://{server.host}/kept/app:v{number}",
            dest_creds=("admin", REGISTRY_PASSWORD),
        )
    admin.page.get_by_role("link", name="Instances").first.click()
    admin.go("/console/instances/default")
    admin.page.get_by_role("link", name="Tag retention").click()
    admin.check("retention-empty")
    admin.page.get_by_label("Name", exact=True).fill("latest-one")
    admin.page.get_by_label("Retain the latest N images").fill("1")
    admin.page.get_by_label("Namespace", exact=True).fill("kept")
    admin.page.get_by_label("Also retain tags matching").fill("stable-.*")
    admin.page.get_by_role("button", name="Create policy").click()
    assert admin.page.url.endswith("/retention/latest-one"), admin.page.content()
    # Saving deleted nothing.
    tags = ok(api.get("/instances/default/namespaces/kept/repositories/app/tags"))
    assert tags["total"] == 3

    admin.page.get_by_role("link", name=re.compile("^Dry run")).click()
    plan = admin.page.locator("#plan")
    assert "would delete 2 tags" in plan.inner_text()
    assert plan.locator("td.deleted").inner_text() == "v1, v2"
    admin.check("retention-dry-run")
    admin.page.get_by_role("button", name="Delete these tags now").click()
    tags = ok(api.get("/instances/default/namespaces/kept/repositories/app/tags"))
    assert [t["name"] for t in tags["items"]] == ["v3"]
    run = admin.page.locator("details.run").first
    assert "manual by admin" in run.inner_text() and "2 deleted" in run.inner_text()
    admin.check("retention-policy")

    # A bad schedule is told at the settings form.
    admin.page.get_by_label("Run daily at (UTC)").fill("25:00")
    admin.page.get_by_role("button", name="Save settings").click()
    assert "HH:MM" in admin.page.get_by_role("alert").inner_text()
    admin.page.get_by_role("button", name="Delete this policy").click()
    assert admin.page.url.endswith("/retention")
    assert "No retention policies yet." in admin.page.inner_text("main")


def test_gc_runs_and_namespace_quota(admin: Visit, api: httpx.Client) -> None:
    admin.page.get_by_role("link", name="Garbage collection").click()
    admin.page.get_by_role("button", name="Start").click()
    assert admin.page.url.endswith("/console/gc")
    status = admin.page.locator("table.gc-runs tbody tr td.status").first
    _reload_until(admin, lambda: not status.inner_text().startswith("running"), "the dry run")
    assert status.inner_text() == "succeeded"
    assert "dry run (manual)" in admin.page.locator("table.gc-runs tbody tr").first.inner_text()
    admin.check("gc")
    runs = ok(api.get("/gc/runs"))["items"]
    assert runs[0]["dryRun"] is True and runs[0]["actor"] == "admin"

    create_namespace(admin, "metered")
    admin.page.get_by_text("Storage quota").click()
    admin.page.get_by_label("Quota").fill("12 parsecs")
    admin.page.get_by_role("button", name="Save quota").click()
    assert "not a size" in admin.page.locator("#e-quota").inner_text()
    admin.page.get_by_label("Quota").fill("2GiB")
    admin.page.get_by_role("button", name="Save quota").click()
    assert admin.page.locator("#namespace-quota").inner_text().startswith("2.0 GiB")
    usage = ok(api.get("/instances/default/namespaces/metered/usage"))
    assert usage["namespace"]["quota"] == 2 * 1024**3
    admin.check("namespace-quota")
    admin.go("/console/instances/default")
    assert "stored" in admin.page.locator("#instance-usage").inner_text()
    assert "metered" in admin.page.locator("table.usage").inner_text()


def test_identity_objects_are_taken_apart_and_deleted(admin: Visit, api: httpx.Client) -> None:
    root = next(o for o in ok(api.get("/organizations"))["items"] if o["name"] == "root")
    doc = {"Version": "1", "Statement": [{"Effect": "Allow", "Action": "cr:Get*", "Resource": "*"}]}
    ok(api.post("/policies", json={"name": "gone-policy", "document": doc}), 201)
    ok(api.post("/roles", json={"name": "gone-role", "policies": ["gone-policy"]}), 201)
    ok(api.post("/groups", json={"name": "gone-group", "organizationId": root["id"]}), 201)
    ok(api.request("PUT", "/groups/gone-group/roles/gone-role"))
    ok(api.post("/instances/default/namespaces", json={"name": "setns"}), 201)
    ok(api.post("/resource-sets", json={"name": "gone-set"}), 201)
    ok(api.request("PUT", "/resource-sets/gone-set/groups/gone-group"))
    ok(api.request("PUT", "/resource-sets/gone-set/namespaces/default/setns"))
    body = {"name": "gone-lp", "cidrs": ["10.0.0.0/8"]}
    ok(api.post("/logon-policies", json=body), 201)
    org = ok(api.post("/organizations", json={"name": "gone-org", "parentId": root["id"]}), 201)
    create_user(api, "gone-user", [])

    # A resource set's group and namespace are taken out, then the set goes.
    admin.go("/console/resource-sets/gone-set")
    admin.page.get_by_role("button", name="Unlink the group gone-group").click()
    assert admin.page.locator("#set-groups").inner_text() == "—"
    admin.page.get_by_role("button", name="Remove the namespace setns").click()
    assert admin.page.locator("#set-namespaces").inner_text() == "—"
    admin.check("resource-set-emptied")
    admin.page.get_by_role("button", name="Delete this resource set").click()
    assert admin.dialogs[-1] == "Delete the resource set gone-set? This cannot be undone."
    assert admin.page.url.endswith("/console/resource-sets")
    assert api.get("/resource-sets/gone-set").status_code == 404

    # A group's role is revoked, then the group goes; then the role and its policy.
    admin.go("/console/groups/gone-group")
    admin.page.get_by_role("button", name="Revoke the role gone-role").click()
    assert admin.page.locator("#group-roles").inner_text() == "—"
    admin.page.get_by_role("button", name="Delete this group").click()
    assert api.get("/groups/gone-group").status_code == 404
    admin.go("/console/roles")
    admin.page.get_by_role("button", name="Delete the role gone-role").click()
    assert api.get("/roles/gone-role").status_code == 404
    # Built-in roles get no Delete button.
    assert admin.page.get_by_role("button", name="Delete the role Administrator").count() == 0
    admin.go("/console/policies/gone-policy")
    admin.page.get_by_role("button", name="Delete this policy").click()
    assert api.get("/policies/gone-policy").status_code == 404

    admin.go("/console/logon-policies")
    admin.page.get_by_role("button", name="Delete the logon policy gone-lp").click()
    assert api.get("/logon-policies/gone-lp").status_code == 404

    # An organization holding a user is refused in words; emptied, it goes.
    ok(api.patch("/users/gone-user", json={"organizationId": org["id"]}))
    admin.go("/console/organizations")
    admin.page.get_by_role("button", name="Delete the organization gone-org").click()
    assert admin.page.inner_text("h1") == "Not deleted"
    assert "user" in admin.page.inner_text("main")
    admin.go("/console/users/gone-user")
    admin.page.get_by_role("button", name="Delete this user").click()
    assert api.get("/users/gone-user").status_code == 404
    admin.go("/console/organizations")
    admin.page.get_by_role("button", name="Delete the organization gone-org").click()
    assert admin.page.url.endswith("/console/organizations")
    assert "gone-org" not in admin.page.inner_text("main")
    # Nobody deletes themselves from the console.
    admin.go("/console/users/admin")
    assert admin.page.get_by_role("button", name="Delete this user").count() == 0


def test_a_users_profile_and_roles_are_edited(admin: Visit, api: httpx.Client) -> None:
    role = {"name": "profile-readers", "policies": ["AliyunContainerRegistryReadOnlyAccess"]}
    ok(api.post("/roles", json=role), 201)
    create_user(api, "edited-user", [])
    admin.go("/console/users/edited-user")
    admin.page.get_by_label("Grant a role").select_option("profile-readers")
    admin.page.get_by_role("button", name="Grant role").click()
    assert ok(api.get("/users/edited-user"))["roles"] == ["profile-readers"]

    admin.page.get_by_text("Edit the profile").click()
    admin.page.get_by_label("Mobile phone").fill("12")
    admin.page.get_by_role("button", name="Save the profile").click()
    assert "phone" in admin.page.locator("#e-phone").inner_text()
    admin.page.get_by_label("Mobile phone").fill("13800000001")
    admin.page.get_by_label("Email").fill("edited@example.com")
    admin.page.get_by_label("Display name").fill("edited.user")
    admin.page.get_by_role("button", name="Save the profile").click()
    assert "notice=profile" in admin.page.url, admin.page.inner_text("main")
    assert "The profile is saved." in admin.page.get_by_role("status").inner_text()
    shown = ok(api.get("/users/edited-user"))
    assert (shown["email"], shown["displayName"]) == ("edited@example.com", "edited.user")
    admin.check("user-edited")

    admin.page.get_by_role("button", name="Revoke the role profile-readers").click()
    assert ok(api.get("/users/edited-user"))["roles"] == []


def test_a_roles_policies_are_attached_and_detached(admin: Visit, api: httpx.Client) -> None:
    doc = {
        "Version": "1",
        "Statement": [{"Effect": "Allow", "Action": "cr:List*", "Resource": "*"}],
    }
    ok(api.post("/policies", json={"name": "listers", "document": doc}), 201)
    ok(api.post("/roles", json={"name": "growing", "policies": []}), 201)
    admin.go("/console/roles")
    admin.page.get_by_role("link", name="growing").click()
    admin.page.get_by_label("Attach a policy").select_option("listers")
    admin.page.get_by_role("button", name="Attach policy").click()
    assert admin.page.locator("#role-policies").inner_text() == "listers"
    assert ok(api.get("/roles/growing"))["policies"] == ["listers"]
    admin.check("role")
    admin.page.get_by_role("button", name="Detach the policy listers").click()
    assert ok(api.get("/roles/growing"))["policies"] == []
    # A built-in role is read-only here too.
    admin.go("/console/roles/Administrator")
    assert admin.page.get_by_role("button", name="Attach policy").count() == 0
    assert admin.page.get_by_role("button", name="Delete this role").count() == 0


@pytest.fixture
def keyring(tmp_path: Path) -> Iterator[Keyring]:
    """A GnuPG home of the test's own; its gpg-agent is stopped at the end."""
    with Keyring(tmp_path / "gnupg") as opened:
        yield opened


def test_tag_page_shows_its_signatures(
    admin: Visit, api: httpx.Client, server: DockyardServer, keyring: Keyring
) -> None:
    ok(api.post("/instances/default/namespaces", json={"name": "signed"}), 201)
    ok(api.post("/instances/default/namespaces/signed/repositories", json={"name": "app"}), 201)
    # The registry password (set as test_push_then_tags… sets it: once set, it is the one
    # the registry takes, whichever test ran first).
    password = {"password": REGISTRY_PASSWORD, "confirm": REGISTRY_PASSWORD}
    ok(api.put("/users/admin/registry-password", json=password), 204)
    pusher = Pusher(server)
    pusher.http.auth = ("admin", REGISTRY_PASSWORD)
    try:
        pusher.image("signed/app", "v1")
        v2 = pusher.image("signed/app", "v2").digest
        # A cosign signature of v2 by a key nobody registered, under its .sig tag.
        cosign = S.cosign_signature(S.ec_key(), f"{server.host}/signed/app", v2)
        for blob in cosign.blobs:
            assert pusher.blob("signed/app", blob.data).status_code == 201
        tag = S.cosign_tag(v2)
        assert pusher.manifest("signed/app", tag, cosign.body, S.OCI_MANIFEST).status_code == 201
    finally:
        pusher.close()
    key = keyring.generate("console-signer")
    meta = "/instances/default/metadata/namespaces/console-release"
    ok(
        api.post(
            "/instances/default/metadata/namespaces", json={"NamespaceName": "console-release"}
        ),
        201,
    )
    ok(api.post(meta + "/notes", json={"NoteName": "image-sign", "Note": {}}), 201)
    ok(api.post(meta + "/public-keys", json={"PublicKey": keyring.export(key)}), 201)
    repo = "/instances/default/namespaces/signed/repositories/app"
    url = ok(api.get(f"{repo}/manifests/v1/signatures"))["ResourceUri"]
    signature = {"Signature": keyring.sign(key, url), "PublicKeyId": key.fingerprint}
    occurrence = {
        "NoteName": "image-sign",
        "ResourceUri": url,
        "Attestation": {"Signatures": [signature]},
    }
    body = {"OccurrenceName": "v1", "Occurrence": occurrence}
    ok(api.post(meta + "/occurrences", json=body), 201)

    admin.go("/console/instances/default/namespaces/signed/repositories/app/tags/v1")
    main = admin.page.inner_text("main")
    assert "Verified: a valid signature covers this image." in main
    assert url in main and key.user_id in main
    admin.check("tag-signatures")
    admin.go("/console/instances/default/namespaces/signed/repositories/app/tags/v2")
    assert "Not verified" in admin.page.inner_text("main")
    native = admin.page.get_by_role("region", name="cosign and Notation signatures")
    assert [c.strip() for c in native.locator("tbody td").all_inner_texts()] == [
        "cosign",
        tag,
        "—",
        "no",
        "unknown key",
    ]


def test_a_tag_is_replicated_to_another_instance_and_rules_are_managed(
    admin: Visit, api: httpx.Client, server: DockyardServer, tmp_path: Path
) -> None:
    other = ok(
        api.post("/instances", json={"name": "mirror", "region": "local", "edition": "Advanced"}),
        201,
    )
    ok(api.post(f"/instances/{other['id']}/namespaces", json={"name": "repl"}), 201)
    create_namespace(admin, "repl")
    set_registry_password(admin, REGISTRY_PASSWORD)
    layout = C.make_oci_layout(tmp_path / "image", tag="v1", layers=2)
    digest = C.Skopeo(tmp_path / "skopeo").copy(
        layout.oci_ref,
        f"docker://{server.host}/repl/app:v1",
        dest_creds=("admin", REGISTRY_PASSWORD),
    )
    admin.go("/console/instances/default/namespaces/repl/repositories/app")
    admin.page.get_by_role("link", name="Replicate a tag").click()
    admin.check("replicate")
    admin.page.get_by_label("To", exact=True).select_option(other["id"])
    admin.page.get_by_label("Tag", exact=True).select_option("v1")
    admin.page.get_by_role("button", name="Replicate").click()
    assert "/console/instances/default/replication?repository=repl/app" in admin.page.url
    status = admin.page.locator("table.tasks td.status").first
    _reload_until(admin, lambda: status.inner_text() in ("Completed", "Failed"), "the task")
    assert status.inner_text() == "Completed", admin.page.inner_text("main")
    admin.check("replication")
    admin.page.locator("table.tasks a").first.click()
    assert admin.page.locator("#task-status").inner_text() == "Completed"
    assert admin.page.locator("table.layers tbody tr").count() == 3  # config and 2 layers
    admin.check("replication-task")
    tags = ok(api.get(f"/instances/{other['id']}/namespaces/repl/repositories/app/tags"))
    assert [(t["name"], t["digest"]) for t in tags["items"]] == [("v1", digest)]

    # A rule: a bad source is told in words; then created, disabled and deleted.
    admin.go("/console/instances/default/replication")
    admin.page.get_by_label("Name", exact=True).fill("mirror-repl")
    admin.page.get_by_label("To", exact=True).select_option(other["id"])
    admin.page.get_by_label("Source").fill("not a namespace")
    admin.page.get_by_role("button", name="Create rule").click()
    assert admin.page.get_by_role("alert").count() == 1
    admin.page.get_by_label("Source").fill("repl")
    admin.page.get_by_role("button", name="Create rule").click()
    row = admin.page.locator("table.rules tbody tr")
    assert row.count() == 1 and "enabled" in row.inner_text()
    admin.page.get_by_role("button", name="Disable the rule mirror-repl").click()
    assert "disabled" in admin.page.locator("table.rules tbody tr").inner_text()
    rules = ok(api.get("/instances/default/replication-rules"))["items"]
    assert [(r["name"], r["enabled"]) for r in rules] == [("mirror-repl", False)]
    admin.page.get_by_role("button", name="Delete the rule mirror-repl").click()
    assert ok(api.get("/instances/default/replication-rules"))["total"] == 0


def test_a_tag_is_scanned_and_a_namespace_gets_a_scan_policy(
    admin: Visit, api: httpx.Client, server: DockyardServer, tmp_path: Path
) -> None:
    create_namespace(admin, "scanned")
    admin.page.get_by_text("Image scanning").click()
    admin.page.get_by_label(
        "Refuse pulls of images with vulnerabilities of severity"
    ).select_option("HIGH")
    admin.page.get_by_label("Ignore these vulnerabilities").fill("CVE-2024-0001@not-a-day")
    admin.page.get_by_role("button", name="Save the scan policy").click()
    assert "YYYY-MM-DD" in admin.page.get_by_role("alert").inner_text()
    admin.page.get_by_label(
        "Refuse pulls of images with vulnerabilities of severity"
    ).select_option("HIGH")
    admin.page.get_by_label("Ignore these vulnerabilities").fill("CVE-2024-0001@2099-01-01")
    admin.page.get_by_role("button", name="Save the scan policy").click()
    assert "severity HIGH or more" in (admin.page.locator("#scan-policy").text_content() or "")
    policy = ok(api.get("/instances/default/namespaces/scanned/scan-policy"))
    assert policy["blockSeverity"] == "HIGH"
    assert [e["id"] for e in policy["allowlist"]] == ["CVE-2024-0001"]
    admin.check("namespace-scan-policy")

    set_registry_password(admin, REGISTRY_PASSWORD)
    layout = C.make_oci_layout(tmp_path / "image", tag="v1")
    C.Skopeo(tmp_path / "skopeo").copy(
        layout.oci_ref,
        f"docker://{server.host}/scanned/app:v1",
        dest_creds=("admin", REGISTRY_PASSWORD),
    )
    admin.go("/console/instances/default/namespaces/scanned/repositories/app/tags/v1")
    assert admin.page.locator("#scan-state").inner_text() == "Not scanned yet."
    admin.page.get_by_role("button", name="Scan now").click()
    state = admin.page.locator("#scan-state")
    _reload_until(
        admin,
        lambda: not state.inner_text().startswith(("Scan queued", "Scan scanning")),
        "the scan",
    )
    # The test image holds random bytes and no package database: done, with nothing found.
    assert state.inner_text().startswith("Scan done"), state.inner_text()
    assert "No known vulnerability." in admin.page.inner_text("main")
    admin.check("tag-scan")
    admin.go("/console/instances/default/namespaces/scanned/repositories/app")
    admin.page.get_by_role("link", name="The scans of this repository").click()
    assert admin.page.locator("table.scans td.state").all_inner_texts() == ["done"]
    admin.check("scans")


# ---- editing after creation, jobs, remotes, signing, the vulnerability database, usage ----


def test_identity_objects_and_a_trigger_are_edited_after_creation(
    admin: Visit, api: httpx.Client
) -> None:
    root = next(o for o in ok(api.get("/organizations"))["items"] if o["name"] == "root")
    org = ok(api.post("/organizations", json={"name": "edit-org", "parentId": root["id"]}), 201)
    body = {"name": "edit-parent", "parentId": root["id"]}
    parent = ok(api.post("/organizations", json=body), 201)
    ok(api.post("/groups", json={"name": "edit-group", "organizationId": root["id"]}), 201)
    ok(api.post("/resource-sets", json={"name": "edit-set"}), 201)
    ok(api.post("/logon-policies", json={"name": "edit-lp"}), 201)

    # An organization is renamed, described and moved; a taken name is told at its field.
    admin.go("/console/organizations")
    admin.page.get_by_role("link", name="Edit the organization edit-org").click()
    admin.page.get_by_label("Name", exact=True).fill("edit-parent")
    admin.page.get_by_role("button", name="Save changes").click()
    assert admin.page.locator("#e-name").inner_text()
    admin.page.get_by_label("Name", exact=True).fill("edited-org")
    admin.page.get_by_label("Description").fill("moved <b>here</b>")
    admin.page.get_by_label("Under").select_option(label="edit-parent")
    admin.check("organization-edit")
    admin.page.get_by_role("button", name="Save changes").click()
    assert admin.page.url.endswith("/console/organizations")
    assert "edited-org" in admin.page.locator("ul.tree ul.tree ul.tree li .org").all_inner_texts()
    edited = ok(api.get(f"/organizations/{org['id']}"))
    assert (edited["name"], edited["description"], edited["parentId"]) == (
        "edited-org",
        "moved <b>here</b>",
        parent["id"],
    )

    # A group and a resource set are renamed from their pages.
    admin.go("/console/groups/edit-group")
    admin.page.get_by_role("link", name="Edit this group").click()
    admin.page.get_by_label("Name", exact=True).fill("edited-group")
    admin.page.get_by_role("button", name="Save changes").click()
    assert admin.page.url.endswith("/console/groups/edited-group")
    admin.go("/console/resource-sets/edit-set")
    admin.page.get_by_role("link", name="Edit this resource set").click()
    admin.page.get_by_label("Description").fill("for the edit test")
    admin.page.get_by_role("button", name="Save changes").click()
    assert ok(api.get("/resource-sets/edit-set"))["description"] == "for the edit test"

    # A logon policy's times: a bad window at its field, then saved.
    admin.go("/console/logon-policies")
    admin.page.get_by_role("link", name="Edit the logon policy edit-lp").click()
    admin.page.get_by_label("Time windows (UTC)").fill("9 to 5")
    admin.page.get_by_role("button", name="Save changes").click()
    assert admin.page.locator("#e-time_windows").inner_text()
    admin.page.get_by_label("Time windows (UTC)").fill("09:00-18:00")
    admin.page.get_by_label("Networks").fill("10.0.0.0/8")
    admin.page.get_by_role("button", name="Save changes").click()
    saved = ok(api.get("/logon-policies/edit-lp"))
    assert (saved["timeWindows"], saved["cidrs"]) == (
        [{"start": "09:00", "end": "18:00"}],
        ["10.0.0.0/8"],
    )

    # A trigger's settings: from every tag to listed tags, with a new secret shown once.
    ok(api.post("/instances/default/namespaces", json={"name": "edithooks"}), 201)
    repo = "/instances/default/namespaces/edithooks/repositories/app"
    ok(api.post("/instances/default/namespaces/edithooks/repositories", json={"name": "app"}), 201)
    hook = {"name": "ci", "url": "https://ci.example.com/h", "mode": "every"}
    ok(api.post(repo + "/triggers", json=hook), 201)
    admin.go("/console" + repo + "/triggers")
    admin.page.get_by_role("link", name="Edit ci").click()
    admin.page.get_by_label("Fires on").select_option("tags")
    admin.page.get_by_label("Tags").fill("v1, v2")
    admin.page.get_by_label("Signing secret").select_option("new")
    admin.page.get_by_role("button", name="Save the trigger").click()
    assert len(admin.page.locator("#trigger-secret").inner_text()) >= 32
    admin.check("trigger-edit")
    trigger = ok(api.get(repo + "/triggers/ci"))
    assert (trigger["mode"], trigger["tags"], trigger["hasSecret"]) == ("tags", ["v1", "v2"], True)


def test_failed_jobs_are_listed_and_retried_and_remotes_registered(
    admin: Visit, api: httpx.Client, server: DockyardServer
) -> None:
    kind = "console-test-kind"  # no worker handles it: its jobs stay where the test puts them
    # (In a thread: Playwright's own event loop runs in this one.)
    with ThreadPoolExecutor(1) as pool:
        (job_id,) = pool.submit(queue_jobs, server, kind, failed=1, running=0).result()
    admin.page.get_by_role("link", name="Jobs").click()
    admin.page.get_by_label("State").select_option("failed")
    admin.page.get_by_label("Kind").fill(kind)
    admin.page.get_by_role("button", name="Filter").click()
    row = admin.page.locator("table.jobs tbody tr")
    assert row.count() == 1 and "boom 0" in row.inner_text()
    admin.check("jobs")
    row.get_by_role("button", name=re.compile("^Retry")).click()
    assert [
        (j["id"], j["state"]) for j in ok(api.get("/jobs", params={"kind": kind}))["items"]
    ] == [(job_id, "waiting")]

    other = ok(
        api.post("/instances", json={"name": "remotes", "region": "local", "edition": "Advanced"}),
        201,
    )
    admin.go(f"/console/instances/{other['id']}/replication")
    admin.page.get_by_role("link", name="Remotes").click()
    admin.page.get_by_label("Name", exact=True).fill("hub")
    admin.page.get_by_label("URL").fill("ftp://hub.example.com")
    admin.page.get_by_label("User name or access key id").fill("bot")
    admin.page.get_by_label("Password or access key secret").fill("s3cret-value")
    admin.page.get_by_role("button", name="Register remote").click()
    assert "https://" in admin.page.get_by_role("alert").inner_text()
    admin.page.get_by_label("URL").fill("https://hub.example.com")
    admin.page.get_by_label("Password or access key secret").fill("s3cret-value")
    admin.page.get_by_role("button", name="Register remote").click()
    assert "hub.example.com" in admin.page.locator("table.remotes tbody tr").inner_text()
    assert "s3cret-value" not in admin.page.content()
    admin.check("remotes")
    remotes = ok(api.get(f"/instances/{other['id']}/replication-remotes"))["items"]
    assert [(r["name"], r["username"]) for r in remotes] == [("hub", "bot")]
    admin.page.get_by_role("button", name="Delete the remote hub").click()
    assert ok(api.get(f"/instances/{other['id']}/replication-remotes"))["total"] == 0


def test_signing_metadata_and_policies_are_managed(
    admin: Visit, api: httpx.Client, keyring: Keyring
) -> None:
    ok(api.post("/instances/default/namespaces", json={"name": "gated"}), 201)
    admin.go("/console/instances/default")
    admin.page.get_by_role("link", name="Signing").click()
    admin.page.get_by_label("Name", exact=True).fill("console-meta")
    admin.page.get_by_role("button", name="Create metadata namespace").click()
    assert admin.page.url.endswith("/signing/console-meta")
    admin.page.get_by_label("Note name").fill("image-sign")
    admin.page.get_by_label("Signer hint").fill("release <script>bot</script>")
    admin.page.get_by_role("button", name="Create note").click()
    admin.page.get_by_label("Public key (ASCII-armored OpenPGP)").fill("not a key")
    admin.page.get_by_role("button", name="Add public key").click()
    assert "armored" in admin.page.locator("#e-public_key").inner_text()
    key = keyring.generate("console-meta-signer")
    admin.page.get_by_label("Public key (ASCII-armored OpenPGP)").fill(keyring.export(key))
    admin.page.get_by_role("button", name="Add public key").click()
    assert key.fingerprint in admin.page.locator("table.keys").inner_text()
    assert "release <script>bot</script>" in admin.page.locator("table.notes").inner_text()
    admin.check("signing-namespace")

    admin.page.get_by_role("link", name="Signing").last.click()
    admin.page.get_by_label("Policy name").fill("gated-signed")
    admin.page.get_by_label("Namespace or repository").fill("gated")
    admin.page.get_by_label("Note", exact=True).fill("console-meta/image-sign")
    admin.page.get_by_label("Tags (regular expression)").fill("release-.*")
    admin.page.get_by_role("button", name="Create signature policy").click()
    assert "gated/*" in admin.page.locator("table.signature-policies").inner_text()
    # A namespace still holding its note and key is not deleted, and says why.
    admin.page.get_by_role("button", name="Delete the metadata namespace console-meta").click()
    assert "still holds" in admin.page.get_by_role("alert").inner_text()
    admin.check("signing")
    policies = ok(api.get("/instances/default/signature-policies"))["items"]
    assert [(p["name"], p["tags"]) for p in policies] == [("gated-signed", "release-.*")]
    admin.page.get_by_role("button", name="Delete the signature policy gated-signed").click()
    assert ok(api.get("/instances/default/signature-policies"))["total"] == 0
    admin.go("/console/instances/default/signing/console-meta")
    admin.page.get_by_role("button", name=f"Delete the key {key.fingerprint}").click()
    admin.page.get_by_role("button", name="Delete the note image-sign").click()
    admin.page.get_by_role("link", name="Signing").last.click()
    admin.page.get_by_role("button", name="Delete the metadata namespace console-meta").click()
    meta = ok(api.get("/instances/default/metadata/namespaces"))
    assert "console-meta" not in json.dumps(meta)


def test_vulnerability_database_import_and_usage_per_repository(
    admin: Visit, api: httpx.Client, server: DockyardServer
) -> None:
    admin.page.get_by_role("link", name="Vulnerability database").click()
    admin.page.get_by_label("OSV records (JSON)").fill("{not json")
    admin.page.get_by_role("button", name="Import").click()
    assert admin.page.locator("#e-records").inner_text()
    record = {
        "id": "CONSOLE-2026-1",
        "modified": "2026-01-01T00:00:00Z",
        "affected": [
            {
                "package": {"ecosystem": "PyPI", "name": "console-demo"},
                "ranges": [{"type": "ECOSYSTEM", "events": [{"introduced": "0"}, {"fixed": "2"}]}],
            }
        ],
    }
    admin.page.get_by_label("OSV records (JSON)").fill(json.dumps([record]))
    admin.page.get_by_role("button", name="Import").click()
    assert "1 record added" in admin.page.locator("#vulndb-imported").inner_text()
    state = ok(api.get("/vulndb"))
    assert {"ecosystem": "PyPI", "records": 1} in state["ecosystems"]
    assert f"Version{state['version']}" in admin.page.locator("#vulndb-state").inner_text().replace(
        "\n", ""
    ).replace("\t", "")
    admin.check("vulndb")

    # Usage: a row per repository, and the rules of the count.
    ok(api.post("/instances/default/namespaces", json={"name": "metered2"}), 201)
    password = {"password": REGISTRY_PASSWORD, "confirm": REGISTRY_PASSWORD}
    ok(api.put("/users/admin/registry-password", json=password), 204)
    pusher = Pusher(server)
    pusher.http.auth = ("admin", REGISTRY_PASSWORD)
    try:
        pusher.image("metered2/a", "v1")
        pusher.image("metered2/b", "v1")
    finally:
        pusher.close()
    admin.go("/console/instances/default/namespaces/metered2")
    admin.page.get_by_role("link", name="Usage per repository, and how it is counted").click()
    rows = admin.page.locator("table.repository-usage tbody tr")
    assert [r.split("\t")[0] for r in rows.all_inner_texts()] == ["a", "b"]
    assert "Tags cost nothing" in admin.page.locator("#usage-rules").inner_text()
    detail = ok(api.get("/instances/default/namespaces/metered2/usage"))
    assert [r["manifests"] for r in detail["repositories"]] == [1, 1]
    admin.check("usage")
