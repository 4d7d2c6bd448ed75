"""dockyard.oci.digest: parsing, hashing, and telling digests from tags."""

from __future__ import annotations

import hashlib

import pytest

from dockyard.errors import InvalidInputError
from dockyard.oci.digest import SUPPORTED_ALGORITHMS, Digest, DigestError, is_digest

pytestmark = pytest.mark.unit

SHA256_HEX = hashlib.sha256(b"x").hexdigest()
SHA512_HEX = hashlib.sha512(b"x").hexdigest()


@pytest.mark.parametrize(
    ("value", "algorithm", "hexpart"),
    [
        (f"sha256:{SHA256_HEX}", "sha256", SHA256_HEX),
        (f"sha512:{SHA512_HEX}", "sha512", SHA512_HEX),
        ("sha256:" + "0" * 64, "sha256", "0" * 64),
    ],
)
def test_parse_valid(value, algorithm, hexpart):
    d = Digest.parse(value)
    assert (d.algorithm, d.hex) == (algorithm, hexpart)
    assert str(d) == value
    assert Digest.parse(str(d)) == d


@pytest.mark.parametrize(
    ("value", "message_part"),
    [
        ("", "invalid digest"),
        ("sha256", "invalid digest"),
        (SHA256_HEX, "invalid digest"),  # no algorithm
        ("sha256:", "invalid digest"),
        (":" + SHA256_HEX, "invalid digest"),
        ("SHA256:" + SHA256_HEX, "invalid digest"),  # algorithm is lower-case
        ("sha256:" + SHA256_HEX.upper(), "invalid sha256 digest"),  # hex is lower-case
        ("sha256:" + SHA256_HEX[:-1], "invalid sha256 digest"),  # too short
        ("sha256:" + SHA256_HEX + "0", "invalid sha256 digest"),  # too long
        ("sha256:" + "g" * 64, "invalid sha256 digest"),  # not hex
        ("sha512:" + SHA256_HEX, "invalid sha512 digest"),  # wrong length for algorithm
        ("sha256:" + SHA256_HEX + " ", "invalid digest"),
        (" sha256:" + SHA256_HEX, "invalid digest"),
        ("sha256:" + SHA256_HEX + "\n", "invalid digest"),  # $ must not match before a newline
        ("sha256:" + SHA256_HEX[:32] + "/" + SHA256_HEX[33:], "invalid digest"),
        ("md5:" + hashlib.md5(b"x").hexdigest(), "unsupported digest algorithm 'md5'"),  # noqa: S324
        ("sha384:" + hashlib.sha384(b"x").hexdigest(), "unsupported digest algorithm"),
        ("blake3:" + "a" * 64, "unsupported digest algorithm"),
        ("sha256+b64u:LCa0a2j_xo_5m0U8HTBBNBNCLXBkg7-g-YpeiGJm564", "unsupported"),
    ],
)
def test_parse_invalid(value, message_part):
    with pytest.raises(DigestError) as info:
        Digest.parse(value)
    assert message_part in info.value.message
    assert isinstance(info.value, InvalidInputError)


@pytest.mark.parametrize("algorithm", SUPPORTED_ALGORITHMS)
def test_of_and_hasher(algorithm):
    data = b"some content" * 100
    d = Digest.of(data, algorithm)
    assert d.algorithm == algorithm
    assert d.hex == hashlib.new(algorithm, data).hexdigest()
    h = d.hasher()
    h.update(data[:7])
    h.update(data[7:])
    assert h.hexdigest() == d.hex
    # A fresh hasher each time, never shared state.
    assert d.hasher().hexdigest() == hashlib.new(algorithm).hexdigest()


def test_of_defaults_to_sha256_and_digests_are_values():
    assert Digest.of(b"x") == Digest("sha256", SHA256_HEX)
    assert {Digest.of(b"x"), Digest.parse(f"sha256:{SHA256_HEX}")} == {Digest.of(b"x")}
    assert Digest.of(b"x") != Digest.of(b"x", "sha512")
    with pytest.raises(AttributeError):
        Digest.of(b"x").hex = "0"


def test_supported_algorithms():
    assert set(SUPPORTED_ALGORITHMS) == {"sha256", "sha512"}


@pytest.mark.parametrize(
    ("reference", "expected"),
    [
        (f"sha256:{SHA256_HEX}", True),
        ("sha256:bogus", True),  # shaped like a digest: parsed (and refused) as one
        ("latest", False),
        ("v1.2.3", False),
        ("v1_2-3", False),
    ],
)
def test_is_digest(reference, expected):
    assert is_digest(reference) is expected
