"""What this machine can do at most, measured in the same run as the servers."""

from __future__ import annotations

import hashlib
import os
import socket
import threading
import time
from pathlib import Path
from typing import BinaryIO

MB = 1e6
MIB = 1024 * 1024


def receive(conn: socket.socket, total: int) -> None:
    """The receiving side of every ceiling: ``recv_into`` one reusable 1 MiB buffer until
    ``total`` bytes arrived (what the pull workload's client does with a response body)."""
    view = memoryview(bytearray(MIB))
    left = total
    with conn:
        while left > 0:
            got = conn.recv_into(view, min(left, len(view)))
            if got == 0:
                break
            left -= got


def loopback_tcp(total: int, streams: int = 1) -> float:
    """MB/s through 127.0.0.1 with ``streams`` sender/receiver socket pairs (Python threads,
    the same kind of receiver the pull workload uses)."""
    listener = socket.socket()
    listener.bind(("127.0.0.1", 0))
    listener.listen(streams)
    port = listener.getsockname()[1]
    per_stream = total // streams
    block = memoryview(os.urandom(MIB))

    def send() -> None:
        with socket.create_connection(("127.0.0.1", port)) as s:
            left = per_stream
            while left > 0:
                n = min(left, len(block))
                s.sendall(block[:n])
                left -= n

    senders = [threading.Thread(target=send) for _ in range(streams)]
    t0 = time.perf_counter()
    for t in senders:
        t.start()
    receivers = []
    for _ in range(streams):
        conn, _ = listener.accept()
        r = threading.Thread(target=receive, args=(conn, per_stream))
        r.start()
        receivers.append(r)
    for t in senders + receivers:
        t.join()
    elapsed = time.perf_counter() - t0
    listener.close()
    return per_stream * streams / elapsed / MB


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
    """MB/s sending a *file* through 127.0.0.1 with ``sendfile``: one sender thread, one
    connection, the file sent ``total // file_size`` times back to back, received by the
    same :func:`receive` as :func:`loopback_tcp`; the best of ``runs``. What the kernel can
    do for a server that sends blobs with zero copies (nginx behind X-Accel-Redirect).

    The file lies on the data directories' filesystem; it is written and synced first (no
    writeback while the clock runs), then read once, so the sends come from the page cache
    as the timed pulls do."""
    path = directory / "ceiling-sendfile.bin"
    block = os.urandom(MIB)
    times = max(1, total // file_size)
    best = 0.0
    with open(path, "w+b") as f:
        try:
            left = file_size
            while left > 0:
                left -= f.write(block[: min(left, len(block))])
            f.flush()
            os.fsync(f.fileno())
            f.seek(0)
            while f.read(4 * MIB):  # into the page cache
                pass
            for _ in range(runs):
                best = max(best, _sendfile_run(f, file_size, times))
        finally:
            path.unlink()
    return best


def _sendfile_run(f: BinaryIO, file_size: int, times: int) -> float:
    listener = socket.socket()
    listener.bind(("127.0.0.1", 0))
    listener.listen(1)
    port = listener.getsockname()[1]

    def send() -> None:
        with socket.create_connection(("127.0.0.1", port)) as s:
            for _ in range(times):
                s.sendfile(f, 0, file_size)  # os.sendfile until the count is sent

    sender = threading.Thread(target=send)
    t0 = time.perf_counter()
    sender.start()
    conn, _ = listener.accept()
    receive(conn, file_size * times)
    sender.join()
    elapsed = time.perf_counter() - t0
    listener.close()
    return file_size * times / elapsed / MB


def measure(directory: Path, quick: bool) -> dict[str, float]:
    size = (256 if quick else 1024) * MIB
    #: The sendfile ceiling sends a file of the pull workload's blob size.
    file_size = (32 if quick else 256) * MIB
    return {
        "loopback_tcp_mbps_1": max(loopback_tcp(size, 1) for _ in range(2)),
        "loopback_tcp_mbps_8": loopback_tcp(size, 8),
        "sendfile_tcp_mbps_1": sendfile_tcp(directory, file_size, size),
        "sha256_mbps": max(sha256_rate(256 * MIB) for _ in range(2)),
        "fsync_write_mbps": fsync_write_rate(directory, size),
        "fsyncs_per_s": fsync_rate(directory),
    }
