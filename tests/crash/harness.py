"""Server control for the crash loop: SIGKILL the whole process group, restart on the same data.

Built on :class:`tests.conftest.DockyardServer` (obtained through the ``fresh_registry``
fixture): ``start()`` on the same object reuses its data directory, so a restart is
``kill_group(server)`` followed by ``server.start()`` (a new free port each time).
"""

from __future__ import annotations

import contextlib
import os
import signal
import time
from pathlib import Path
from typing import TYPE_CHECKING

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
