"""What this machine can do at most, measured in the same run as the servers."""

from __future__ import annotations

import hashlib
import os
import socket
import threading
import time
from pathlib import Path

MB = 1e6


def loopback_tcp(total: int, streams: int = 1) -> float:
    """MB/s through 127.0.0.1 with ``streams`` sender/receiver socket pairs (Python threads,
    the same kind of receiver the pull workload uses)."""
    listener = socket.socket()
    listener.bind(("127.0.0.1", 0))
    listener.listen(streams)
    port = listener.getsockname()[1]
    per_stream = total // streams
    block = memoryview(os.urandom(1024 * 1024))

    def send() -> None:
        with socket.create_connection(("127.0.0.1", port)) as s:
            left = per_stream
            while left > 0:
                n = min(left, len(block))
                s.sendall(block[:n])
                left -= n

    def receive(conn: socket.socket) -> None:
        buf = bytearray(1024 * 1024)
        view = memoryview(buf)
        left = per_stream
        with conn:
            while left > 0:
                got = conn.recv_into(view)
                if got == 0:
                    break
                left -= got

    senders = [threading.Thread(target=send) for _ in range(streams)]
    t0 = time.perf_counter()
    for t in senders:
        t.start()
    receivers = []
    for _ in range(streams):
        conn, _ = listener.accept()
        r = threading.Thread(target=receive, args=(conn,))
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
    block = os.urandom(1024 * 1024)
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


def measure(directory: Path, quick: bool) -> dict[str, float]:
    size = (256 if quick else 1024) * 1024 * 1024
    return {
        "loopback_tcp_mbps_1": max(loopback_tcp(size, 1) for _ in range(2)),
        "loopback_tcp_mbps_8": loopback_tcp(size, 8),
        "sha256_mbps": max(sha256_rate(256 * 1024 * 1024) for _ in range(2)),
        "fsync_write_mbps": fsync_write_rate(directory, size),
        "fsyncs_per_s": fsync_rate(directory),
    }
