"""A stand-in Kubernetes API server (core/v1 only) for the credential-helper tests.

No Kubernetes API server can run on the test machines, so this one speaks the parts of the
real API that the helper and ``kubectl`` use, over plain HTTP, in its own process:

* the real paths of ``namespaces`` (cluster-scoped) and of ``configmaps``, ``secrets`` and
  ``serviceaccounts`` (namespaced, also listed across namespaces at ``/api/v1/<resource>``):
  list, get, create, update (PUT), patch, delete;
* patches as ``application/merge-patch+json`` (RFC 7386), ``application/json-patch+json``
  (RFC 6902) and ``application/strategic-merge-patch+json`` with the merge keys of the lists
  that matter here (``imagePullSecrets`` and ``secrets`` by ``name``) and the directives
  ``kubectl apply`` sends (``$patch``, ``$setElementOrder/<list>``, ``$retainKeys`` read
  as no-op); server-side apply is refused with 415 as an old server would;
* one ``resourceVersion`` counter for every write, optimistic concurrency (a stale
  ``metadata.resourceVersion`` in an update or a patch is 409 Conflict);
* ``?watch=true`` streams (newline-separated ``{"type", "object"}`` events, chunked) from a
  ``resourceVersion``, with ``BOOKMARK`` events when asked for, ``timeoutSeconds``, and an
  ``ERROR`` event carrying a 410 ``Status`` (``Expired``) for a ``resourceVersion`` older than
  the kept history, as the real server answers;
* ``fieldValidation=Strict`` (unknown fields refused, as kubectl asks);
* ``labelSelector`` (equality) and ``fieldSelector`` (``metadata.name``/``metadata.namespace``);
* the ``default`` ServiceAccount in every namespace (the service-account controller's work),
  a namespace's contents deleted with it, the ``kubernetes.io/dockerconfigjson`` Secret
  validation, ``stringData`` folded into ``data``;
* the discovery ``kubectl`` needs: ``/api``, ``/api/v1``, ``/apis``, ``/version``.

Test hooks outside the API, under ``/_standin/``: ``POST compact`` forgets the event history
(past the newest write) and ends every open watch, so a watcher that comes back with its
last ``resourceVersion`` gets 410 Gone; ``GET requests`` is the log of the API requests
served (method, path, query, User-Agent).

Run: ``python tests/k8s_standin.py --port N``; it prints ``ready`` once it listens.
"""

from __future__ import annotations

import argparse
import base64
import binascii
import copy
import json
import sys
import threading
import time
import uuid
from dataclasses import dataclass, field
from datetime import UTC, datetime
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import parse_qs, urlsplit

Obj = dict[str, Any]


@dataclass(frozen=True)
class Kind:
    resource: str
    kind: str
    singular: str
    namespaced: bool
    short_names: tuple[str, ...] = ()


KINDS = {
    k.resource: k
    for k in (
        Kind("namespaces", "Namespace", "namespace", False, ("ns",)),
        Kind("configmaps", "ConfigMap", "configmap", True, ("cm",)),
        Kind("secrets", "Secret", "secret", True),
        Kind("serviceaccounts", "ServiceAccount", "serviceaccount", True, ("sa",)),
    )
}
VERBS = ["create", "delete", "get", "list", "patch", "update", "watch"]
#: Lists merged by a key in a strategic merge patch (the core/v1 struct tags that matter here).
MERGE_KEYS = {"imagePullSecrets": "name", "secrets": "name"}
DOCKERCONFIGJSON = "kubernetes.io/dockerconfigjson"
OPENAPI_HASH = "D0C4Y4RD"


def _ref(name: str) -> Obj:
    return {"$ref": f"#/components/schemas/{name}"}


def _strings() -> Obj:
    return {"type": "object", "additionalProperties": {"type": "string"}}


def _named_list(item: str) -> Obj:
    """A list merged by ``name`` in strategic merge patches, as the real schema marks it."""
    return {
        "type": "array",
        "items": _ref(item),
        "x-kubernetes-patch-merge-key": "name",
        "x-kubernetes-patch-strategy": "merge",
    }


def openapi_v3() -> Obj:
    """The ``/openapi/v3/api/v1`` document, cut to the four kinds served here: what kubectl
    reads to learn that the server validates fields itself (``fieldValidation`` on each
    operation) and the patch strategy of the lists (``x-kubernetes-patch-merge-key``)."""
    meta = "io.k8s.apimachinery.pkg.apis.meta.v1.ObjectMeta"
    schemas: Obj = {
        meta: {
            "type": "object",
            "properties": {
                **{
                    key: {"type": "string"}
                    for key in (
                        "name",
                        "generateName",
                        "namespace",
                        "resourceVersion",
                        "uid",
                        "creationTimestamp",
                        "deletionTimestamp",
                        "selfLink",
                    )
                },
                "labels": _strings(),
                "annotations": _strings(),
                "generation": {"type": "integer"},
                "deletionGracePeriodSeconds": {"type": "integer"},
                "finalizers": {"type": "array", "items": {"type": "string"}},
                **{
                    key: {"type": "array", "items": {"type": "object"}}
                    for key in ("ownerReferences", "managedFields")
                },
            },
        },
        "io.k8s.api.core.v1.LocalObjectReference": {
            "type": "object",
            "properties": {"name": {"type": "string"}},
        },
        "io.k8s.api.core.v1.ObjectReference": {
            "type": "object",
            "properties": {k: {"type": "string"} for k in ("name", "namespace", "kind", "uid")},
        },
    }
    own: dict[str, Obj] = {
        "Namespace": {"spec": {"type": "object"}, "status": {"type": "object"}},
        "ConfigMap": {
            "data": _strings(),
            "binaryData": _strings(),
            "immutable": {"type": "boolean"},
        },
        "Secret": {
            "data": _strings(),
            "stringData": _strings(),
            "type": {"type": "string"},
            "immutable": {"type": "boolean"},
        },
        "ServiceAccount": {
            "imagePullSecrets": _named_list("io.k8s.api.core.v1.LocalObjectReference"),
            "secrets": _named_list("io.k8s.api.core.v1.ObjectReference"),
            "automountServiceAccountToken": {"type": "boolean"},
        },
    }
    for kind_name, properties in own.items():
        schemas[f"io.k8s.api.core.v1.{kind_name}"] = {
            "type": "object",
            "properties": {
                "apiVersion": {"type": "string"},
                "kind": {"type": "string"},
                "metadata": _ref(meta),
                **properties,
            },
            "x-kubernetes-group-version-kind": [{"group": "", "version": "v1", "kind": kind_name}],
        }
    validation = {"name": "fieldValidation", "in": "query", "schema": {"type": "string"}}
    paths: Obj = {}
    for kind in KINDS.values():
        gvk = {"group": "", "version": "v1", "kind": kind.kind}
        body = {
            "content": {"application/json": {"schema": _ref(f"io.k8s.api.core.v1.{kind.kind}")}}
        }
        base = (
            f"/api/v1/namespaces/{{namespace}}/{kind.resource}"
            if kind.namespaced
            else f"/api/v1/{kind.resource}"
        )

        def operation(action: str, gvk: Obj = gvk, body: Obj = body) -> Obj:
            op: Obj = {
                "x-kubernetes-action": action,
                "x-kubernetes-group-version-kind": gvk,
                "parameters": [validation] if action in ("post", "put", "patch") else [],
                "responses": {"200": {"description": "OK"}},
            }
            if action in ("post", "put"):
                op["requestBody"] = body
            return op

        paths[base] = {"get": operation("list"), "post": operation("post")}
        paths[f"{base}/{{name}}"] = {
            "get": operation("get"),
            "put": operation("put"),
            "patch": operation("patch"),
            "delete": operation("delete"),
        }
    return {
        "openapi": "3.0.0",
        "info": {"title": "Kubernetes (Dockyard stand-in)", "version": "v1.29.0"},
        "paths": paths,
        "components": {"schemas": schemas},
    }


class ApiFailure(Exception):
    def __init__(self, code: int, reason: str, message: str, details: Obj | None = None) -> None:
        super().__init__(message)
        self.code, self.reason, self.message, self.details = code, reason, message, details

    def status(self) -> Obj:
        body: Obj = {
            "kind": "Status",
            "apiVersion": "v1",
            "metadata": {},
            "status": "Failure",
            "message": self.message,
            "reason": self.reason,
            "code": self.code,
        }
        if self.details:
            body["details"] = self.details
        return body


def not_found(kind: Kind, name: str) -> ApiFailure:
    return ApiFailure(
        404,
        "NotFound",
        f'{kind.resource} "{name}" not found',
        {"name": name, "kind": kind.resource},
    )


def conflict(kind: Kind, name: str) -> ApiFailure:
    return ApiFailure(
        409,
        "Conflict",
        f'Operation cannot be fulfilled on {kind.resource} "{name}": the object has been '
        "modified; please apply your changes to the latest version and try again",
        {"name": name, "kind": kind.resource},
    )


def now_stamp() -> str:
    return datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def merge_patch(target: Any, patch: Any) -> Any:
    """RFC 7386."""
    if not isinstance(patch, dict):
        return copy.deepcopy(patch)
    result = dict(target) if isinstance(target, dict) else {}
    for key, value in patch.items():
        if value is None:
            result.pop(key, None)
        else:
            result[key] = merge_patch(result.get(key), value)
    return result


def strategic_merge_patch(target: Any, patch: Any) -> Any:
    """A strategic merge patch: a merge patch, except that the lists of ``MERGE_KEYS`` merge
    item by item on their key (``$patch: delete`` removes one, ``$setElementOrder/<list>``
    orders the result) and ``$patch: replace`` replaces a whole map."""
    if not isinstance(patch, dict):
        return copy.deepcopy(patch)
    if patch.get("$patch") == "replace":
        return {k: v for k, v in patch.items() if k != "$patch"}
    result = dict(target) if isinstance(target, dict) else {}
    orders = {k.split("/", 1)[1]: v for k, v in patch.items() if k.startswith("$setElementOrder/")}
    for key, value in patch.items():
        if key.startswith("$"):
            continue  # $setElementOrder handled below, $retainKeys only narrows unions
        if value is None:
            result.pop(key, None)
        elif key in MERGE_KEYS and isinstance(value, list):
            result[key] = merge_list(result.get(key) or [], value, MERGE_KEYS[key])
        else:
            result[key] = strategic_merge_patch(result.get(key), value)
    for key, order in orders.items():
        merge_key = MERGE_KEYS.get(key)
        if merge_key is None or not isinstance(result.get(key), list):
            continue
        rank = {item.get(merge_key): i for i, item in enumerate(order)}
        result[key] = sorted(result[key], key=lambda item: rank.get(item.get(merge_key), len(rank)))
    return result


def merge_list(current: list[Obj], patch: list[Obj], merge_key: str) -> list[Obj]:
    if any(item.get("$patch") == "replace" for item in patch):
        return [i for i in patch if i.get("$patch") != "replace"]
    merged = [dict(item) for item in current]
    for item in patch:
        key = item.get(merge_key)
        found = next((m for m in merged if m.get(merge_key) == key), None)
        if item.get("$patch") == "delete":
            merged = [m for m in merged if m.get(merge_key) != key]
        elif found is not None:
            found.update(strategic_merge_patch(found, item))
        else:
            merged.append(strategic_merge_patch({}, item))
    return merged


def json_patch(target: Obj, operations: Any) -> Obj:
    """RFC 6902: add, remove, replace, test (what clients send for these objects)."""
    if not isinstance(operations, list):
        raise ApiFailure(400, "BadRequest", "a JSON patch is a list of operations")
    doc = copy.deepcopy(target)
    for op in operations:
        path = [p.replace("~1", "/").replace("~0", "~") for p in op["path"].split("/")[1:]]
        parent: Any = doc
        for part in path[:-1]:
            parent = parent[int(part)] if isinstance(parent, list) else parent.setdefault(part, {})
        last = path[-1]
        kind = op["op"]
        if isinstance(parent, list):
            index = len(parent) if last == "-" else int(last)
            if kind == "add":
                parent.insert(index, op["value"])
            elif kind == "remove":
                parent.pop(index)
            elif kind == "replace":
                parent[index] = op["value"]
            elif kind == "test" and parent[index] != op["value"]:
                raise ApiFailure(422, "Invalid", f"test of {op['path']} failed")
        elif kind in ("add", "replace"):
            parent[last] = op["value"]
        elif kind == "remove":
            parent.pop(last)
        elif kind == "test" and parent.get(last) != op["value"]:
            raise ApiFailure(422, "Invalid", f"test of {op['path']} failed")
    return doc


def selected(obj: Obj, labels: str | None, fields: str | None) -> bool:
    meta = obj.get("metadata", {})
    for term in filter(None, (labels or "").split(",")):
        key, _, value = term.partition("=")
        if meta.get("labels", {}).get(key.rstrip("=!")) != value.lstrip("="):
            return False
    for term in filter(None, (fields or "").split(",")):
        key, _, value = term.partition("=")
        value = value.lstrip("=")
        got = {"metadata.name": meta.get("name"), "metadata.namespace": meta.get("namespace")}
        if key not in got:
            raise ApiFailure(400, "BadRequest", f'field label not supported: "{key}"')
        if got[key] != value:
            return False
    return True


@dataclass
class Event:
    rv: int
    type: str
    resource: str
    obj: Obj


@dataclass
class Store:
    """Every object, the event history and the resourceVersion counter, behind one lock."""

    objects: dict[tuple[str, str, str], Obj] = field(default_factory=dict)
    history: list[Event] = field(default_factory=list)
    rv: int = 0
    #: The oldest resourceVersion a watch may resume from (older: 410 Gone).
    oldest: int = 0
    #: Bumped by compact(): open watches end when it changes.
    epoch: int = 0
    cond: threading.Condition = field(default_factory=threading.Condition)

    def _record(self, kind: Kind, event_type: str, obj: Obj) -> None:
        self.history.append(Event(self.rv, event_type, kind.resource, copy.deepcopy(obj)))
        self.cond.notify_all()

    def _bump(self, obj: Obj) -> None:
        self.rv += 1
        obj["metadata"]["resourceVersion"] = str(self.rv)

    def key(self, kind: Kind, namespace: str | None, name: str) -> tuple[str, str, str]:
        return (kind.resource, namespace or "", name)

    def get(self, kind: Kind, namespace: str | None, name: str) -> Obj:
        with self.cond:
            found = self.objects.get(self.key(kind, namespace, name))
            if found is None:
                raise not_found(kind, name)
            return copy.deepcopy(found)

    def list(self, kind: Kind, namespace: str | None) -> tuple[list[Obj], int]:
        with self.cond:
            items = [
                copy.deepcopy(o)
                for (resource, ns, _), o in sorted(self.objects.items())
                if resource == kind.resource and (namespace is None or ns == namespace)
            ]
            return items, self.rv

    def create(self, kind: Kind, namespace: str | None, obj: Obj) -> Obj:
        with self.cond:
            meta = obj.setdefault("metadata", {})
            name = meta.get("name")
            if not name and meta.get("generateName"):
                name = meta["generateName"] + uuid.uuid4().hex[:5]
                meta["name"] = name
            if not name:
                raise ApiFailure(422, "Invalid", f"{kind.kind} metadata.name: Required value")
            if kind.namespaced:
                if namespace is None or ("namespaces", "", namespace) not in self.objects:
                    raise not_found(KINDS["namespaces"], str(namespace))
                if meta.get("namespace", namespace) != namespace:
                    raise ApiFailure(
                        400, "BadRequest", "the namespace of the object does not match the URL"
                    )
                meta["namespace"] = namespace
            key = self.key(kind, namespace, name)
            if key in self.objects:
                raise ApiFailure(
                    409,
                    "AlreadyExists",
                    f'{kind.resource} "{name}" already exists',
                    {"name": name, "kind": kind.resource},
                )
            meta.update(uid=str(uuid.uuid4()), creationTimestamp=now_stamp())
            meta.pop("resourceVersion", None)
            stored = self._validated(kind, obj)
            self._bump(stored)
            self.objects[key] = stored
            self._record(kind, "ADDED", stored)
            if kind.resource == "namespaces":
                self._create_default_account(name)
            return copy.deepcopy(stored)

    def _create_default_account(self, namespace: str) -> None:
        account = {
            "apiVersion": "v1",
            "kind": "ServiceAccount",
            "metadata": {"name": "default", "namespace": namespace},
        }
        self.create(KINDS["serviceaccounts"], namespace, account)

    def replace(self, kind: Kind, namespace: str | None, name: str, obj: Obj) -> Obj:
        with self.cond:
            key = self.key(kind, namespace, name)
            current = self.objects.get(key)
            if current is None:
                raise not_found(kind, name)
            meta = obj.setdefault("metadata", {})
            if meta.get("name", name) != name:
                raise ApiFailure(400, "BadRequest", "the name of the object does not match the URL")
            wanted = meta.get("resourceVersion")
            if wanted and wanted != current["metadata"]["resourceVersion"]:
                raise conflict(kind, name)
            for fixed in ("uid", "creationTimestamp", "name"):
                meta[fixed] = current["metadata"][fixed]
            if kind.namespaced:
                meta["namespace"] = namespace
            stored = self._validated(kind, obj)
            if stored == current:
                return copy.deepcopy(current)  # a no-op write keeps its resourceVersion
            self._bump(stored)
            self.objects[key] = stored
            self._record(kind, "MODIFIED", stored)
            return copy.deepcopy(stored)

    def delete(self, kind: Kind, namespace: str | None, name: str) -> Obj:
        with self.cond:
            key = self.key(kind, namespace, name)
            current = self.objects.pop(key, None)
            if current is None:
                raise not_found(kind, name)
            if kind.resource == "namespaces":
                for other in [k for k in self.objects if k[0] != "namespaces" and k[1] == name]:
                    self.delete(KINDS[other[0]], other[1], other[2])
            self._bump(current)
            self._record(kind, "DELETED", current)
            return copy.deepcopy(current)

    def _validated(self, kind: Kind, obj: Obj) -> Obj:
        stored = copy.deepcopy(obj)
        stored["apiVersion"], stored["kind"] = "v1", kind.kind
        if kind.resource == "secrets":
            stored.setdefault("type", "Opaque")
            data = stored.setdefault("data", {}) or {}
            for key, text in (stored.pop("stringData", None) or {}).items():
                data[key] = base64.b64encode(str(text).encode()).decode()
            stored["data"] = data
            for key, value in data.items():
                try:
                    base64.b64decode(value, validate=True)
                except (binascii.Error, TypeError) as exc:
                    raise ApiFailure(422, "Invalid", f"data[{key}]: not base64") from exc
            if stored["type"] == DOCKERCONFIGJSON:
                raw = data.get(".dockerconfigjson")
                if raw is None:
                    raise ApiFailure(
                        422,
                        "Invalid",
                        'data[.dockerconfigjson]: Required value: for "kubernetes'
                        '.io/dockerconfigjson" secrets',
                    )
                try:
                    json.loads(base64.b64decode(raw))
                except ValueError as exc:
                    raise ApiFailure(
                        422, "Invalid", f"data[.dockerconfigjson]: Invalid value: {exc}"
                    ) from exc
        if kind.resource == "configmaps":
            for key, value in (stored.get("data") or {}).items():
                if not isinstance(value, str):
                    raise ApiFailure(422, "Invalid", f"data[{key}]: must be a string")
        return stored

    def compact(self) -> None:
        """As if writes no watcher here saw (events, leases) went by and the history was
        compacted past them: every open watch is behind, so its resume gets 410 Gone."""
        with self.cond:
            self.history.clear()
            self.rv += 1
            self.oldest = self.rv
            self.epoch += 1
            self.cond.notify_all()


SCHEMAS: Obj = openapi_v3()["components"]["schemas"]


def strictly_known(kind: Kind, obj: Obj) -> None:
    """``fieldValidation=Strict`` (what kubectl asks for): an unknown field of the object or
    of its metadata is refused, as the real server's strict decoding refuses it."""
    known = SCHEMAS[f"io.k8s.api.core.v1.{kind.kind}"]["properties"]
    known_meta = SCHEMAS["io.k8s.apimachinery.pkg.apis.meta.v1.ObjectMeta"]["properties"]
    unknown = [k for k in obj if k not in known]
    unknown += [f"metadata.{k}" for k in obj.get("metadata") or {} if k not in known_meta]
    if unknown:
        raise ApiFailure(
            400,
            "BadRequest",
            f'{kind.kind} in version "v1" cannot be handled as a {kind.kind}: strict decoding '
            + ", ".join(f'error: unknown field "{field}"' for field in unknown),
        )


class Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    server: StandIn

    def log_message(self, format: str, *args: Any) -> None:
        sys.stderr.write(f"standin: {self.command} {self.path} {format % args}\n")

    # --- plumbing -------------------------------------------------------------------------
    def send_json(self, code: int, body: Any) -> None:
        data = json.dumps(body).encode()
        self.send_response(code)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    def body(self) -> Any:
        raw = self.raw_body
        if not raw:
            raise ApiFailure(400, "BadRequest", "the request has no body")
        try:
            return json.loads(raw)
        except ValueError as exc:
            raise ApiFailure(400, "BadRequest", f"the body is not JSON: {exc}") from exc

    def dispatch(self) -> None:
        # Read every body, used or not (a DELETE's DeleteOptions): what is left unread would
        # be taken for the next request on the kept-alive connection.
        length = int(self.headers.get("Content-Length") or 0)
        self.raw_body = self.rfile.read(length) if length else b""
        url = urlsplit(self.path)
        query = {k: v[-1] for k, v in parse_qs(url.query).items()}
        parts = [p for p in url.path.split("/") if p]
        if parts[:1] != ["_standin"]:
            agent = self.headers.get("User-Agent", "")
            self.server.log_request_seen(self.command, url.path, query, agent)
        try:
            self.route(parts, query)
        except ApiFailure as failure:
            self.send_json(failure.code, failure.status())

    def do_GET(self) -> None:
        self.dispatch()

    do_POST = do_PUT = do_PATCH = do_DELETE = do_GET

    # --- routing --------------------------------------------------------------------------
    def route(self, parts: list[str], query: dict[str, str]) -> None:
        if parts == ["_standin", "compact"] and self.command == "POST":
            self.server.store.compact()
            return self.send_json(200, {"resourceVersion": self.server.store.rv})
        if parts == ["_standin", "requests"]:
            return self.send_json(200, self.server.requests_seen())
        if self.command == "GET" and self.discovery(parts):
            return None
        if parts[:2] != ["api", "v1"] or len(parts) < 3:
            raise ApiFailure(404, "NotFound", "the server could not find the requested resource")
        rest = parts[2:]
        namespace: str | None = None
        if rest[0] == "namespaces" and len(rest) >= 3:
            namespace, rest = rest[1], rest[2:]
        kind = KINDS.get(rest[0])
        if kind is None or len(rest) > 2 or (namespace is not None and not kind.namespaced):
            raise ApiFailure(404, "NotFound", "the server could not find the requested resource")
        name = rest[1] if len(rest) == 2 else None
        self.serve(kind, namespace, name, query)
        return None

    def discovery(self, parts: list[str]) -> bool:
        if parts == ["api"]:
            self.send_json(
                200,
                {
                    "kind": "APIVersions",
                    "versions": ["v1"],
                    "serverAddressByClientCIDRs": [
                        {"clientCIDR": "0.0.0.0/0", "serverAddress": self.headers["Host"]}
                    ],
                },
            )
        elif parts == ["api", "v1"]:
            resources = [
                {
                    "name": k.resource,
                    "singularName": k.singular,
                    "namespaced": k.namespaced,
                    "kind": k.kind,
                    "verbs": VERBS,
                    **({"shortNames": list(k.short_names)} if k.short_names else {}),
                }
                for k in KINDS.values()
            ]
            self.send_json(
                200,
                {"kind": "APIResourceList", "groupVersion": "v1", "resources": resources},
            )
        elif parts == ["openapi", "v3"]:
            url = f"/openapi/v3/api/v1?hash={OPENAPI_HASH}"
            self.send_json(200, {"paths": {"api/v1": {"serverRelativeURL": url}}})
        elif parts == ["openapi", "v3", "api", "v1"]:
            self.send_json(200, openapi_v3())
        elif parts == ["apis"]:
            self.send_json(200, {"kind": "APIGroupList", "apiVersion": "v1", "groups": []})
        elif parts == ["version"]:
            self.send_json(
                200,
                {
                    "major": "1",
                    "minor": "29",
                    "gitVersion": "v1.29.0-dockyard-standin",
                    "platform": "linux/amd64",
                },
            )
        else:
            return False
        return True

    def serve(
        self, kind: Kind, namespace: str | None, name: str | None, query: dict[str, str]
    ) -> None:
        store = self.server.store
        method = self.command
        strict = query.get("fieldValidation") == "Strict"
        if name is None:
            if method == "GET" and query.get("watch") in ("true", "1"):
                return self.watch(kind, namespace, query)
            if method == "GET":
                items, rv = store.list(kind, namespace)
                chosen = [
                    o
                    for o in items
                    if selected(o, query.get("labelSelector"), query.get("fieldSelector"))
                ]
                return self.send_json(
                    200,
                    {
                        "kind": f"{kind.kind}List",
                        "apiVersion": "v1",
                        "metadata": {"resourceVersion": str(rv)},
                        "items": chosen,
                    },
                )
            if method == "POST":
                target_ns = namespace if kind.namespaced else None
                if kind.namespaced and namespace is None:
                    raise ApiFailure(405, "MethodNotAllowed", "create needs a namespace")
                body = self.body()
                if strict:
                    strictly_known(kind, body)
                return self.send_json(201, store.create(kind, target_ns, body))
            raise ApiFailure(405, "MethodNotAllowed", f"{method} is not allowed on a collection")
        if kind.namespaced and namespace is None:
            raise ApiFailure(404, "NotFound", "the server could not find the requested resource")
        if method == "GET":
            return self.send_json(200, store.get(kind, namespace, name))
        if method == "PUT":
            body = self.body()
            if strict:
                strictly_known(kind, body)
            return self.send_json(200, store.replace(kind, namespace, name, body))
        if method == "DELETE":
            store.delete(kind, namespace, name)
            return self.send_json(
                200,
                {
                    "kind": "Status",
                    "apiVersion": "v1",
                    "status": "Success",
                    "details": {"name": name, "kind": kind.resource},
                },
            )
        if method == "PATCH":
            return self.patch(kind, namespace, name, strict)
        raise ApiFailure(405, "MethodNotAllowed", f"{method} is not allowed")

    def patch(self, kind: Kind, namespace: str | None, name: str, strict: bool) -> None:
        store = self.server.store
        content_type = (self.headers.get("Content-Type") or "").split(";")[0].strip()
        patch = self.body()
        with store.cond:
            current = store.get(kind, namespace, name)
            if content_type == "application/merge-patch+json":
                patched = merge_patch(current, patch)
            elif content_type == "application/strategic-merge-patch+json":
                patched = strategic_merge_patch(current, patch)
            elif content_type == "application/json-patch+json":
                patched = json_patch(current, patch)
            else:
                raise ApiFailure(
                    415,
                    "UnsupportedMediaType",
                    f"the body of the request was in an unknown format - accepted media types "
                    "include: application/json-patch+json, application/merge-patch+json, "
                    f"application/strategic-merge-patch+json (not {content_type})",
                )
            wanted = (
                (patch.get("metadata") or {}).get("resourceVersion")
                if isinstance(patch, dict)
                else None
            )
            if wanted and wanted != current["metadata"]["resourceVersion"]:
                raise conflict(kind, name)
            if strict:
                strictly_known(kind, patched)
            patched.setdefault("metadata", {})["resourceVersion"] = current["metadata"][
                "resourceVersion"
            ]
            self.send_json(200, store.replace(kind, namespace, name, patched))

    def watch(self, kind: Kind, namespace: str | None, query: dict[str, str]) -> None:
        store = self.server.store
        bookmarks = query.get("allowWatchBookmarks") == "true"
        timeout = float(query.get("timeoutSeconds") or 1800)
        deadline = time.monotonic() + timeout
        labels, fields = query.get("labelSelector"), query.get("fieldSelector")
        self.send_response(200)
        self.send_header("Content-Type", "application/json")
        self.send_header("Transfer-Encoding", "chunked")
        self.end_headers()

        def emit(event_type: str, obj: Obj) -> None:
            line = json.dumps({"type": event_type, "object": obj}).encode() + b"\n"
            self.wfile.write(b"%x\r\n%s\r\n" % (len(line), line))
            self.wfile.flush()

        def matches(event: Event) -> bool:
            ns = event.obj["metadata"].get("namespace")
            return (
                event.resource == kind.resource
                and (namespace is None or ns == namespace)
                and selected(event.obj, labels, fields)
            )

        try:
            with store.cond:
                epoch = store.epoch
                since_text = query.get("resourceVersion") or ""
                if since_text in ("", "0"):
                    items, since = store.list(kind, namespace)
                    pending = [("ADDED", o) for o in items if selected(o, labels, fields)]
                else:
                    since = int(since_text)
                    if since < store.oldest:
                        gone = ApiFailure(
                            410,
                            "Expired",
                            f"too old resource version: {since} ({store.oldest})",
                        )
                        pending = [("ERROR", gone.status())]
                        since = -1
                    else:
                        pending = []
            for event_type, obj in pending:
                emit(event_type, obj)
            if since < 0:
                return self.end_stream()
            last_bookmark = time.monotonic()
            while time.monotonic() < deadline:
                with store.cond:
                    news = [e for e in store.history if e.rv > since]
                    if not news and store.epoch == epoch:
                        store.cond.wait(timeout=min(1.0, max(0.0, deadline - time.monotonic())))
                        news = [e for e in store.history if e.rv > since]
                    if store.epoch != epoch:
                        break
                    current_rv = store.rv
                for event in news:
                    since = event.rv
                    if matches(event):
                        emit(event.type, event.obj)
                if bookmarks and time.monotonic() - last_bookmark >= self.server.bookmark_every:
                    since = max(since, current_rv)
                    emit(
                        "BOOKMARK",
                        {
                            "kind": kind.kind,
                            "apiVersion": "v1",
                            "metadata": {"resourceVersion": str(since)},
                        },
                    )
                    last_bookmark = time.monotonic()
            self.end_stream()
        except (BrokenPipeError, ConnectionResetError):
            self.close_connection = True

    def end_stream(self) -> None:
        """The last chunk; the connection stays open for the client's next request."""
        self.wfile.write(b"0\r\n\r\n")
        self.wfile.flush()


class StandIn(ThreadingHTTPServer):
    daemon_threads = True

    def __init__(self, port: int, bookmark_every: float) -> None:
        super().__init__(("127.0.0.1", port), Handler)
        self.store = Store()
        self.bookmark_every = bookmark_every
        self._requests: list[Obj] = []
        self._requests_lock = threading.Lock()
        for namespace in ("default", "kube-system", "kube-public"):
            self.store.create(KINDS["namespaces"], None, {"metadata": {"name": namespace}})

    def log_request_seen(self, method: str, path: str, query: dict[str, str], agent: str) -> None:
        with self._requests_lock:
            self._requests.append({"method": method, "path": path, "query": query, "agent": agent})

    def requests_seen(self) -> list[Obj]:
        with self._requests_lock:
            return list(self._requests)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--port", type=int, required=True)
    parser.add_argument("--bookmark-every", type=float, default=5.0)
    args = parser.parse_args()
    server = StandIn(args.port, args.bookmark_every)
    print("ready", flush=True)
    server.serve_forever()


if __name__ == "__main__":
    main()
