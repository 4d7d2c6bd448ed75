"""Client and server on different cores for the single-stream figures.

On this 2-vCPU VM one TCP stream through loopback runs at about 2.1-2.3 GB/s when sender
and receiver share a core and 4.0-4.3 GB/s when they do not (docs/performance.md); left to
the scheduler, a run lands on either, so an unpinned ceiling and an unpinned pull could be
measured in different placements. Pinning both the same way makes the share of the ceiling
a comparison of like with like. Linux only (``sched_setaffinity``).
"""

from __future__ import annotations

import contextlib
import os
from collections.abc import Iterable, Iterator

_ALLOWED = sorted(os.sched_getaffinity(0))  # at import, before anything is pinned


def split() -> tuple[set[int], set[int]] | None:
    """(client cores, server cores): the first allowed core for the client, the others for
    servers; None with fewer than two cores."""
    if len(_ALLOWED) < 2:
        return None
    return {_ALLOWED[0]}, set(_ALLOWED[1:])


def _tasks(pids: Iterable[int]) -> list[int]:
    tids = []
    for pid in pids:
        with contextlib.suppress(FileNotFoundError):
            tids += [int(t) for t in os.listdir(f"/proc/{pid}/task")]
    return tids


def _set(tids: Iterable[int], cores: set[int]) -> None:
    for tid in tids:
        # A thread that exited in the meantime is nothing to pin.
        with contextlib.suppress(ProcessLookupError, FileNotFoundError):
            os.sched_setaffinity(tid, cores)


def pin_thread(cores: set[int] | None) -> None:
    """Pin the calling thread (``0`` means the caller's own thread on Linux)."""
    if cores is not None:
        os.sched_setaffinity(0, cores)


@contextlib.contextmanager
def pinned(server_pids: Iterable[int]) -> Iterator[None]:
    """The calling thread (and the threads it starts) on the client core, every thread of
    ``server_pids`` on the other cores; everything back on all cores afterwards."""
    cores = split()
    if cores is None:
        yield
        return
    client, servers = cores
    everything = client | servers
    pids = list(server_pids)
    _set(_tasks(pids), servers)
    os.sched_setaffinity(0, client)
    try:
        yield
    finally:
        os.sched_setaffinity(0, everything)
        _set(_tasks(pids), everything)  # threads started meanwhile inherited the pin
