"""A small registry client run inside a network namespace by the tests (``tests/netns.py``).

Every command prints one line of JSON on stdout.

* ``request METHOD URL HOST [USER PASSWORD]`` — one request (Basic if credentials are
  given): ``{"status", "headers", "body"}``.
* ``pull URL HOST USER PASSWORD NAME REF`` — log in through the token service (GET
  ``/auth/token`` with Basic), fetch the manifest and every blob with the Bearer token:
  ``{"token": status, "manifest": status, "blobs": [status, ...]}``.
* ``hold URL HOST USER PASSWORD`` — start a download and read only 64 KiB of it, print
  ``{"status", "headers"}``, then wait for a line on stdin: ``finish`` reads the rest,
  ``close`` drops the connection; prints ``{"read": bytes}``.
"""

from __future__ import annotations

import json
import sys
from urllib.parse import urlsplit

import httpx


def emit(value: object) -> None:
    sys.stdout.write(json.dumps(value) + "\n")
    sys.stdout.flush()


def request(method: str, url: str, host: str, user: str = "", password: str = "") -> None:
    auth = (user, password) if user else None
    resp = httpx.request(method, url, headers={"Host": host}, auth=auth, timeout=30)
    emit({"status": resp.status_code, "headers": dict(resp.headers), "body": resp.text[:2000]})


def pull(url: str, host: str, user: str, password: str, name: str, ref: str) -> None:
    base = f"{urlsplit(url).scheme}://{urlsplit(url).netloc}"
    with httpx.Client(base_url=base, headers={"Host": host}, timeout=30) as http:
        token_resp = http.get(
            "/auth/token",
            params={"service": "dockyard", "scope": f"repository:{name}:pull"},
            auth=(user, password),
        )
        result: dict[str, object] = {"token": token_resp.status_code, "body": token_resp.text[:500]}
        if token_resp.status_code != 200:
            emit(result)
            return
        token = token_resp.json()["token"]
        bearer = {"Authorization": f"Bearer {token}"}
        manifest = http.get(
            f"/v2/{name}/manifests/{ref}",
            headers={**bearer, "Accept": "application/vnd.oci.image.manifest.v1+json"},
        )
        result["manifest"] = manifest.status_code
        blobs = []
        if manifest.status_code == 200:
            doc = manifest.json()
            for desc in [doc["config"], *doc.get("layers", [])]:
                blob = http.get(f"/v2/{name}/blobs/{desc['digest']}", headers=bearer)
                blobs.append(blob.status_code)
        result["blobs"] = blobs
        emit(result)


def hold(url: str, host: str, user: str, password: str) -> None:
    with (
        httpx.Client(headers={"Host": host}, auth=(user, password), timeout=120) as http,
        # A range request: Dockyard streams it and releases the pull slot at the last byte
        # (whole-file GETs go out by pathsend and hold a slot for a size-based time).
        http.stream("GET", url, headers={"Range": "bytes=0-"}) as resp,
    ):
        if resp.status_code != 206:
            resp.read()
            emit({"status": resp.status_code, "headers": dict(resp.headers), "body": resp.text})
            return
        read = 0
        chunks = resp.iter_raw(65536)
        read += len(next(chunks))
        emit({"status": resp.status_code, "headers": dict(resp.headers)})
        command = sys.stdin.readline().strip()
        if command == "finish":
            for chunk in chunks:
                read += len(chunk)
        emit({"read": read})


def main(argv: list[str]) -> None:
    command, *args = argv
    {"request": request, "pull": pull, "hold": hold}[command](*args)


if __name__ == "__main__":
    main(sys.argv[1:])
