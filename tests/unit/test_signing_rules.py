"""The shapes the metadata service accepts (services/signing/rules.py): image URLs, note
paths, occurrence names and signatures, each refusal naming its field."""

from __future__ import annotations

import pytest

from dockyard.errors import InvalidInputError
from dockyard.services.signing.rules import (
    MAX_SIGNATURE_BYTES,
    check_occurrence_path,
    check_signatures,
    image_url,
    note_of_path,
    parse_image_url,
)
from dockyard.services.signing.views import SignatureSpec

pytestmark = pytest.mark.unit

DIGEST = "sha256:" + "ab" * 32
ARMORED = "-----BEGIN PGP MESSAGE-----\n\nowGbwMvMwCE\n-----END PGP MESSAGE-----\n"
FINGERPRINT = "36FBFF07B18CD7E827E3B70A118572FF969F1FD2"


def test_image_url_round_trips() -> None:
    url = image_url("cn-hangzhou", "default", "team/app", DIGEST)
    assert url == f"image://cn-hangzhou/default/team/app@{DIGEST}"
    parsed = parse_image_url(url)
    assert (parsed.region, parsed.instance_id, parsed.full_name, parsed.digest) == (
        "cn-hangzhou",
        "default",
        "team/app",
        DIGEST,
    )


@pytest.mark.parametrize(
    "url",
    [
        f"docker://cn-hangzhou/default/team/app@{DIGEST}",
        f"image://cn-hangzhou/default/app@{DIGEST}",
        f"image://cn-hangzhou/default/team/app/extra@{DIGEST}",
        "image://cn-hangzhou/default/team/app:v1",
        "image://cn-hangzhou/default/team/app@sha256:short",
        f"image://cn-hangzhou/default/team/app@{DIGEST}\n",
    ],
)
def test_other_url_shapes_are_refused_naming_the_field(url: str) -> None:
    with pytest.raises(InvalidInputError, match="ResourceURIs must be image://"):
        parse_image_url(url, "ResourceURIs")


def test_note_names_short_or_as_a_path_of_the_same_namespace() -> None:
    assert note_of_path("release", "image-sign", "NoteName") == "image-sign"
    assert note_of_path("release", "/namespaces/release/notes/image-sign", "NoteName") == (
        "image-sign"
    )
    with pytest.raises(InvalidInputError, match="NoteName names metadata namespace other"):
        note_of_path("release", "/namespaces/other/notes/image-sign", "NoteName")
    with pytest.raises(InvalidInputError, match="NoteName must be"):
        note_of_path("release", "/namespaces/release/image-sign", "NoteName")


def test_occurrence_name_is_the_last_segment_of_its_path() -> None:
    check_occurrence_path("release", "sig-1", None)
    check_occurrence_path("release", "sig-1", "/namespaces/release/occurrences/sig-1")
    with pytest.raises(InvalidInputError, match=r"Occurrence\.Name must be"):
        check_occurrence_path("release", "sig-1", "/namespaces/release/occurrences/sig-2")


def test_signatures_are_armored_bounded_and_keyed_by_fingerprint() -> None:
    [checked] = check_signatures([SignatureSpec(ARMORED, FINGERPRINT.lower())])
    assert checked.public_key_id == FINGERPRINT
    refusals = [
        ([], "must hold a signature"),
        ([SignatureSpec("hello", FINGERPRINT)], r"Signatures\[0\].Signature must be"),
        ([SignatureSpec(ARMORED + "é", FINGERPRINT)], r"Signatures\[0\].Signature must be"),
        (
            [SignatureSpec(ARMORED + "A" * MAX_SIGNATURE_BYTES, FINGERPRINT)],
            r"Signatures\[0\].Signature is larger",
        ),
        ([SignatureSpec(ARMORED, "not-hex")], r"Signatures\[0\].PublicKeyId must be"),
        ([SignatureSpec(ARMORED, FINGERPRINT)] * 17, "at most 16"),
    ]
    for signatures, message in refusals:
        with pytest.raises(InvalidInputError, match=message):
            check_signatures(signatures)
