"""Blob GET with every shape of ``Range`` header a hostile client might send.

RFC 9110 §14: a valid single byte range that overlaps the blob gets 206 with exactly those
bytes; a valid one that selects no byte (start at or past the end, a zero-length suffix)
gets 416 with ``Content-Range: bytes */<size>``; anything else (invalid syntax, another
unit, a list of ranges, which a server may ignore) is ignored: 200 with the whole blob.
A control character other than tab makes the header field itself invalid (§5.5): the HTTP
server refuses the request with 400 before the registry sees it. Never a truncated or
wrong body, never a 5xx.
"""

from __future__ import annotations

from dataclasses import dataclass

import httpx
import pytest
from tests.e2e.regclient import RegistryClient, describe

pytestmark = pytest.mark.e2e

DATA = bytes(range(256)) * 8  # 2048 bytes, each position recognisable
SIZE = len(DATA)


@dataclass(frozen=True)
class Case:
    why: str
    #: Sent as these exact bytes (httpx passes control and Latin-1 bytes through).
    header: bytes
    #: 200 (the whole blob), 206 (``span``, inclusive), 416, or 400 (refused unread).
    status: int
    span: tuple[int, int] | None = None


WHOLE, UNSATISFIABLE, REFUSED = 200, 416, 400

CASES = [
    Case("a plain range", b"bytes=0-9", 206, (0, 9)),
    Case("the unit is case-insensitive", b"BYTES=100-199", 206, (100, 199)),
    Case("blanks around the range set", b"bytes= 5-6", 206, (5, 6)),
    Case("an open end", b"bytes=2000-", 206, (2000, SIZE - 1)),
    Case("a last position past the end is cut", b"bytes=2040-5000", 206, (2040, SIZE - 1)),
    Case("a huge last position", b"bytes=0-" + b"9" * 30, 206, (0, SIZE - 1)),
    Case("more digits than int() reads", b"bytes=0-" + b"9" * 5000, 206, (0, SIZE - 1)),
    Case("leading zeros", b"bytes=0010-0019", 206, (10, 19)),
    Case("a suffix", b"bytes=-48", 206, (SIZE - 48, SIZE - 1)),
    Case("a suffix longer than the blob", b"bytes=-5000", 206, (0, SIZE - 1)),
    Case("start at the end", b"bytes=2048-", UNSATISFIABLE),
    Case("start past the end", b"bytes=5000-6000", UNSATISFIABLE),
    Case("a huge start", b"bytes=" + b"9" * 30 + b"-", UNSATISFIABLE),
    Case("a zero-length suffix", b"bytes=-0", UNSATISFIABLE),
    Case("an empty header", b"", WHOLE),
    Case("an empty range set", b"bytes=", WHOLE),
    Case("a lone dash", b"bytes=-", WHOLE),
    Case("no equals sign", b"bytes 0-9", WHOLE),
    Case("another unit", b"items=0-9", WHOLE),
    Case("no unit", b"0-9", WHOLE),
    Case("non-numeric", b"bytes=abc-def", WHOLE),
    Case("non-numeric last position", b"bytes=0-x", WHOLE),
    Case("a negative start", b"bytes=-5-9", WHOLE),
    Case("reversed", b"bytes=9-0", WHOLE),
    Case("reversed by one", b"bytes=10-9", WHOLE),
    Case("reversed and past the end", b"bytes=6000-5000", WHOLE),
    Case("several dashes", b"bytes=0-1-2", WHOLE),
    Case("a double dash", b"bytes=0--5", WHOLE),
    Case("a sign", b"bytes=+1-9", WHOLE),
    Case("a control character", b"bytes=0-\x019", REFUSED),
    Case("DEL", b"bytes=0-9\x7f", REFUSED),
    Case("a Latin-1 superscript digit", b"bytes=0-\xb2", WHOLE),
    Case("a tab inside the range", b"bytes=0-\t9", WHOLE),
    Case("two ranges", b"bytes=0-1,5-6", WHOLE),
    Case("two ranges, the first unsatisfiable", b"bytes=5000-,0-1", WHOLE),
    Case("a range and garbage", b"bytes=0-9,abc", WHOLE),
    Case("a trailing comma", b"bytes=0-9,", WHOLE),
]


def check(
    resp: httpx.Response, case: Case, data: bytes = DATA, *, error_page: bool = False
) -> None:
    """The answer ``case`` calls for, to the byte; ``error_page``: a 416 may carry the
    front's HTML error page (nginx's), never blob bytes."""
    size = len(data)
    assert resp.status_code == case.status, f"{case.why}: {describe(resp)}"
    if case.status == REFUSED:
        assert resp.content == b"", f"{case.why}: {describe(resp)}"
        return
    if case.status == WHOLE:
        assert resp.content == data, f"{case.why}: {describe(resp)}"
        assert "content-range" not in resp.headers, f"{case.why}: {describe(resp)}"
    elif case.status == UNSATISFIABLE:
        assert resp.headers.get("content-range") == f"bytes */{size}", describe(resp)
        if error_page:
            assert resp.headers["content-type"].startswith("text/html"), describe(resp)
        else:
            assert resp.content == b"", f"{case.why}: {describe(resp)}"
    else:
        assert case.span is not None
        first, last = case.span
        assert resp.content == data[first : last + 1], f"{case.why}: {describe(resp)}"
        assert resp.headers["content-range"] == f"bytes {first}-{last}/{size}", describe(resp)
    assert resp.headers["content-length"] == str(len(resp.content)), describe(resp)


@pytest.fixture(scope="module")
def ranged_blob(client: RegistryClient) -> str:
    """The blob's path, in a repository of this module."""
    repo = "ranges/hostile"
    return f"/v2/{repo}/blobs/{client.push_blob(repo, DATA)}"


@pytest.mark.parametrize("case", CASES, ids=[case.why for case in CASES])
def test_range_header(client: RegistryClient, ranged_blob: str, case: Case) -> None:
    check(client.get(ranged_blob, headers={"Range": case.header}), case)  # type: ignore[dict-item]


@pytest.mark.parametrize(
    "case",
    [
        Case("a suffix of an empty blob is the whole (empty) blob", b"bytes=-5", WHOLE),
        Case("a range of an empty blob", b"bytes=0-", UNSATISFIABLE),
        Case("a zero-length suffix of an empty blob", b"bytes=-0", UNSATISFIABLE),
    ],
    ids=lambda case: case.why,
)
def test_range_of_the_empty_blob(client: RegistryClient, case: Case) -> None:
    repo = "ranges/empty"
    path = f"/v2/{repo}/blobs/{client.push_blob(repo, b'')}"
    check(client.get(path, headers={"Range": case.header}), case, b"")  # type: ignore[dict-item]


def test_head_ignores_range(client: RegistryClient, ranged_blob: str) -> None:
    resp = client.head(ranged_blob, headers={"Range": "bytes=0-9"})
    assert resp.status_code == 200, describe(resp)
    assert resp.headers["content-length"] == str(SIZE), describe(resp)
    assert "content-range" not in resp.headers, describe(resp)
