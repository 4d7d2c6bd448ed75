"""``python -m benchmarks profile``: where Dockyard's workers spend their time under load.

Starts Dockyard as the benchmark does, drives one workload at a time (manifest GET by tag
with wrk at c=32; tiny-image pushes at c=8), samples every worker with
``py-spy record --subprocesses`` (needs root or ptrace rights) and prints the hottest
functions by own time and by inclusive time, and own time grouped by package. The raw
collapsed stacks (and flame graphs) stay in benchmarks/results/tmp/, which git ignores.
"""

from __future__ import annotations

import argparse
import collections
import linecache
import os
import re
import shutil
import subprocess
import sys
import sysconfig
import tempfile
import threading
import time
from pathlib import Path

from benchmarks import workloads as w
from benchmarks.servers import Dockyard, ensure_tools

_FRAME = re.compile(r"^(?P<func>.*?) \((?P<file>[^()]*?)(?::(?P<line>\d+))?\)$")
_PACKAGES = (
    "dockyard",
    "starlette",
    "sqlalchemy",
    "aiosqlite",
    "sqlite3",
    "joserfc",
    "cryptography",
    "argon2",
    "pydantic",
    "structlog",
    "orjson",
    "granian",
    "anyio",
    "asyncio",
    "alembic",
    "json",
    "logging",
    "concurrent",
    "threading",
)


def _py_spy() -> str:
    local = Path(sys.executable).with_name("py-spy")
    found = str(local) if local.exists() else shutil.which("py-spy")
    if not found:
        raise SystemExit("py-spy is not installed: pip install -e '.[bench]'")
    return found


def _package(path: str) -> str:
    parts = Path(path).parts
    if "site-packages" in parts:
        rest = parts[parts.index("site-packages") + 1 :]
        return rest[0].removesuffix(".py") if rest else "?"
    if "dockyard" in parts:
        return "dockyard"
    for p in reversed(parts):
        name = p.removesuffix(".py")
        if name in _PACKAGES:
            return name
    return f"stdlib:{Path(path).stem}" if path.endswith(".py") else path or "?"


def _short(frame: str, with_line: bool = False) -> str:
    m = _FRAME.match(frame)
    if not m:
        return frame
    if with_line and m["func"] == "_connection_worker_thread" and "aiosqlite" in m["file"]:
        return "SQLite C code + fsync, in aiosqlite's thread (_connection_worker_thread)"
    path = m["file"]
    for marker in ("site-packages/", "src/"):
        if marker in path:
            path = path.split(marker, 1)[1]
            break
    else:
        path = Path(path).name
    line = f":{m['line']}" if with_line and m["line"] else ""
    return f"{m['func']} ({path}{line})"


_IDLE_SOURCE = re.compile(r"\.get\(|\.wait\(|\.select\(|\.acquire\(|\.poll\(|\bsleep\(")


def _idle(frame: str) -> bool:
    """A thread parked in a queue, condition, selector or sleep: waiting, not working."""
    m = _FRAME.match(frame)
    if not m or not m["line"]:
        return False
    if m["func"].endswith((".select", ".wait", ".get")) or m["func"] in ("select", "wait"):
        return True
    return bool(_IDLE_SOURCE.search(linecache.getline(_resolve(m["file"]), int(m["line"]))))


def _resolve(name: str) -> str:
    """py-spy prints paths relative to sys.path entries; find the file again."""
    if os.path.isabs(name):
        return name
    for base in _SEARCH:
        candidate = os.path.join(base, name)
        if os.path.exists(candidate):
            return candidate
    return name


_SEARCH = [
    sysconfig.get_paths()["purelib"],
    sysconfig.get_paths()["platlib"],
    str(Path(__file__).resolve().parent.parent / "src"),
    sysconfig.get_paths()["stdlib"],
]


def summarize(collapsed: Path, top: int) -> str:
    own: collections.Counter[str] = collections.Counter()
    incl: collections.Counter[str] = collections.Counter()
    pkg: collections.Counter[str] = collections.Counter()
    total = 0
    for line in collapsed.read_text(errors="replace").splitlines():
        stack, _, count_s = line.rpartition(" ")
        if not stack or not count_s.isdigit():
            continue
        count = int(count_s)
        frames = [f for f in stack.split(";") if _FRAME.match(f)]
        if not frames or _idle(frames[-1]):
            continue
        total += count
        leaf = frames[-1]
        own[_short(leaf, with_line=True)] += count
        m = _FRAME.match(leaf)
        pkg[_package(m["file"] if m else "")] += count
        for name in {_short(f) for f in frames if f.split(" (", 1)[-1].startswith("dockyard/")}:
            incl[name] += count
    if not total:
        return "no samples"
    out = [
        f"{total} busy samples (all threads of all processes; waits excluded)",
        "",
        "own time by package:",
    ]
    out += [f"  {100 * c / total:5.1f}%  {name}" for name, c in pkg.most_common(12)]
    out += ["", "hottest functions by own time:"]
    out += [f"  {100 * c / total:5.1f}%  {name}" for name, c in own.most_common(top)]
    out += ["", "Dockyard functions by inclusive time:"]
    for name, c in incl.most_common(top):
        if not name.startswith(("main (", "serve (", "<module>", "_first_start")):
            out.append(f"  {100 * c / total:5.1f}%  {name}")
    return "\n".join(out)


def _record(pid: int, seconds: int, out: Path) -> subprocess.Popen[bytes]:
    argv = [_py_spy(), "record", "--pid", str(pid), "--subprocesses", "--rate", "100"]
    argv += ["--nonblocking"]
    argv += ["--duration", str(seconds), "--format", "raw", "--output", str(out)]
    return subprocess.Popen(argv, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)


def run(args: argparse.Namespace) -> int:
    ensure_tools()
    if os.geteuid() != 0:
        print("py-spy needs root (ptrace) to attach to the workers", file=sys.stderr)
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    cfg = w.Config.make(False)
    tmp = Path(tempfile.mkdtemp(prefix="dockyard-profile-"))
    server = Dockyard("dockyard", tmp / "dockyard", os.cpu_count() or 1).start()
    reports = []
    try:
        endpoints = w.small_setup(server, cfg)
        # --- manifest GET by tag, wrk c=32
        manifest_out = out / "profile-manifest-get.txt"
        rec = _record(server.proc.pid, args.seconds, manifest_out)  # type: ignore[union-attr]
        time.sleep(1.0)
        res = w.run_load(server, cfg, endpoints[0], args.seconds - 2)
        rec.wait()
        reports.append(
            (f"manifest GET by tag (wrk c=32): {res['rps']:.0f} req/s under py-spy", manifest_out)
        )
        # --- tiny-image push, c=8, for about the same time
        tiny_out = out / "profile-tiny-push.txt"
        images = [
            w.tiny_image(f"bench/tiny-{i % 50}", f"v{i}", f"profile-{i}") for i in range(20000)
        ]
        for repo in sorted({img.repo for img in images}):
            server.auth_headers(repo)
        rec = _record(server.proc.pid, args.seconds, tiny_out)  # type: ignore[union-attr]
        time.sleep(1.0)
        stop = time.monotonic() + args.seconds - 2
        lock = threading.Lock()
        it = iter(images)
        pushed = [0]

        def worker(_: int) -> None:
            conn = server.connect()
            headers = {img.repo: server.auth_headers(img.repo) for img in images[:50]}
            while time.monotonic() < stop:
                with lock:
                    img = next(it)
                w.push_tiny(conn, headers[img.repo], img, [img.tag])
                with lock:
                    pushed[0] += 1
            conn.close()

        t0 = time.monotonic()
        w.run_threads(8, worker)
        rate = pushed[0] / (time.monotonic() - t0)
        rec.wait()
        reports.append((f"tiny-image push (c=8): {rate:.0f} images/s under py-spy", tiny_out))
    finally:
        server.stop()
        shutil.rmtree(tmp, ignore_errors=True)
    for title, path in reports:
        print(f"\n=== {title}\n    raw stacks: {path}")
        print(summarize(path, args.top))
    return 0
