"""Background workers of a real ``dockyard serve`` and ``dockyard worker``: supervised,
restarted when killed, running queued jobs, and dispatching every event across kill -9."""

from __future__ import annotations

import asyncio
import os
import random
import signal
import subprocess
import sys
import time
import uuid
from collections.abc import Callable
from pathlib import Path
from typing import TypeVar

import httpx
import pytest
from sqlalchemy import func, select
from tests.conftest import DockyardServer, ServerFactory
from tests.dockyard_cli import Cli

from dockyard.metadata.models import OutboxEvent
from dockyard.metadata.queries import jobs as jq
from dockyard.metadata.session import Database
from dockyard.services.jobs import JobQueue

pytestmark = pytest.mark.e2e

WAIT_SECONDS = 30.0
T = TypeVar("T")


def eventually(probe: Callable[[], T | None], what: str) -> T:
    """``probe()``'s first truthy value, polling; fails naming ``what`` after a while."""
    deadline = time.monotonic() + WAIT_SECONDS
    while time.monotonic() < deadline:
        found = probe()
        if found:
            return found
        time.sleep(0.1)
    raise AssertionError(f"timed out waiting for {what}")


def children(pid: int) -> dict[int, bytes]:
    """Direct children of ``pid`` and their command lines."""
    found: dict[int, bytes] = {}
    for task in Path(f"/proc/{pid}/task").iterdir():
        for child in (task / "children").read_text().split():
            try:
                found[int(child)] = Path(f"/proc/{child}/cmdline").read_bytes()
            except FileNotFoundError:
                continue  # exited meanwhile
    return found


def background_pids(supervisor: int) -> list[int]:
    return [pid for pid, cmd in children(supervisor).items() if b"dockyard.background" in cmd]


def database(server: DockyardServer) -> Database:
    return Database(f"sqlite:///{server.data_dir / 'dockyard.db'}")


def enqueue(server: DockyardServer, kind: str) -> uuid.UUID:
    async def run() -> uuid.UUID:
        db = database(server)
        try:
            return await JobQueue(db, "test").enqueue(kind, {})
        finally:
            await db.dispose()

    return asyncio.run(run())


def job_exists(server: DockyardServer, job_id: uuid.UUID) -> bool:
    async def run() -> bool:
        db = database(server)
        try:
            async with db.read() as session:
                return await jq.find_job(session, job_id) is not None
        finally:
            await db.dispose()

    return asyncio.run(run())


def test_serve_restarts_a_killed_background_worker_which_then_runs_jobs(
    fresh_registry: ServerFactory,
) -> None:
    server = fresh_registry(extra_args=["--background-workers", "1"])
    assert server.proc is not None
    supervisor = server.proc.pid
    roles = children(supervisor).values()
    assert sum(b"dockyard.background" in cmd for cmd in roles) == 1
    assert sum(b"dockyard.supervisor\x00http" in cmd for cmd in roles) == 1

    (first,) = eventually(lambda: background_pids(supervisor), "the background worker")
    os.kill(first, signal.SIGKILL)
    (second,) = eventually(
        lambda: [p for p in background_pids(supervisor) if p != first], "a restarted worker"
    )
    assert second != first
    assert "process exited; restarting" in server.log_text()

    job_id = enqueue(server, "prune-events")
    eventually(lambda: not job_exists(server, job_id), "the queued job to run and complete")
    assert httpx.get(f"{server.url}/healthz").json() == {"status": "ok"}


def test_serve_without_background_workers_leaves_jobs_to_dockyard_worker(
    fresh_registry: ServerFactory,
) -> None:
    server = fresh_registry(extra_args=["--background-workers", "0"])
    assert server.proc is not None
    assert background_pids(server.proc.pid) == []
    job_id = enqueue(server, "prune-events")
    # Failed jobs are listed; this one waits, as nothing runs jobs yet.
    listed = httpx.get(
        f"{server.url}/api/v1/jobs",
        params={"kind": "prune-events", "state": "waiting"},
        auth=server.admin,
    ).json()
    assert [j["id"] for j in listed["items"]] == [str(job_id)]

    env = {k: v for k, v in os.environ.items() if not k.startswith("DOCKYARD_")}
    worker = subprocess.Popen(
        [sys.executable, "-m", "dockyard", "worker", "--data-dir", str(server.data_dir)],
        env={**env, "PYTHONUNBUFFERED": "1"},
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        start_new_session=True,
    )
    try:
        eventually(lambda: not job_exists(server, job_id), "dockyard worker to run the job")
        assert [b"dockyard.background" in cmd for cmd in children(worker.pid).values()] == [True]
    finally:
        worker.send_signal(signal.SIGTERM)
        output, _ = worker.communicate(timeout=WAIT_SECONDS)
    assert worker.returncode == 0, output.decode(errors="replace")
    assert b"background worker stopped" in output


def test_job_list_and_retry_through_the_api_and_the_cli(
    fresh_registry: ServerFactory, tmp_path: Path
) -> None:
    server = fresh_registry(extra_args=["--background-workers", "0"])

    async def failed_job() -> uuid.UUID:
        db = database(server)
        try:
            queue = JobQueue(db, "test", max_attempts=1)
            job_id = await queue.enqueue("purge-uploads", {})
            (job,) = await queue.lease(["purge-uploads"])
            await queue.fail(job, "storage unreachable")
            return job_id
        finally:
            await db.dispose()

    job_id = asyncio.run(failed_job())
    cli = Cli(tmp_path / "home")
    cli.login(server.url, *server.admin)
    (listed,) = cli.json("job", "list", "--state", "failed")
    assert (listed["id"], listed["kind"], listed["attempts"]) == (str(job_id), "purge-uploads", 1)
    assert listed["lastError"] == "storage unreachable"
    table = cli.run("job", "list", "--kind", "purge-uploads").stdout
    assert str(job_id) in table and "storage unreachable" in table

    assert str(job_id) in cli.run("job", "retry", str(job_id)).stdout
    (again,) = cli.json("job", "list", "--kind", "purge-uploads")
    assert (again["state"], again["attempts"]) == ("waiting", 0)
    missing = cli.run("job", "retry", str(uuid.uuid4()), expect=1)
    assert "does not exist" in missing.stderr

    audit = httpx.get(
        f"{server.url}/api/v1/audit-events",
        params={"action": "cr:RetryJob"},
        auth=server.admin,
    ).json()["items"]
    assert [(e["actor"], e["detail"]["job"]) for e in audit] == [("admin", str(job_id))]


def _unpublished_and_ids(server: DockyardServer) -> tuple[int, set[uuid.UUID]]:
    async def run() -> tuple[int, set[uuid.UUID]]:
        db = database(server)
        try:
            async with db.read() as session:
                pending = select(func.count()).where(OutboxEvent.published_at.is_(None))
                count = int((await session.execute(pending)).scalar_one())
                ids = set((await session.execute(select(OutboxEvent.id))).scalars().all())
            return count, ids
        finally:
            await db.dispose()

    return asyncio.run(run())


@pytest.mark.parametrize("seed", [1, 2, 3])
def test_kill_9_while_events_are_pending_loses_none(
    fresh_registry: ServerFactory, seed: int
) -> None:
    """Events written before a kill -9 of the whole server are all dispatched after it."""
    rng = random.Random(seed)
    server = fresh_registry(extra_args=["--background-workers", "1"])
    assert server.proc is not None
    namespaces = 0
    kill_after = rng.uniform(0.2, 1.5)
    started = time.monotonic()
    with httpx.Client(base_url=f"{server.url}/api/v1", auth=server.admin) as api:
        while time.monotonic() - started < kill_after or namespaces < 3:
            name = f"kill{seed}-{namespaces}"
            api.post("/instances/default/namespaces", json={"name": name}).raise_for_status()
            namespaces += 1
    os.killpg(server.proc.pid, signal.SIGKILL)
    server.proc.wait()
    server.stop()
    _, before = _unpublished_and_ids(server)
    assert len(before) >= namespaces  # every acknowledged change wrote its event

    server.start()
    eventually(lambda: _unpublished_and_ids(server)[0] == 0, "every event to be dispatched")
    _, after = _unpublished_and_ids(server)
    assert before <= after  # nothing was lost (nothing is old enough to be pruned)


def test_dockyard_worker_without_the_master_key_says_so_and_exits(tmp_path: Path) -> None:
    env = {k: v for k, v in os.environ.items() if not k.startswith("DOCKYARD_")}
    done = subprocess.run(
        [sys.executable, "-m", "dockyard", "worker", "--data-dir", str(tmp_path / "node-b")],
        env=env,
        capture_output=True,
        text=True,
        timeout=WAIT_SECONDS,
    )
    assert done.returncode == 2
    assert "master key" in done.stderr and "DOCKYARD_SECRET_KEY" in done.stderr
    assert "Traceback" not in done.stderr
