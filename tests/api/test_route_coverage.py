"""Every route checks its one action on its one resource, as PRODUCT.md §3 says.

In process (``bootstrap.build`` behind ``httpx.ASGITransport``, a temporary data dir), with
``services.access.authorize`` wrapped in every module that imported it: each operation of
the OpenAPI document and each registry route is called once as the administrator, on the
default (Advanced) instance and on a Standard one made through the API, and every recorded
``authorize`` call must name the operation's declared action (``x-dockyard-action``; for
registry routes ``registry.routes._ACTIONS``) and a resource of the §3 form.

Nothing here lists routes: new ones are driven automatically. Only the resource *forms*
per action are written down (``expected_resources``); an action without a known form fails.
"""

from __future__ import annotations

import asyncio
import hashlib
import json
import re
import sys
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx
import pytest
from sqlalchemy import select

import dockyard.services.access as access_module
from dockyard.api import actions as api_actions
from dockyard.bootstrap import build, load_master_key
from dockyard.metadata import migrate
from dockyard.metadata.models import Account, Organization
from dockyard.metadata.session import Database
from dockyard.registry import routes as registry_routes
from dockyard.server import DockyardApp
from dockyard.services.access import SCOPE_ACTIONS
from dockyard.services.setup import first_start
from dockyard.settings import Settings

pytestmark = [
    pytest.mark.integration,
    # Server code runs in this process here, where warnings are errors; a deprecation in a
    # query is not what this test is about (the server logs them instead).
    pytest.mark.filterwarnings("ignore::DeprecationWarning"),
]

ROOT = Path(__file__).resolve().parents[2]
API = "/api/v1"
ADMIN_PASSWORD = "Cov-Adm1n-Passw0rd"
STRONG = "Cov-Passw0rd-One"
STANDARD_DOMAIN = "std.coverage.test"
NAMESPACE, REPOSITORY, TAG = "covns", "app", "v1"
#: Names of the objects each collection route creates, and its item routes then address.
COLLECTION_NAMES = {
    "instances": "cov",
    "namespaces": NAMESPACE,
    "repositories": REPOSITORY,
    "tags": TAG,
    "manifests": TAG,
    "users": "covuser",
    "groups": "cov-group",
    "roles": "CovRole",
    "policies": "CovPolicy",
    "resource-sets": "cov-set",
    "logon-policies": "covlogon",
    "organizations": "cov-org",
    "jobs": "00000000-0000-4000-8000-00000000c0c0",  # none: authorized, then 404
    "triggers": "cov-hook",
    "trigger-records": "00000000-0000-4000-8000-00000000c0c1",  # none: authorized, then 404
    "runs": "00000000-0000-4000-8000-00000000c0c2",  # GC runs: authorized, then 404
    "replication-tasks": "00000000-0000-4000-8000-00000000c0c3",  # authorized, then 404
}
#: Actions a route may check besides its own, and for what: trigger readers see URLs
#: unmasked only with cr:UpdateWebHook.
SECONDARY_ACTIONS = {
    "cr:ListRepoTrigger": {"cr:UpdateWebHook"},
    "cr:GetRepoTrigger": {"cr:UpdateWebHook"},
}
#: RAM resource kinds, by the first segment of the route's path.
RAM_KINDS = {
    "users": "user",
    "groups": "group",
    "roles": "role",
    "policies": "policy",
    "organizations": "organization",
    "resource-sets": "resourceset",
    "logon-policies": "logonpolicy",
    "auth": "user",
}
METHOD_ORDER = {"post": 0, "put": 1, "get": 2, "head": 2, "patch": 3, "delete": 4}


# ---- recording authorize --------------------------------------------------------------------


@dataclass
class Recorder:
    calls: list[tuple[str, str]] = field(default_factory=list)

    def take(self) -> list[tuple[str, str]]:
        taken, self.calls = self.calls, []
        return taken


def install_recorder(monkeypatch: pytest.MonkeyPatch) -> Recorder:
    """Wrap ``authorize`` wherever a ``dockyard`` module holds it (imported by name)."""
    original = access_module.authorize
    rec = Recorder()

    def recording(principal: Any, action: str, resource: Any, *args: Any, **kw: Any) -> Any:
        rec.calls.append((action, getattr(resource, "arn", str(resource))))
        return original(principal, action, resource, *args, **kw)

    patched = 0
    for name, module in list(sys.modules.items()):
        if name.startswith("dockyard") and getattr(module, "authorize", None) is original:
            monkeypatch.setattr(module, "authorize", recording)
            patched += 1
    assert patched >= 3, "authorize is no longer imported where routes check access"
    return rec


# ---- the expected §3 resource forms ---------------------------------------------------------


@dataclass(frozen=True)
class Target:
    edition: str
    instance_id: str
    region: str
    account: str

    @property
    def cr(self) -> str:
        return f"acs:cr:{self.region}:{self.account}:"

    @property
    def repo_prefix(self) -> str:
        iid = f"{self.instance_id}/" if self.edition == "Advanced" else ""
        return f"{self.cr}repository/{iid}"


_METADATA_ACTIONS = {
    f"cr:{verb}Metadata{kind}"
    for verb, kind in (
        ("Create", "Namespace"),
        ("Get", "Namespace"),
        ("Delete", "Namespace"),
        ("Create", "Note"),
        ("List", "Note"),
        ("Get", "Note"),
        ("Delete", "Note"),
        ("Create", "Occurrence"),
        ("List", "Occurrences"),
        ("Delete", "Occurrence"),
        ("Create", "PublicKey"),
        ("List", "PublicKey"),
        ("Delete", "PublicKey"),
    )
}


def expected_resources(
    action: str, path: str, params: dict[str, str], target: Target
) -> set[str] | None:
    """The §3 resource(s) an operation may authorize ``action`` on; None: no known form."""
    advanced = target.edition == "Advanced"
    r = target.repo_prefix
    ns, repo = params.get("namespace", NAMESPACE), params.get("repository", REPOSITORY)
    repo_level = {
        "cr:ScanImage",
        "cr:GetImageScan",
        "cr:ListImageScan",
        "cr:GetRepository",
        "cr:UpdateRepository",
        "cr:DeleteRepository",
        "cr:ListRepositoryTag",
        "cr:DeleteRepositoryTag",
        "cr:GetRepositoryManifest",
        "cr:GetRepositoryLayers",
        "cr:PullRepository",
        "cr:PushRepository",
        "cr:UpdateWebHook",
        "cr:CreateRepoTrigger",
        "cr:ListRepoTrigger",
        "cr:GetRepoTrigger",
        "cr:DeleteRepoTrigger",
        "cr:ListRepoTriggerRecord",
    }
    retention = {
        "cr:CreateRetentionPolicy",
        "cr:ListRetentionPolicy",
        "cr:GetRetentionPolicy",
        "cr:UpdateRetentionPolicy",
        "cr:DeleteRetentionPolicy",
        "cr:ExecuteRetentionPolicy",
        "cr:ListRetentionRun",
        "cr:CreateReplicationRemote",
        "cr:ListReplicationRemote",
        "cr:DeleteReplicationRemote",
    }
    forms: dict[str, set[str]] = {
        "cr:CreateInstance": {"*"},
        "cr:ListInstance": {"*"},
        "cr:GetInstance": {"*"},
        "cr:GetAuthorizationToken": {"*"},
        "cr:InspectJob": {"*"},
        "cr:RetryJob": {"*"},
        "cr:RunGarbageCollection": {"*"},
        "cr:ListGarbageCollectionRun": {"*"},
        "cr:ImportVulnDb": {"*"},
        "cr:GetVulnDb": {"*"},
        "cr:CreateExternalScanner": {"*"},
        "cr:ListExternalScanner": {"*"},
        "cr:DeleteExternalScanner": {"*"},
        "cr:UpdateInstance": {f"{target.cr}instance/{target.instance_id}"},
        "cr:DeleteInstance": {f"{target.cr}instance/{target.instance_id}"},
        **{a: {f"{target.cr}instance/{target.instance_id}"} for a in retention},
        **{
            f"cr:{verb}SignaturePolicy": {f"{target.cr}instance/{target.instance_id}"}
            for verb in ("Create", "List", "Get", "Delete")
        },
        "cr:CreateNamespace": {f"{r}{ns}"} if advanced else {"*"},
        "cr:GetNamespace": {f"{r}{ns}"},
        "cr:UpdateNamespace": {f"{r}{ns}"},
        "cr:GetScanPolicy": {f"{r}{ns}"},
        "cr:UpdateScanPolicy": {f"{r}{ns}"},
        "cr:DeleteNamespace": {f"{r}{ns}"},
        "cr:ListNamespace": {f"{r}*"} if advanced else {"*"},
        "cr:CreateRepository": {f"{r}{ns}"},
        "cr:ListRepository": (
            ({f"{r}{ns}/*"} if "{namespace}" in path else {f"{r}*"}) if advanced else {"*"}
        ),
        **{a: {f"{r}{ns}/{repo}"} for a in repo_level},
        # Usage is read on what it measures; a quota is set on its namespace.
        "cr:GetUsage": (
            {f"{r}{ns}/{repo}"}
            if "{repository}" in path
            else {f"{r}{ns}"}
            if "{namespace}" in path
            else {f"{target.cr}instance/{target.instance_id}"}
        ),
        "cr:UpdateQuota": {f"{r}{ns}"},
        # Signing (issue 19): metadata namespaces in one form for both editions.
        **{a: {f"{target.cr}metadata/{ns}"} for a in _METADATA_ACTIONS},
        "cr:ListMetadataNamespace": {f"{target.cr}metadata/*"},
        "cr:ListSignature": {"*"},
        "cr:ListRepoSyncTask": {f"{r}*"} if advanced else {"*"},
        # Created under its source repository; addressed by id, an unknown task is
        # authorized on every repository of the instance before its 404.
        "cr:CreateRepoSyncTask": (
            {f"{r}{ns}/{repo}"} if "{repository}" in path else {f"{r}*"} if advanced else {"*"}
        ),
        "cr:GetRepoSyncTask": {f"{r}*"} if advanced else {"*"},
        "cr:CancelRepoSyncTask": {f"{r}*"} if advanced else {"*"},
        # A rule on its source (a namespace, sampled "cov-1"); by name, unknown: every repo.
        "cr:ListRepoSyncRule": {f"{r}*"} if advanced else {"*"},
        **{
            a: {f"{r}cov-1", f"{r}*" if advanced else "*"}
            for a in ("cr:CreateRepoSyncRule", "cr:UpdateRepoSyncRule", "cr:DeleteRepoSyncRule")
        },
    }
    if path.startswith("/v2/_catalog"):
        forms["cr:ListRepository"] = {"*"}
    if action in forms:
        return forms[action]
    if not action.startswith(("ram:", "sts:")):
        return None
    rest = path.removeprefix(API).strip("/").split("/")
    has_param = any(p.startswith("{") for p in rest)
    if action == "ram:SimulatePolicy":  # about the user whose access is simulated
        return {"*", f"acs:ram::{target.account}:user/{COLLECTION_NAMES['users']}"}
    if action == "sts:GetSessionToken" or (
        re.match(r"^ram:(Create|List)", action) and not has_param
    ):
        return {"*"}
    kind = RAM_KINDS.get(rest[0])
    if kind is None:
        return None
    first = next((p[1:-1] for p in rest if p.startswith("{")), None)
    name = params[first] if first else "admin"  # /auth/...: the caller's own user
    return {f"acs:ram::{target.account}:{kind}/{name}"}


# ---- request bodies from the schema ------------------------------------------------------


def field_values(collection: str, org_id: str) -> dict[str, Any]:
    return {
        "name": COLLECTION_NAMES.get(collection, "cov"),
        "username": COLLECTION_NAMES["users"],
        "displayName": "Coverage User",
        "email": "cov@example.com",
        "phone": "13800000000",
        "password": STRONG,
        "newPassword": STRONG,
        "confirm": STRONG,
        "oldPassword": "Wrong-Passw0rd-1",
        "organizationId": org_id,
        "parentId": org_id,
        "region": "local",
        "edition": "Standard",
        "document": {
            "Version": "1",
            "Statement": [{"Effect": "Allow", "Action": "cr:Get*", "Resource": "*"}],
        },
        "action": "cr:GetNamespace",
        "resource": "*",
        "status": "disabled",
        "required": False,
        "url": "http://hooks.coverage.test/deploy",
        "NamespaceName": NAMESPACE,
    }


class Bodies:
    def __init__(self, doc: dict[str, Any], values: dict[str, Any]) -> None:
        self.components = doc.get("components", {}).get("schemas", {})
        self.values = values

    def resolve(self, schema: dict[str, Any]) -> dict[str, Any]:
        while "$ref" in schema:
            schema = self.components[schema["$ref"].rsplit("/", 1)[-1]]
        return schema

    def sample(self, schema: dict[str, Any], name: str | None = None) -> Any:
        schema = self.resolve(schema)
        if name in self.values:
            return self.values[name]
        for key in ("anyOf", "oneOf", "allOf"):
            if key in schema:
                options = [self.resolve(s) for s in schema[key]]
                real = [s for s in options if s.get("type") != "null"] or options
                return self.sample(real[0], name)
        if "const" in schema:
            return schema["const"]
        if "enum" in schema:
            return schema["enum"][0]
        if "default" in schema:
            return schema["default"]
        kind = schema.get("type")
        if kind == "object" or "properties" in schema:
            props = schema.get("properties", {})
            return {k: self.sample(props[k], k) for k in schema.get("required", []) if k in props}
        if kind == "array":
            count = schema.get("minItems", 0)
            return [self.sample(schema.get("items", {}), None) for _ in range(count)]
        if kind in ("integer", "number"):
            low = schema.get("minimum", schema.get("exclusiveMinimum", 0) + 1)
            return max(low, 1)
        if kind == "boolean":
            return False
        return self.string(schema)

    @staticmethod
    def string(schema: dict[str, Any]) -> str:
        low, high = schema.get("minLength", 1), schema.get("maxLength", 64)
        pattern = schema.get("pattern")
        if schema.get("format") == "email":
            return "cov@example.com"
        for candidate in ("cov-1", "cov", "covtest1", "Cov-Test.1", "12345", "1", "a"):
            text = (candidate * 10)[: max(low, len(candidate))][:high]
            if pattern is None or re.search(pattern, text):
                return text
        return "cov"


# ---- driving ---------------------------------------------------------------------------


@dataclass
class Run:
    http: httpx.AsyncClient
    recorder: Recorder
    problems: list[str] = field(default_factory=list)
    captured: dict[str, str] = field(default_factory=dict)
    admin: tuple[str, str] = ("admin", ADMIN_PASSWORD)
    access_key: tuple[str, str] | None = None
    #: Actions the OpenAPI document declares.
    api_actions: set[str] = field(default_factory=set)

    def check(
        self,
        label: str,
        action: str | Callable[[str], bool],
        resources: set[str] | None,
        response: httpx.Response,
    ) -> None:
        calls = self.recorder.take()
        if resources is None:
            self.problems.append(f"{label}: no §3 resource form is known for {action}")
            return
        if not calls:
            self.problems.append(
                f"{label}: never called authorize ({response.status_code} {response.text[:200]})"
            )
            return
        for got_action, got_resource in calls:
            ok_action = action(got_action) if callable(action) else got_action == action
            if not ok_action:
                self.problems.append(f"{label}: authorized {got_action}, declares {action}")
            elif got_resource not in resources:
                wanted = " or ".join(sorted(resources))
                self.problems.append(f"{label}: {got_action} on {got_resource!r}, not {wanted}")


def fill(path: str, run: Run, target: Target) -> tuple[str, dict[str, str]]:
    params: dict[str, str] = {}
    parts = path.split("/")
    for i, part in enumerate(parts):
        if not (part.startswith("{") and part.endswith("}")):
            continue
        param = part[1:-1]
        before = parts[i - 1] if i else ""
        if param in ("instance_id", "instanceId"):
            value = target.instance_id
        elif before in run.captured:
            value = run.captured[before]
        else:
            value = COLLECTION_NAMES.get(before, "cov")
        params[param] = value
        parts[i] = value
    return "/".join(parts), params


def capture(run: Run, path: str, body: Any) -> None:
    """Remember the id of what a POST created, for the item routes under it."""
    if not isinstance(body, dict):
        return
    collection = path.rstrip("/").split("/")[-1]
    if collection in ("organizations",) and body.get("id"):
        run.captured[collection] = str(body["id"])
    if collection == "access-keys" and body.get("accessKeyId"):
        run.captured[collection] = str(body["accessKeyId"])


async def call_api(
    run: Run, method: str, path: str, body: Any, auth: tuple[str, str] | None = None
) -> httpx.Response:
    return await run.http.request(
        method.upper(),
        path,
        json=body,
        auth=auth or run.admin,
        headers={"Content-Type": "application/json"} if body is not None else {},
    )


async def drive_api(run: Run, doc: dict[str, Any], target: Target, org_id: str) -> None:
    operations = []
    for path, ops in doc["paths"].items():
        for method, op in ops.items():
            if method not in METHOD_ORDER:
                continue
            if target.edition == "Standard" and "{instance_id}" not in path:
                continue  # instance-free routes are driven once, with the Advanced instance
            depth = path.count("/")
            order = (METHOD_ORDER[method], -depth if method == "delete" else depth, path)
            operations.append((order, path, method, op))
    for _, path, method, op in sorted(operations):
        label = f"{target.edition} {method.upper()} {path}"
        action = op.get(api_actions.ACTION_KEY)
        if not isinstance(action, str) or not action:
            run.problems.append(f"{label}: declares no {api_actions.ACTION_KEY}")
            continue
        run.api_actions.add(action)
        concrete, params = fill(path, run, target)
        segments = [s for s in path.removeprefix(API).split("/") if s and not s.startswith("{")]
        bodies = Bodies(doc, field_values(segments[-1] if segments else "", org_id))
        schema = (
            op.get("requestBody", {}).get("content", {}).get("application/json", {}).get("schema")
        )
        body = bodies.sample(schema) if schema else None
        run.recorder.take()
        response = await call_api(run, method, concrete, body)
        if (
            action not in api_actions.UNAUTHENTICATED
            and not run.recorder.calls
            and response.status_code in (401, 403)
            and run.access_key is not None
        ):
            # Operations only an access key may call (STS): try again with one.
            response = await call_api(run, method, concrete, body, auth=run.access_key)
        if method == "post" and response.is_success:
            capture(run, concrete, response.json() if response.content else None)
        if action in api_actions.UNAUTHENTICATED:
            run.recorder.take()
            continue
        also = SECONDARY_ACTIONS.get(action, set())
        declared = (lambda got, a=action, o=also: got == a or got in o) if also else action
        run.check(label, declared, expected_resources(action, path, params, target), response)


def registry_path(pattern: re.Pattern[str], values: dict[str, str]) -> str:
    source = re.sub(r"\(\?P<(\w+)>(?:[^()]|\([^()]*\))*\)", lambda m: values[m[1]], pattern.pattern)
    return source.removeprefix("^").removesuffix("$").replace("/?", "/").replace("\\", "")


MANIFEST_TYPE = {"Content-Type": "application/vnd.oci.image.manifest.v1+json"}


def sha256(data: bytes) -> str:
    return "sha256:" + hashlib.sha256(data).hexdigest()


async def push_image(run: Run, host: str | None, layer: bytes) -> tuple[bytes, str]:
    """Push a one-layer image tagged v1 (nothing recorded); its manifest and layer digest."""
    headers = {"Host": host} if host else {}
    name = f"{NAMESPACE}/{REPOSITORY}"
    config = b'{"rootfs":{"type":"layers","diff_ids":[]},"history":[]}'
    for data in (layer, config):
        resp = await run.http.post(
            f"/v2/{name}/blobs/uploads/",
            params={"digest": sha256(data)},
            content=data,
            auth=run.admin,
            headers=headers,
        )
        assert resp.status_code == 201, resp.text
    manifest = json.dumps(
        {
            "schemaVersion": 2,
            "mediaType": MANIFEST_TYPE["Content-Type"],
            "config": {
                "mediaType": "application/vnd.oci.image.config.v1+json",
                "digest": sha256(config),
                "size": len(config),
            },
            "layers": [
                {
                    "mediaType": "application/vnd.oci.image.layer.v1.tar",
                    "digest": sha256(layer),
                    "size": len(layer),
                }
            ],
        }
    ).encode()
    resp = await run.http.put(
        f"/v2/{name}/manifests/{TAG}",
        content=manifest,
        auth=run.admin,
        headers={**headers, **MANIFEST_TYPE},
    )
    assert resp.status_code == 201, resp.text
    run.recorder.take()
    return manifest, sha256(layer)


async def drive_registry(run: Run, target: Target, host: str | None) -> None:
    headers = {"Host": host} if host else {}
    name = f"{NAMESPACE}/{REPOSITORY}"

    async def reg(method: str, path: str, **kw: Any) -> httpx.Response:
        return await run.http.request(
            method, path, auth=run.admin, headers={**headers, **kw.pop("headers", {})}, **kw
        )

    # Content for the routes to act on: a blob, a manifest tagged v1, an open upload.
    manifest, digest = await push_image(run, host, b"coverage layer " + target.edition.encode())
    resp = await reg("POST", f"/v2/{name}/blobs/uploads/")
    assert resp.status_code == 202, resp.text
    upload_id = resp.headers["Location"].rstrip("/").rsplit("/", 1)[-1].split("?")[0]
    values = {"name": name, "upload_id": upload_id, "digest": digest, "reference": TAG}
    run.recorder.take()

    plan = []
    for pattern, handlers, _ in registry_routes._ROUTES:
        for method, handler in handlers.items():
            plan.append((METHOD_ORDER[method.lower()], method, pattern, handler))
    for _, method, pattern, handler in sorted(plan, key=lambda p: (p[0], p[2].pattern)):
        path = registry_path(pattern, values)
        label = f"{target.edition} registry {method} {path}"
        action = registry_routes._ACTIONS.get(handler)
        if action is None:
            run.problems.append(f"{label}: {handler.__qualname__} has no entry in _ACTIONS")
            continue
        kw: dict[str, Any] = {}
        if method == "PUT" and "/manifests/" in path:
            kw = {"content": manifest, "headers": MANIFEST_TYPE}
        elif method == "PUT":
            kw = {"params": {"digest": sha256(b"")}}
        response = await reg(method, path, **kw)
        run.check(label, action, expected_resources(action, path, values, target), response)

    # The token endpoint authorizes every scope it is asked for.
    resp = await reg(
        "GET",
        "/auth/token",
        params=[
            ("service", "dockyard"),
            ("scope", f"repository:{name}:pull,push,delete"),
            ("scope", "registry:catalog:*"),
        ],
    )
    calls = run.recorder.take()
    assert resp.status_code == 200, resp.text
    repo_arn = f"{target.repo_prefix}{name}"
    expected = {(a, repo_arn) for a in SCOPE_ACTIONS.values()} | {("cr:ListRepository", "*")}
    if set(calls) != expected:
        run.problems.append(f"{target.edition} /auth/token: {sorted(calls)} != {sorted(expected)}")


async def scenario(data_dir: Path, recorder: Recorder) -> tuple[list[str], set[str]]:
    settings = Settings(data_dir=data_dir, admin_password=ADMIN_PASSWORD)
    migrate.upgrade(settings.resolved_database_url)
    db = Database(settings.resolved_database_url)
    try:
        await first_start(db, load_master_key(settings, create=True), ADMIN_PASSWORD)
        async with db.read() as session:
            account = (await session.execute(select(Account))).scalar_one().arn_id
            org = (await session.execute(select(Organization))).scalars().first()
            org_id = str(org.id) if org else ""
    finally:
        await db.dispose()
    container = build(settings)
    await container.start()
    transport = httpx.ASGITransport(app=DockyardApp(container), client=("127.0.0.1", 40000))
    try:
        async with httpx.AsyncClient(
            transport=transport, base_url="http://127.0.0.1", timeout=60
        ) as http:
            run = Run(http, recorder)
            doc = (await http.get(f"{API}/openapi.json")).json()
            # An access key of the administrator, for operations that take only those.
            resp = await call_api(run, "post", f"{API}/users/admin/access-keys", None)
            if resp.status_code == 201:
                key = resp.json()
                run.access_key = (key["accessKeyId"], key["accessKeySecret"])
            # A Standard instance with a domain, made through the API.
            resp = await call_api(
                run,
                "post",
                f"{API}/instances",
                {
                    "name": "coverage",
                    "region": "local",
                    "edition": "Standard",
                    "endpoints": [{"networkType": "public", "domain": STANDARD_DOMAIN}],
                },
            )
            assert resp.status_code == 201, resp.text
            standard = resp.json()["id"]
            targets = [
                (Target("Advanced", "default", "local", account), None),
                (Target("Standard", standard, "local", account), STANDARD_DOMAIN),
            ]
            for target, host in targets:
                for body, url in (
                    ({"name": NAMESPACE}, f"/instances/{target.instance_id}/namespaces"),
                    (
                        {"name": REPOSITORY},
                        f"/instances/{target.instance_id}/namespaces/{NAMESPACE}/repositories",
                    ),
                ):
                    resp = await call_api(run, "post", API + url, body)
                    assert resp.status_code == 201, resp.text
                await drive_registry(run, target, host)
                # Tag v1 again (the registry pass deleted it) for the API's artifact routes.
                await push_image(run, host, b"seed layer")
                await drive_api(run, doc, target, org_id)
            recorder.take()
            return run.problems, run.api_actions
    finally:
        await container.stop()


@pytest.fixture(scope="module")
def coverage(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[list[str], set[str]]]:
    """(problems found, actions the OpenAPI document declares): one pass for the module."""
    with pytest.MonkeyPatch.context() as monkeypatch:
        recorder = install_recorder(monkeypatch)
        yield asyncio.run(scenario(tmp_path_factory.mktemp("coverage"), recorder))


def test_every_route_authorizes_its_declared_action_on_its_section3_resource(
    coverage: tuple[list[str], set[str]],
) -> None:
    problems, seen = coverage
    assert len(seen) >= 20, sorted(seen)
    assert not problems, "\n".join(problems)


def documented_actions(text: str) -> set[str]:
    """Actions named in the second column of Markdown table rows.

    Understands the shorthands the tables use: ``ram:GetUser / UpdateUser`` (the prefix
    carries over) and ``ram:Get/Update/DeleteOrganization`` (the noun carries back).
    """
    found: set[str] = set()
    for line in text.splitlines():
        if not line.lstrip().startswith("|"):
            continue
        cells = [c.strip() for c in line.strip().strip("|").split("|")]
        if len(cells) < 2:
            continue
        prefix, names = None, []
        for token in re.split(r"[\s/,`]+", cells[1]):
            match = re.fullmatch(r"(?:(cr|ram|sts):)?([A-Z][A-Za-z]*|\*)", token)
            if match is None:
                continue
            prefix = match[1] or prefix
            if prefix is not None:
                names.append((prefix, match[2]))
        for i, (prefix, name) in enumerate(names):
            if re.fullmatch(r"[A-Z][a-z]+", name):  # a bare verb: borrow the next noun
                longer = next(
                    (n for _, n in names[i + 1 :] if not re.fullmatch(r"[A-Z][a-z]+", n)), ""
                )
                head = re.match(r"[A-Z][a-z]*", longer)
                name += longer[head.end() :] if head else ""
            found.add(f"{prefix}:{name}")
    return found


def test_the_action_tables_list_every_declared_action(
    coverage: tuple[list[str], set[str]],
) -> None:
    _, declared_by_routes = coverage
    declared = declared_by_routes - set(api_actions.UNAUTHENTICATED)
    identity_doc = ROOT / "docs" / "identity.md"
    assert identity_doc.exists(), "docs/identity.md (the action table for operators) is missing"
    tables = {
        "api/actions.py docstring": api_actions.__doc__ or "",
        "docs/identity.md": identity_doc.read_text(),
    }
    missing = {where: sorted(declared - documented_actions(text)) for where, text in tables.items()}
    report = [f"{where} lacks: {', '.join(names)}" for where, names in missing.items() if names]
    assert not report, "\n".join(report)
