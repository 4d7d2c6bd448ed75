"""What this machine can do at most, measured in the same run as the servers."""

from __future__ import annotations

import hashlib
import multiprocessing
import os
import socket
import threading
import time
from pathlib import Path

from benchmarks import affinity

MB = 1e6
MIB = 1024 * 1024


def receive(conn: socket.socket, total: int, cores: set[int] | None = None) -> None:
    """The receiving side of every ceiling: ``recv_into`` one reusable 1 MiB buffer until
    ``total`` bytes arrived (what the pull workload's client does with a response body)."""
    affinity.pin_thread(cores)
    view = memoryview(bytearray(MIB))
    left = total
    with conn:
        while left > 0:
            got = conn.recv_into(view, min(left, len(view)))
            if got == 0:
                break
            left -= got


def _send(port: int, total: int, path: str | None, cores: set[int] | None) -> None:
    """One sender process: ``total`` bytes from memory (``sendall`` of a 1 MiB block) or, given
    ``path``, the file sent with ``sendfile`` until ``total`` bytes went. A process of its own,
    as a server is: sender threads in the receiver's process share its GIL, and their
    hand-offs alone made one stream swing between 2 and 4.5 GB/s here."""
    affinity.pin_thread(cores)
    block = memoryview(os.urandom(MIB))
    with socket.create_connection(("127.0.0.1", port)) as s:
        s.recv(1)  # the receiver's go: the clock runs from here
        if path is None:
            left = total
            while left > 0:
                n = min(left, len(block))
                s.sendall(block[:n])
                left -= n
            return
        size = os.path.getsize(path)
        with open(path, "rb") as f:
            for _ in range(total // size):
                s.sendfile(f, 0, size)  # os.sendfile until the count is sent


def _streams(total: int, streams: int, path: str | None = None) -> float:
    """MB/s of ``streams`` sender processes to as many receiver threads here, through
    127.0.0.1. One stream is pinned as the single-stream pulls are (sender on the server
    cores, receiver on the client core: :mod:`benchmarks.affinity`); several are left to the
    scheduler, as the c=8 pulls are."""
    cores = affinity.split() if streams == 1 else None
    sender_cores, receiver_cores = (cores[1], cores[0]) if cores else (None, None)
    per_stream = total // streams
    spawn = multiprocessing.get_context("spawn")  # no fork of a threaded benchmark
    with socket.socket() as listener:
        listener.bind(("127.0.0.1", 0))
        listener.listen(streams)
        port = listener.getsockname()[1]
        senders = [
            spawn.Process(target=_send, args=(port, per_stream, path, sender_cores))
            for _ in range(streams)
        ]
        for p in senders:
            p.start()
        conns = [listener.accept()[0] for _ in range(streams)]
        receivers = [
            threading.Thread(target=receive, args=(c, per_stream, receiver_cores)) for c in conns
        ]
        for r in receivers:
            r.start()
        t0 = time.perf_counter()
        for c in conns:
            c.sendall(b"g")
        for r in receivers:
            r.join()
        elapsed = time.perf_counter() - t0
        for p in senders:
            p.join()
            if p.exitcode != 0:
                raise RuntimeError(f"ceiling sender exited with {p.exitcode}")
    return per_stream * streams / elapsed / MB


def loopback_tcp(total: int, streams: int = 1) -> float:
    """MB/s through 127.0.0.1 from memory with ``streams`` sender/receiver pairs (the same
    kind of receiver the pull workload uses)."""
    return _streams(total, streams)


def sha256_rate(size: int) -> float:
    data = os.urandom(size)
    t0 = time.perf_counter()
    hashlib.sha256(data).digest()
    return size / (time.perf_counter() - t0) / MB


def fsync_write_rate(directory: Path, size: int) -> float:
    """MB/s writing ``size`` bytes in 1 MiB writes, then fsync, on the data directories'
    filesystem."""
    block = os.urandom(MIB)
    path = directory / "ceiling-write.bin"
    t0 = time.perf_counter()
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    try:
        left = size
        while left > 0:
            left -= os.write(fd, block[: min(left, len(block))])
        os.fsync(fd)
    finally:
        os.close(fd)
    elapsed = time.perf_counter() - t0
    path.unlink()
    return size / elapsed / MB


def fsync_rate(directory: Path, count: int = 200) -> float:
    """Small synchronous commits per second: 4 KiB write + fsync (what a durable database
    commit costs at least)."""
    block = os.urandom(4096)
    path = directory / "ceiling-fsync.bin"
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    try:
        t0 = time.perf_counter()
        for _ in range(count):
            os.write(fd, block)
            os.fsync(fd)
        elapsed = time.perf_counter() - t0
    finally:
        os.close(fd)
        path.unlink()
    return count / elapsed


def sendfile_tcp(directory: Path, file_size: int, total: int, runs: int = 2) -> float:
    """MB/s sending a *file* through 127.0.0.1 with ``sendfile``: one sender, one connection,
    the file sent ``total // file_size`` times back to back, received by the same
    :func:`receive` as :func:`loopback_tcp`; the best of ``runs``. What the kernel can do
    for a server that sends blobs with zero copies (nginx behind X-Accel-Redirect).

    The file lies on the data directories' filesystem; it is written and synced first (no
    writeback while the clock runs), then read once, so the sends come from the page cache
    as the timed pulls do."""
    path = directory / "ceiling-sendfile.bin"
    block = os.urandom(MIB)
    times = max(1, total // file_size)
    try:
        with open(path, "w+b") as f:
            left = file_size
            while left > 0:
                left -= f.write(block[: min(left, len(block))])
            f.flush()
            os.fsync(f.fileno())
            f.seek(0)
            while f.read(4 * MIB):  # into the page cache
                pass
        return max(_streams(file_size * times, 1, str(path)) for _ in range(runs))
    finally:
        path.unlink()


def _volume(quick: bool) -> int:
    """Bytes each loopback ceiling sends."""
    return (256 if quick else 1024) * MIB


def single_stream(directory: Path, blob_size: int, quick: bool) -> dict[str, float]:
    """The one-stream ceilings (loopback, sendfile of a file of the pulls' blob size),
    measured in every round just before its pulls: on this VM they move between runs, and a
    share is only meaningful against a ceiling measured alongside."""
    size = _volume(quick)
    # Not timed against the writeback of what the round's pushes left dirty (the
    # reference does not fsync), as the pulls are not: measured without this sync, round 2
    # of a full run gave 2.3 / 2.9 GB/s, the other rounds 3.5-4.6.
    os.sync()
    return {
        "loopback_tcp_mbps_1": max(loopback_tcp(size, 1) for _ in range(2)),
        "sendfile_tcp_mbps_1": sendfile_tcp(directory, blob_size, size),
    }


def measure(directory: Path, quick: bool) -> dict[str, float]:
    """The ceilings measured once, at the start of a run (the single-stream ones again in
    every round: :func:`single_stream`)."""
    size = _volume(quick)
    os.sync()
    return {
        "loopback_tcp_mbps_8": max(loopback_tcp(size, 8) for _ in range(2)),
        "sha256_mbps": max(sha256_rate(256 * MIB) for _ in range(2)),
        "fsync_write_mbps": fsync_write_rate(directory, size),
        "fsyncs_per_s": fsync_rate(directory),
    }
