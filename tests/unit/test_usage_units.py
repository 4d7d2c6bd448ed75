"""Sizes as ``dockyard quota set`` reads them and as usage messages print them."""

from __future__ import annotations

import pytest

from dockyard.cli.client import CliError
from dockyard.cli.commands.usage import parse_size
from dockyard.errors import InvalidInputError
from dockyard.services.usage import QuotaExceededError, human
from dockyard.services.usage.rules import check_quota


@pytest.mark.parametrize(
    ("text", "size"),
    [
        ("10737418240", 10 * 1024**3),
        ("10GiB", 10 * 1024**3),
        ("10 gib", 10 * 1024**3),
        ("10G", 10 * 1024**3),
        ("1.5MiB", 1572864),
        ("512KiB", 512 * 1024),
        ("2TiB", 2 * 1024**4),
        ("10GB", 10 * 1000**3),
        ("1.5kB", 1500),
        ("0", 0),
        ("7B", 7),
        ("none", None),
        ("NONE", None),
    ],
)
def test_quota_sizes_in_plain_bytes_binary_and_decimal_units(text, size):
    assert parse_size(text) == size


@pytest.mark.parametrize("text", ["ten", "-1", "10XB", "1e9", "", "GiB"])
def test_anything_else_is_a_usage_error(text):
    with pytest.raises(CliError) as refused:
        parse_size(text)
    assert refused.value.exit_code == 2
    assert "not a size" in refused.value.message


@pytest.mark.parametrize(
    ("size", "text"),
    [
        (0, "0 B"),
        (1023, "1023 B"),
        (1024, "1.0 KiB"),
        (1536 * 1024, "1.5 MiB"),
        (10 * 1024**3, "10.0 GiB"),
        (2**63 - 1, "8.0 EiB"),
    ],
)
def test_human_sizes_use_the_largest_binary_unit(size, text):
    assert human(size) == text


def test_the_refusal_names_the_namespace_the_quota_the_usage_and_the_push():
    error = QuotaExceededError("team", 10 * 1024**3, 10 * 1024**3 - 5, 1024)
    assert error.message == (
        "storage quota exceeded: namespace team has a quota of 10737418240 bytes (10.0 GiB) "
        "and uses 10737418235 bytes (10.0 GiB); this push would add 1024 bytes (1.0 KiB)"
    )
    assert error.detail == {
        "namespace": "team",
        "quota": 10737418240,
        "usage": 10737418235,
        "adding": 1024,
    }


@pytest.mark.parametrize("quota", [-1, 2**63])
def test_quotas_are_signed_64_bit_byte_counts(quota):
    with pytest.raises(InvalidInputError):
        check_quota(quota)
    assert check_quota(None) is None
    assert check_quota(0) == 0
