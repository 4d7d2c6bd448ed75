"""The kill -9 crash loop's machinery: server control, the ledger, writers and verifier.

* Server control: SIGKILL of a whole ``dockyard serve`` process group and a restart on the
  same data. Built on :class:`tests.conftest.DockyardServer`: ``start()`` on the same
  object reuses its data directory and its port, so a restart is ``kill_group(server)``
  followed by ``server.start()``.
* The ledger (:class:`Model`) of acknowledged operations, the :class:`Writer` threads that
  make them and the :class:`Verifier` that checks a restarted registry against it (see
  ``tests/crash/test_kill_loop.py`` for the rules).

Writers and the verifier take one base URL or several. With several (nodes of one
registry), a writer sends each request to a node of its own seeded choice, so consecutive
chunks of one upload land on different nodes; a request refused at connect time (it never
reached a node, e.g. the killed one) is sent to the next node, as a load balancer does.
The verifier spreads its reads over all nodes. With one URL, behaviour is exactly the
single-node loop's.
"""

from __future__ import annotations

import contextlib
import hashlib
import itertools
import json
import os
import random
import signal
import threading
import time
import traceback
from collections import Counter
from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any
from urllib.parse import urlsplit

import httpx
import pytest
from tests.e2e.regclient import OCI_CONFIG, OCI_LAYER_GZIP, OCI_MANIFEST, describe, error_codes

if TYPE_CHECKING:
    from tests.conftest import DockyardServer

GROUP_GONE_TIMEOUT = 10.0


def live_group_members(pgid: int) -> list[int]:
    """PIDs in process group ``pgid`` that are not zombies (Linux /proc)."""
    found = []
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            stat = (entry / "stat").read_text()
        except OSError:
            continue
        # pid (comm) state ppid pgrp ... ; comm may contain spaces and parentheses.
        fields = stat[stat.rfind(")") + 2 :].split()
        if len(fields) >= 3 and fields[0] != "Z" and int(fields[2]) == pgid:
            found.append(int(entry.name))
    return found


def note(server: DockyardServer, text: str) -> None:
    """A marker line in the server log, so kills and restarts are easy to find."""
    with open(server.log_path, "ab") as f:
        f.write(f"\n=== crash-loop: {text}\n".encode())


def kill_group(server: DockyardServer) -> None:
    """``kill -9`` of the whole server: the parent and every worker, at once."""
    proc = server.proc
    assert proc is not None, "server is not running"
    pgid = proc.pid  # start_new_session=True: the parent leads its own process group
    os.killpg(pgid, signal.SIGKILL)
    proc.wait(timeout=GROUP_GONE_TIMEOUT)
    deadline = time.monotonic() + GROUP_GONE_TIMEOUT
    while (left := live_group_members(pgid)) and time.monotonic() < deadline:
        with contextlib.suppress(ProcessLookupError):
            os.killpg(pgid, signal.SIGKILL)
        time.sleep(0.05)
    assert not left, f"processes of the killed server survive SIGKILL: {left}"
    server.stop()  # closes the log handle and forgets the process; nothing left to signal


# -- the ledger, writers and verifier ----------------------------------------------------

REPOS = ("crash/alpha", "crash/beta", "crash/gamma")
TAGS_PER_WRITER = 6
REQUEST_TIMEOUT = 20.0
#: Keys untouched by a trial were verified before; each trial re-reads a sample of them,
#: the last trial all of them (GET and hash for every blob).
SAMPLE_OLDER_KEYS = 40
VERIFY_THREADS = 4
#: Retry an unanswered bodyless final PUT even when GET status says BLOB_UPLOAD_UNKNOWN
#: (a client retrying its last request). "0" only resumes what GET status still knows.
RETRY_FINAL_PUT = os.environ.get("DOCKYARD_CRASH_RETRY_FINAL_PUT", "1").strip() != "0"

#: Logical write operations and their weights.
OPS = {
    "chunked_upload": 26,
    "monolithic_upload": 20,
    "manifest_push": 28,
    "retag": 8,
    "tag_delete": 9,
    "manifest_delete": 9,
}

Key = tuple[str, str, str]  # ("blob" | "manifest" | "tag", repository, digest-or-tag)


def sha256(data: bytes) -> str:
    return "sha256:" + hashlib.sha256(data).hexdigest()


def local(location: str) -> str:
    """A Location header as a path: the server names itself by the port it had then."""
    parts = urlsplit(location)
    return parts.path + (f"?{parts.query}" if parts.query else "")


class Bearer:
    """A Docker token for every repository of the loop and the catalog.

    Basic credentials on every request would do, but each worker process verifies them
    with argon2 once (deliberately slow), and five writers racing for that right after a
    restart would eat most of the time before the kill. A token is fetched once and kept
    across restarts while the restarted server still accepts it.
    """

    MAX_AGE = 200.0  # seconds; tokens live 300 s by default

    def __init__(self, auth: tuple[str, str]) -> None:
        self.auth = auth
        self.headers: dict[str, str] = {}
        self.issued = 0.0

    def for_server(self, base_url: str) -> dict[str, str]:
        if self.headers and time.monotonic() - self.issued < self.MAX_AGE:
            probe = httpx.get(f"{base_url}/v2/", headers=self.headers, timeout=REQUEST_TIMEOUT)
            if probe.status_code == 200:
                return self.headers
        scopes = [("scope", f"repository:{r}:pull,push,delete") for r in REPOS]
        resp = httpx.get(
            f"{base_url}/auth/token",
            params=[("service", "dockyard"), *scopes, ("scope", "registry:catalog:*")],
            auth=self.auth,
            timeout=REQUEST_TIMEOUT,
        )
        assert resp.status_code == 200, f"token request failed\n{describe(resp)}"
        self.headers = {"Authorization": f"Bearer {resp.json()['token']}"}
        self.issued = time.monotonic()
        return self.headers


def env_int(name: str, default: int) -> int:
    raw = os.environ.get(name, "").strip()
    return int(raw) if raw else default


class Interrupted(Exception):
    """The server went away mid-request: the operation is in flight, outcome unknown."""


class Unexpected(Exception):
    """The server answered, but not what the protocol promises (recorded as an error)."""


@dataclass
class Pending:
    """An operation without acknowledgement: the keys it touches and the joint outcomes."""

    desc: str
    keys: tuple[Key, ...]
    alternatives: list[tuple[Any, ...]]  # one value per key: before, after


@dataclass
class Session:
    """An upload session that was started but not finished when the server died."""

    repo: str
    location: str
    data: bytes
    digest: str
    acked: int  # bytes the server acknowledged
    attempted: int  # acked + the bytes of the request in flight
    bodyless_put_in_flight: bool
    desc: str


@dataclass
class OpRecord:
    trial: int
    writer: int
    op: str
    keys: tuple[Key, ...]
    t0: float
    t1: float
    outcome: str  # "ack" | "in-flight" | "unexpected ..." | ...

    def __str__(self) -> str:
        keys = ", ".join("/".join(k) for k in self.keys)
        return (
            f"  trial {self.trial} w{self.writer} +{self.t0:.3f}..{self.t1:.3f}s "
            f"{self.op} [{keys}] -> {self.outcome}"
        )


@dataclass
class Stats:
    acked: Counter[str] = field(default_factory=Counter)
    in_flight: int = 0
    resumed: int = 0
    lost: list[str] = field(default_factory=list)
    corrupt: list[str] = field(default_factory=list)
    errors: list[str] = field(default_factory=list)  # 5xx, unexpected statuses, crashes
    restart_seconds: list[float] = field(default_factory=list)


class Model:
    """The ledger: what the registry must show, from acknowledged operations only."""

    def __init__(self) -> None:
        self.lock = threading.Lock()
        self.state: dict[Key, Any] = {}  # blob/manifest: bool present; tag: digest | None
        self.blob_size: dict[str, int] = {}
        self.manifest_body: dict[str, bytes] = {}  # digest -> bytes (unique per push)
        self.manifest_owner: dict[Key, int] = {}
        self.tag_history: dict[Key, set[str]] = {}
        self.pending: list[Pending] = []
        self.sessions: list[Session] = []
        self.touched: set[Key] = set()  # keys written during the current trial
        self.ops: list[OpRecord] = []
        self.stats = Stats()
        self.t_start = 0.0

    # -- writers ---------------------------------------------------------------------------
    def get(self, key: Key, default: Any = None) -> Any:
        with self.lock:
            return self.state.get(key, default)

    def ack(self, kind: str, updates: dict[Key, Any]) -> None:
        with self.lock:
            self.stats.acked[kind] += 1
            for key, value in updates.items():
                self.state[key] = value
                self.touched.add(key)
                if key[0] == "tag" and value is not None:
                    self.tag_history.setdefault(key, set()).add(value)

    def in_flight(self, pending: Pending, sent: bool) -> None:
        """An operation without an answer; ``sent`` False when it never reached the server."""
        with self.lock:
            for i, key in enumerate(pending.keys):
                self.state.setdefault(key, pending.alternatives[0][i])
                self.touched.add(key)
            if not sent:
                return  # connection refused: it certainly did not apply
            self.stats.in_flight += 1
            self.pending.append(pending)
            for key, value in zip(pending.keys, pending.alternatives[-1], strict=True):
                if key[0] == "tag" and value is not None:
                    self.tag_history.setdefault(key, set()).add(value)

    def present_blobs(self, repo: str) -> list[str]:
        with self.lock:
            return sorted(
                k[2] for k, v in self.state.items() if k[0] == "blob" and k[1] == repo and v
            )

    def owned_tags(self, writer: int, repo: str, present: bool) -> list[str]:
        prefix = f"w{writer}-"
        with self.lock:
            return sorted(
                k[2]
                for k, v in self.state.items()
                if k[0] == "tag"
                and k[1] == repo
                and k[2].startswith(prefix)
                and (v is not None) == present
            )

    def owned_manifests(self, writer: int, repo: str) -> list[str]:
        with self.lock:
            return sorted(
                k[2]
                for k, owner in self.manifest_owner.items()
                if owner == writer and k[1] == repo and self.state.get(k)
            )

    def tags_pointing_to(self, repo: str, digest: str) -> list[Key]:
        with self.lock:
            return sorted(
                k for k, v in self.state.items() if k[0] == "tag" and k[1] == repo and v == digest
            )

    def record(self, rec: OpRecord) -> None:
        with self.lock:
            self.ops.append(rec)

    def error(self, text: str) -> None:
        with self.lock:
            self.stats.errors.append(text)

    # -- expectations ----------------------------------------------------------------------
    def expected(self, key: Key) -> set[Any]:
        for p in self.pending:
            if key in p.keys:
                i = p.keys.index(key)
                return {alt[i] for alt in p.alternatives}
        return {self.state.get(key, None if key[0] == "tag" else False)}

    def history_of(self, keys: set[Key]) -> str:
        lines = [str(r) for r in self.ops if keys & set(r.keys)]
        return "\n".join(lines[-30:]) or "  (no operations recorded)"


# -- the writers --------------------------------------------------------------------------


class Writer(threading.Thread):
    def __init__(
        self,
        idx: int,
        trial: int,
        seed: int,
        base_url: str | Sequence[str],
        auth: dict[str, str],
        model: Model,
        stop: threading.Event,
    ) -> None:
        super().__init__(name=f"crash-writer-{idx}", daemon=True)
        self.idx = idx
        self.trial = trial
        self.rng = random.Random(f"{seed}:{trial}:{idx}")
        # Which node takes each request: a stream of its own, so the operations drawn from
        # ``rng`` are the same whatever the number of nodes.
        self.node_rng = random.Random(f"{seed}:{trial}:{idx}:node")
        urls = [base_url] if isinstance(base_url, str) else list(base_url)
        self.clients = [
            httpx.Client(base_url=u, headers=auth, timeout=REQUEST_TIMEOUT) for u in urls
        ]
        self.model = model
        self.stop = stop

    def run(self) -> None:
        try:
            while not self.stop.is_set():
                op = self.rng.choices(list(OPS), weights=list(OPS.values()))[0]
                getattr(self, op)()
        except (Interrupted, Unexpected):
            pass
        except Exception:
            self.model.error(f"writer w{self.idx} crashed:\n{traceback.format_exc()}")
        finally:
            for client in self.clients:
                client.close()

    # -- plumbing --------------------------------------------------------------------------
    def _request(self, method: str, url: str, **kw: Any) -> httpx.Response:
        """One request to one node; with several, a seeded choice, and the next node when
        the connection is refused (the request never reached the node: safe to resend)."""
        if len(self.clients) == 1:
            return self.clients[0].request(method, url, **kw)
        first = self.node_rng.randrange(len(self.clients))
        order = self.clients[first:] + self.clients[:first]
        for client in order[:-1]:
            try:
                return client.request(method, url, **kw)
            except httpx.ConnectError:
                continue
        return order[-1].request(method, url, **kw)

    def _send(
        self,
        op: str,
        keys: tuple[Key, ...],
        method: str,
        url: str,
        want: int,
        on_flight: Callable[[bool], None],
        **kw: Any,
    ) -> httpx.Response:
        t0 = time.monotonic() - self.model.t_start
        try:
            resp = self._request(method, url, **kw)
        except httpx.TransportError as exc:
            # A refused connection never carried the request; anything else may have.
            sent = not isinstance(exc, httpx.ConnectError)
            on_flight(sent)
            self.model.record(
                OpRecord(
                    self.trial,
                    self.idx,
                    op,
                    keys,
                    t0,
                    time.monotonic() - self.model.t_start,
                    f"{'in flight' if sent else 'not sent'} ({type(exc).__name__})",
                )
            )
            raise Interrupted from exc
        t1 = time.monotonic() - self.model.t_start
        if resp.status_code != want:
            self.model.record(
                OpRecord(self.trial, self.idx, op, keys, t0, t1, f"HTTP {resp.status_code}")
            )
            self.model.error(
                f"trial {self.trial} w{self.idx} {op}: expected {want}\n{describe(resp)}"
            )
            # Nothing is known about what a wrong answer did: treat it like a request in flight.
            on_flight(True)
            raise Unexpected
        self.model.record(OpRecord(self.trial, self.idx, op, keys, t0, t1, f"{want} ack"))
        return resp

    @staticmethod
    def _nothing(sent: bool) -> None:
        return None

    def _blob_bytes(self) -> bytes:
        r = self.rng.random()
        if r < 0.70:
            n = self.rng.randint(1024, 64 * 1024)
        elif r < 0.95:
            n = self.rng.randint(64 * 1024, 512 * 1024)
        else:
            n = self.rng.randint(512 * 1024, 2 * 1024 * 1024)
        return self.rng.randbytes(n)

    def _tag(self) -> str:
        return f"w{self.idx}-{self.rng.randrange(TAGS_PER_WRITER)}"

    # -- blob uploads ----------------------------------------------------------------------
    def chunked_upload(self) -> None:
        data = self._blob_bytes()
        nchunks = self.rng.randint(2, 4)
        cuts = sorted(self.rng.sample(range(1, len(data)), nchunks - 1))
        bounds = list(zip([0, *cuts], [*cuts, len(data)], strict=True))
        final_in_put = self.rng.random() < 0.5
        patches = bounds[:-1] if final_in_put else bounds
        self._session_upload("chunked_upload", data, patches, bounds[-1] if final_in_put else None)

    def monolithic_upload(self) -> None:
        data = self._blob_bytes()
        repo = self.rng.choice(REPOS)
        if self.rng.random() < 0.5:
            digest = sha256(data)
            key: Key = ("blob", repo, digest)
            with self.model.lock:
                self.model.blob_size[digest] = len(data)
            self._send(
                "monolithic POST ?digest",
                (key,),
                "POST",
                f"/v2/{repo}/blobs/uploads/",
                201,
                lambda sent: self.model.in_flight(
                    Pending(f"w{self.idx} monolithic POST", (key,), [(False,), (True,)]), sent
                ),
                params={"digest": digest},
                content=data,
                headers={"Content-Type": "application/octet-stream"},
            )
            self._blob_acked(repo, digest, len(data))
        else:
            self._session_upload("monolithic POST+PUT", data, [], (0, len(data)), repo=repo)

    def _session_upload(
        self,
        op: str,
        data: bytes,
        patches: list[tuple[int, int]],
        final: tuple[int, int] | None,
        repo: str | None = None,
    ) -> None:
        repo = repo or self.rng.choice(REPOS)
        digest = sha256(data)
        key: Key = ("blob", repo, digest)
        with self.model.lock:
            self.model.state.setdefault(key, False)  # never visible unless finished
            self.model.blob_size[digest] = len(data)
            self.model.touched.add(key)
        resp = self._send(
            f"{op}: POST", (key,), "POST", f"/v2/{repo}/blobs/uploads/", 202, self._nothing
        )
        location = local(resp.headers["location"])
        acked = 0

        def session(attempted: int, bodyless_put: bool, what: str) -> Callable[[bool], None]:
            def record(sent: bool) -> None:
                with self.model.lock:
                    self.model.sessions.append(
                        Session(
                            repo,
                            location,
                            data,
                            digest,
                            acked,
                            attempted if sent else acked,
                            bodyless_put and sent,
                            f"w{self.idx} {op}: {what}{'' if sent else ' (not sent)'}",
                        )
                    )

            return record

        for start, end in patches:
            resp = self._send(
                f"{op}: PATCH {start}-{end - 1}",
                (key,),
                "PATCH",
                location,
                202,
                session(end, False, f"PATCH {start}-{end - 1} in flight"),
                content=data[start:end],
                headers={
                    "Content-Type": "application/octet-stream",
                    "Content-Range": f"{start}-{end - 1}",
                },
            )
            acked = end
            if resp.headers.get("range") != f"0-{end - 1}":
                self.model.error(f"{op}: PATCH acknowledged with a wrong Range\n{describe(resp)}")
                raise Unexpected
            location = local(resp.headers.get("location") or location)

        headers = {"Content-Type": "application/octet-stream"}
        body = b""
        if final is not None:
            body = data[final[0] : final[1]]
            headers["Content-Range"] = f"{final[0]}-{final[1] - 1}"
        flight_session = session(len(data), not body, "final PUT in flight")

        def on_flight(sent: bool) -> None:
            flight_session(sent)
            self.model.in_flight(
                Pending(f"w{self.idx} {op}: PUT", (key,), [(False,), (True,)]), sent
            )

        resp = self._send(
            f"{op}: PUT ?digest",
            (key,),
            "PUT",
            location,
            201,
            on_flight,
            params={"digest": digest},
            content=body,
            headers=headers,
        )
        if resp.headers.get("docker-content-digest") != digest:
            self.model.error(f"{op}: PUT acknowledged with a wrong digest\n{describe(resp)}")
        self._blob_acked(repo, digest, len(data))

    def _blob_acked(self, repo: str, digest: str, size: int) -> None:
        with self.model.lock:
            self.model.blob_size[digest] = size
        self.model.ack("blob", {("blob", repo, digest): True})

    # -- manifests and tags ----------------------------------------------------------------
    def manifest_push(self) -> None:
        repo = self.rng.choice(REPOS)
        blobs = self.model.present_blobs(repo)
        if not blobs:
            self.monolithic_upload()
            return
        chosen = self.rng.sample(blobs, min(len(blobs), self.rng.randint(1, 4)))
        with self.model.lock:
            sizes = [self.model.blob_size[d] for d in chosen]
        doc = {
            "schemaVersion": 2,
            "mediaType": OCI_MANIFEST,
            "config": {"mediaType": OCI_CONFIG, "digest": chosen[0], "size": sizes[0]},
            "layers": [
                {"mediaType": OCI_LAYER_GZIP, "digest": d, "size": s}
                for d, s in zip(chosen[1:], sizes[1:], strict=True)
            ],
            "annotations": {
                "org.dockyard.crash.writer": f"w{self.idx}",
                "org.dockyard.crash.nonce": self.rng.randbytes(8).hex(),
            },
        }
        body = json.dumps(doc, separators=(",", ":")).encode()
        digest = sha256(body)
        mkey: Key = ("manifest", repo, digest)
        with self.model.lock:
            self.model.manifest_body[digest] = body
            self.model.manifest_owner[mkey] = self.idx
            self.model.state.setdefault(mkey, False)
        tag = self._tag() if self.rng.random() < 0.9 else None
        self._put_manifest("manifest_push", repo, digest, tag)

    def retag(self) -> None:
        repo = self.rng.choice(REPOS)
        manifests = self.model.owned_manifests(self.idx, repo)
        if not manifests:
            self.manifest_push()
            return
        self._put_manifest("retag", repo, self.rng.choice(manifests), self._tag())

    def _put_manifest(self, op: str, repo: str, digest: str, tag: str | None) -> None:
        mkey: Key = ("manifest", repo, digest)
        keys: tuple[Key, ...] = (mkey,) if tag is None else (mkey, ("tag", repo, tag))
        before = tuple(self.model.get(k, None if k[0] == "tag" else False) for k in keys)
        after = (True,) if tag is None else (True, digest)
        with self.model.lock:
            body = self.model.manifest_body[digest]
        resp = self._send(
            f"{op} {tag or '(by digest)'}",
            keys,
            "PUT",
            f"/v2/{repo}/manifests/{tag or digest}",
            201,
            lambda sent: self.model.in_flight(
                Pending(f"w{self.idx} {op}", keys, [before, after]), sent
            ),
            content=body,
            headers={"Content-Type": OCI_MANIFEST},
        )
        if resp.headers.get("docker-content-digest") != digest:
            self.model.error(f"{op}: acknowledged with a wrong digest\n{describe(resp)}")
        self.model.ack("manifest_push", dict(zip(keys, after, strict=True)))

    def tag_delete(self) -> None:
        repo = self.rng.choice(REPOS)
        tags = self.model.owned_tags(self.idx, repo, present=True)
        if not tags:
            self.manifest_push()
            return
        key: Key = ("tag", repo, self.rng.choice(tags))
        before = self.model.get(key)
        self._send(
            "tag_delete",
            (key,),
            "DELETE",
            f"/v2/{repo}/manifests/{key[2]}",
            202,
            lambda sent: self.model.in_flight(
                Pending(f"w{self.idx} tag_delete", (key,), [(before,), (None,)]), sent
            ),
        )
        self.model.ack("tag_delete", {key: None})

    def manifest_delete(self) -> None:
        repo = self.rng.choice(REPOS)
        manifests = self.model.owned_manifests(self.idx, repo)
        if not manifests:
            self.manifest_push()
            return
        digest = self.rng.choice(manifests)
        keys: tuple[Key, ...] = (
            ("manifest", repo, digest),
            *self.model.tags_pointing_to(repo, digest),
        )
        before = (True,) + (digest,) * (len(keys) - 1)
        after = (False,) + (None,) * (len(keys) - 1)
        self._send(
            "manifest_delete",
            keys,
            "DELETE",
            f"/v2/{repo}/manifests/{digest}",
            202,
            lambda sent: self.model.in_flight(
                Pending(f"w{self.idx} manifest_delete", keys, [before, after]), sent
            ),
        )
        self.model.ack("manifest_delete", dict(zip(keys, after, strict=True)))


# -- verification -------------------------------------------------------------------------


class Verifier:
    """Compares a restarted registry with the ledger, then collapses the ledger onto it."""

    def __init__(
        self, model: Model, base_url: str | Sequence[str], auth: dict[str, str], trial: int
    ) -> None:
        self.m = model
        urls = [base_url] if isinstance(base_url, str) else list(base_url)
        # Several nodes: requests go round-robin, so a check often spans nodes (HEAD on
        # one, GET on the next; an upload resumed on another node than its status).
        self.clients = [
            httpx.Client(base_url=u, headers=auth, timeout=REQUEST_TIMEOUT) for u in urls
        ]
        self._turn = itertools.count()
        self.trial = trial
        self.observed: dict[Key, Any] = {}

    def close(self) -> None:
        for client in self.clients:
            client.close()

    # -- reporting -------------------------------------------------------------------------
    def _report(self, bucket: list[str], key: Key | None, text: str) -> None:
        history = self.m.history_of({key}) if key is not None else ""
        bucket.append(f"trial {self.trial}: {text}\n{history}")

    def lost(self, key: Key, text: str) -> None:
        self._report(self.m.stats.lost, key, text)

    def corrupt(self, key: Key | None, text: str) -> None:
        self._report(self.m.stats.corrupt, key, text)

    def error(self, key: Key | None, text: str) -> None:
        self._report(self.m.stats.errors, key, text)

    def request(self, key: Key | None, method: str, url: str, **kw: Any) -> httpx.Response | None:
        try:
            client = self.clients[next(self._turn) % len(self.clients)]
            resp = client.request(method, url, **kw)
        except httpx.TransportError as exc:
            self.error(key, f"{method} {url}: {exc!r} (server alive? it passed /readyz)")
            return None
        if resp.status_code >= 500:
            self.error(key, f"5xx after restart\n{describe(resp)}")
            return None
        return resp

    # -- checks ----------------------------------------------------------------------------
    def run(self, full: bool, rng: random.Random) -> None:
        """Check what this trial touched, every tag, and a sample of older keys (all when
        ``full``), then settle the ledger onto what the server showed."""
        m = self.m
        touched = set(m.touched) | {k for p in m.pending for k in p.keys}
        older = [k for k in sorted(m.state) if k not in touched and k[0] != "tag"]
        if not full:
            older = rng.sample(older, min(len(older), SAMPLE_OLDER_KEYS))
        tags = {k for k in m.state if k[0] == "tag"}
        checks: list[Callable[[], None]] = []
        for key in sorted(touched | set(older) | tags):
            if key[0] == "blob":
                checks.append(lambda key=key: self.check_blob(key))
            elif key[0] == "manifest":
                checks.append(lambda key=key: self.check_manifest(key))
            else:
                checks.append(lambda key=key: self.check_tag(key))
        with ThreadPoolExecutor(VERIFY_THREADS) as pool:
            for future in [pool.submit(check) for check in checks]:
                future.result()
        self.check_atomicity()
        self.check_tag_targets()
        self.check_listings()
        for s in m.sessions:
            self.check_session(s)
        # The ledger now mirrors the server exactly: in-flight outcomes are settled.
        for key, value in self.observed.items():
            m.state[key] = value
        m.pending.clear()
        m.sessions.clear()
        m.touched.clear()

    def _settle(self, key: Key, observed: Any, what: str) -> None:
        self.observed[key] = observed
        expected = self.m.expected(key)
        if observed in expected:
            return
        acked_value = self.m.state.get(key)
        if key[0] == "tag":
            if observed is None or observed in self.m.tag_history.get(key, set()):
                self.lost(key, f"tag {key[1]}:{key[2]} is {observed}, expected one of {expected}")
            else:
                self.corrupt(key, f"tag {key[1]}:{key[2]} points to unknown {observed}")
        elif observed:
            # Present although only an acknowledged delete (or nothing) was ever sent.
            bucket = self.lost if key[0] == "manifest" else self.corrupt
            bucket(key, f"{what} visible, expected {expected} (ledger: {acked_value})")
        else:
            self.lost(key, f"{what} missing, expected {expected} (ledger: {acked_value})")

    def check_blob(self, key: Key) -> None:
        _, repo, digest = key
        size = self.m.blob_size[digest]
        head = self.request(key, "HEAD", f"/v2/{repo}/blobs/{digest}")
        if head is None:
            return
        if head.status_code == 200:
            if int(head.headers.get("content-length", -1)) != size:
                self.corrupt(
                    key,
                    f"HEAD {repo}@{digest}: size {head.headers.get('content-length')} != {size}",
                )
            if head.headers.get("docker-content-digest") != digest:
                self.corrupt(key, f"HEAD {repo}@{digest}: wrong digest header\n{describe(head)}")
            # Whatever HEAD shows must be whole: read it all and hash it.
            self.read_blob(key)
            self._settle(key, True, f"blob {repo}@{digest}")
        elif head.status_code == 404:
            self._settle(key, False, f"blob {repo}@{digest}")
        else:
            self.error(key, f"HEAD blob: unexpected status\n{describe(head)}")

    def read_blob(self, key: Key) -> bool:
        _, repo, digest = key
        resp = self.request(key, "GET", f"/v2/{repo}/blobs/{digest}")
        if resp is None:
            return False
        if resp.status_code != 200:
            self.corrupt(key, f"HEAD says present but GET answers\n{describe(resp)}")
            return False
        if sha256(resp.content) != digest or len(resp.content) != self.m.blob_size[digest]:
            self.corrupt(
                key,
                f"GET {repo}@{digest}: {len(resp.content)} bytes hashing to {sha256(resp.content)}",
            )
            return False
        return True

    def check_manifest(self, key: Key) -> None:
        _, repo, digest = key
        resp = self.request(
            key, "GET", f"/v2/{repo}/manifests/{digest}", headers={"Accept": OCI_MANIFEST}
        )
        if resp is None:
            return
        if resp.status_code == 200:
            if resp.content != self.m.manifest_body[digest] or sha256(resp.content) != digest:
                self.corrupt(
                    key, f"manifest {repo}@{digest}: different bytes ({sha256(resp.content)})"
                )
            if resp.headers.get("docker-content-digest") != digest:
                self.corrupt(
                    key, f"manifest {repo}@{digest}: wrong digest header\n{describe(resp)}"
                )
            self._settle(key, True, f"manifest {repo}@{digest}")
        elif resp.status_code == 404 and "MANIFEST_UNKNOWN" in error_codes(resp):
            self._settle(key, False, f"manifest {repo}@{digest}")
        elif resp.status_code == 404 and "NAME_UNKNOWN" in error_codes(resp):
            self._settle(key, False, f"manifest {repo}@{digest} (repository unknown)")
        else:
            self.error(key, f"GET manifest: unexpected status\n{describe(resp)}")

    def check_tag(self, key: Key) -> None:
        _, repo, tag = key
        resp = self.request(
            key, "GET", f"/v2/{repo}/manifests/{tag}", headers={"Accept": OCI_MANIFEST}
        )
        if resp is None:
            return
        if resp.status_code == 200:
            digest = resp.headers.get("docker-content-digest", "")
            if sha256(resp.content) != digest:
                self.corrupt(
                    key,
                    f"tag {repo}:{tag}: body hashes to {sha256(resp.content)}, "
                    f"header says {digest}",
                )
            elif digest in self.m.manifest_body and resp.content != self.m.manifest_body[digest]:
                self.corrupt(key, f"tag {repo}:{tag}: bytes differ from those pushed")
            self._settle(key, digest, f"tag {repo}:{tag}")
        elif resp.status_code == 404 and {"MANIFEST_UNKNOWN", "NAME_UNKNOWN"} & set(
            error_codes(resp)
        ):
            self._settle(key, None, f"tag {repo}:{tag}")
        else:
            self.error(key, f"GET tag: unexpected status\n{describe(resp)}")

    def check_atomicity(self) -> None:
        for p in self.m.pending:
            if not all(k in self.observed for k in p.keys):
                continue  # already reported as an error
            seen = tuple(self.observed[k] for k in p.keys)
            if seen not in p.alternatives:
                self.corrupt(
                    p.keys[0],
                    f"in-flight {p.desc} applied partly: {seen}, "
                    f"allowed {p.alternatives} for {p.keys}",
                )

    def check_tag_targets(self) -> None:
        for key, value in self.observed.items():
            if key[0] == "tag" and value is not None:
                mkey = ("manifest", key[1], value)
                if mkey in self.observed and not self.observed[mkey]:
                    self.corrupt(
                        key,
                        f"tag {key[1]}:{key[2]} resolves to {value}, which GET by "
                        "digest does not find",
                    )

    def check_listings(self) -> None:
        live_repos = set()
        for repo in REPOS:
            resp = self.request(None, "GET", f"/v2/{repo}/tags/list")
            if resp is None:
                continue
            expected = sorted(
                k[2]
                for k, v in self.observed.items()
                if k[0] == "tag" and k[1] == repo and v is not None
            )
            # (every tag key was observed above, so this is the whole list)
            if resp.status_code == 404 and "NAME_UNKNOWN" in error_codes(resp):
                if expected:
                    self.corrupt(
                        None, f"tags/list {repo}: NAME_UNKNOWN but tags {expected} resolve"
                    )
                continue
            if resp.status_code != 200:
                self.error(None, f"tags/list {repo}\n{describe(resp)}")
                continue
            try:
                body = resp.json()
                tags = sorted(body["tags"] or [])
            except (ValueError, KeyError, TypeError):
                self.corrupt(None, f"tags/list {repo} does not parse\n{describe(resp)}")
                continue
            live_repos.add(repo)
            if body.get("name") != repo or tags != expected:
                self.corrupt(None, f"tags/list {repo} = {tags}, but GET by tag finds {expected}")
        resp = self.request(None, "GET", "/v2/_catalog")
        if resp is None:
            return
        if resp.status_code != 200:
            self.error(None, f"catalog\n{describe(resp)}")
            return
        try:
            repos = set(resp.json()["repositories"])
        except (ValueError, KeyError, TypeError):
            self.corrupt(None, f"catalog does not parse\n{describe(resp)}")
            return
        acked_repos = {k[1] for k, v in {**self.m.state, **self.observed}.items() if v}
        missing = (acked_repos | live_repos) - repos
        if missing:
            self.corrupt(None, f"catalog {sorted(repos)} lacks {sorted(missing)}")

    def check_session(self, s: Session) -> None:
        key: Key = ("blob", s.repo, s.digest)
        status = self.request(key, "GET", s.location)
        if status is None:
            return
        size: int | None = None
        if status.status_code == 204:
            rng = status.headers.get("range", "")
            try:
                lo, hi = (int(x) for x in rng.split("-"))
                size = hi + 1 if not (lo == 0 and hi == 0 and s.acked == 0) else 0
            except ValueError:
                self.error(
                    key, f"upload status without a valid Range ({s.desc})\n{describe(status)}"
                )
                return
            if not s.acked <= size <= s.attempted:
                self.corrupt(
                    key,
                    f"interrupted upload ({s.desc}) reports {size} bytes; "
                    f"acknowledged {s.acked}, attempted {s.attempted}",
                )
                return
        elif status.status_code == 404 and "BLOB_UPLOAD_UNKNOWN" in error_codes(status):
            pass
        else:
            self.error(key, f"upload status after restart ({s.desc})\n{describe(status)}")
            return

        if s.bodyless_put_in_flight and (size is not None or RETRY_FINAL_PUT):
            # What a client does when its final request got no answer: send it again.
            put = self.request(key, "PUT", s.location, params={"digest": s.digest}, content=b"")
            self._after_finish(s, put, "retried final PUT")
        elif size is not None:
            # Resume where the server says the upload stands, as the OCI spec tells clients.
            location = s.location
            if size < len(s.data):
                patch = self.request(
                    key,
                    "PATCH",
                    location,
                    content=s.data[size:],
                    headers={
                        "Content-Type": "application/octet-stream",
                        "Content-Range": f"{size}-{len(s.data) - 1}",
                    },
                )
                if patch is None:
                    return
                if patch.status_code != 202 or patch.headers.get("range") != f"0-{len(s.data) - 1}":
                    self.error(key, f"resuming upload ({s.desc}) at {size}\n{describe(patch)}")
                    return
                location = local(patch.headers.get("location") or location)
            put = self.request(key, "PUT", location, params={"digest": s.digest}, content=b"")
            self._after_finish(s, put, f"resumed at {size}")

    def _after_finish(self, s: Session, put: httpx.Response | None, how: str) -> None:
        key: Key = ("blob", s.repo, s.digest)
        if put is None:
            return
        if put.status_code == 201:
            if self.read_blob(key):
                self.m.stats.resumed += 1
                self.observed[key] = True
        elif put.status_code == 404 and "BLOB_UPLOAD_UNKNOWN" in error_codes(put):
            if how.startswith("resumed"):
                self.error(
                    key,
                    f"upload ({s.desc}) {how}: status said it exists, PUT says not\n"
                    f"{describe(put)}",
                )
        elif put.status_code == 400 and "DIGEST_INVALID" in error_codes(put):
            self.corrupt(
                key,
                f"upload ({s.desc}) {how}: the stored bytes are not what the "
                f"client sent\n{describe(put)}",
            )
        else:
            self.error(key, f"upload ({s.desc}) {how}: unexpected\n{describe(put)}")


# -- the loop -----------------------------------------------------------------------------


def restart(server: DockyardServer, model: Model) -> None:
    """Start a killed server again (same data, same port); its start time goes to the stats."""
    t = time.monotonic()
    try:
        server.start()
    except Exception as exc:  # ServerStartError carries the log tail
        pytest.fail(f"dockyard did not come back after SIGKILL: {exc}", pytrace=False)
    model.stats.restart_seconds.append(time.monotonic() - t)


def fail_report(seed: int, trial: int, model: Model, servers: Sequence[DockyardServer]) -> str:
    s = model.stats
    parts = [
        f"crash loop failed: seed={seed} trial={trial} "
        f"(rerun: DOCKYARD_CRASH_SEED={seed} DOCKYARD_CRASH_TRIALS={trial + 1})"
    ]
    for title, items in (("LOST", s.lost), ("CORRUPT", s.corrupt), ("ERRORS", s.errors)):
        if items:
            parts.append(f"--- {title} ({len(items)}) ---")
            parts.extend(items[:15])
    for server in servers:
        parts.append(f"--- server log (tail) {server.url} ---")
        parts.append(server.log_tail(120))
    return "\n".join(parts)


def summary(seed: int, trials: int, model: Model, elapsed: float) -> str:
    """The one-line result every crash loop prints (trials, acked ops, lost, corrupt, …)."""
    s = model.stats
    blobs = sum(1 for k, v in model.state.items() if k[0] == "blob" and v)
    manifests = sum(1 for k, v in model.state.items() if k[0] == "manifest" and v)
    tags = sum(1 for k, v in model.state.items() if k[0] == "tag" and v)
    return (
        f"CRASH SUMMARY seed={seed} trials={trials} acked_ops={sum(s.acked.values())} "
        f"({', '.join(f'{k}={v}' for k, v in sorted(s.acked.items()))}) "
        f"in_flight_at_kill={s.in_flight} resumed_uploads={s.resumed} "
        f"lost={len(s.lost)} corrupt={len(s.corrupt)} errors={len(s.errors)} "
        f"final_state=(blobs={blobs}, manifests={manifests}, tags={tags}) "
        f"max_restart={max(s.restart_seconds):.1f}s runtime={elapsed:.0f}s"
    )
