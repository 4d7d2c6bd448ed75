"""The ``acr-configuration`` ConfigMap as ``dockyard k8s-credential-helper`` reads it."""

from __future__ import annotations

from datetime import timedelta

import pytest

from dockyard.integrations.k8s_helper import (
    ConfigError,
    HelperConfig,
    RegistryInfo,
    dockerconfigjson,
    parse_config,
)
from dockyard.integrations.temporary_logins import TemporaryLogin

pytestmark = pytest.mark.unit


def test_no_configmap_means_every_default() -> None:
    config, unknown = parse_config(None)
    assert config == HelperConfig()
    assert config.service_accounts == {"default"} and config.namespaces == {"default"}
    assert config.registries == () and config.threshold == timedelta(minutes=15)
    assert config.api_version == "2018-12-01" and unknown == []


def test_the_guides_keys() -> None:
    config, unknown = parse_config(
        {
            "service-account": "default, builder ,",
            "watch-namespace": "team-a,team-b",
            "acr-registry-info": (
                '- instanceId: ""\n'
                '- instanceId: "cri-abc"\n'
                '  regionId: "eu-west"\n'
                '  domains: "a.example.com, b.example.com:5000"\n'
            ),
            "expiring-threshold": "1h30m",
            "acr-api-version": "2018-12-01",
            "notify-email": "ops@example.com",
            "something-new": "x",
        }
    )
    assert config.service_accounts == {"default", "builder"}
    assert config.namespaces == {"team-a", "team-b"}
    assert config.registries == (
        RegistryInfo("default"),
        RegistryInfo("cri-abc", ("a.example.com", "b.example.com:5000"), "eu-west"),
    )
    assert config.threshold == timedelta(hours=1, minutes=30)
    assert unknown == ["something-new"]  # notify-email is known, and ignored


def test_everything_spellings() -> None:
    config, _ = parse_config({"service-account": "*", "watch-namespace": "all"})
    assert config.service_accounts is None and config.namespaces is None
    assert config.serves("anything") and config.watches("anything")
    assert not HelperConfig().watches("team-a") and not HelperConfig().serves("builder")


def test_domains_as_a_yaml_list_and_an_empty_registry_list() -> None:
    config, _ = parse_config({"acr-registry-info": "- instanceId: x\n  domains: [A.example]"})
    assert config.registries == (RegistryInfo("x", ("a.example",)),)
    assert parse_config({"acr-registry-info": "[]"})[0].registries == ()


@pytest.mark.parametrize(
    ("data", "message"),
    [
        ({"expiring-threshold": "15 minutes"}, "expiring-threshold: not a duration"),
        ({"expiring-threshold": "0s"}, "expiring-threshold: must be longer than 0s"),
        ({"service-account": ""}, "service-account: empty"),
        ({"acr-registry-info": "- instanceId: [unclosed"}, "acr-registry-info: not YAML"),
        ({"acr-registry-info": "{instanceId: x}"}, "must be a list"),
        ({"acr-registry-info": "- x"}, "entry 1: must be a mapping"),
        ({"acr-registry-info": "- domain: a.example"}, "entry 1: unknown key(s) domain"),
        ({"acr-registry-info": "- regionId: r"}, "entry 1: instanceId is required"),
        ({"acr-registry-info": "- {instanceId: x, regionId: ''}"}, "regionId must be"),
        ({"acr-registry-info": "- {instanceId: x, domains: 'a/b'}"}, "not a registry host"),
        ({"acr-api-version": "2019-01-01"}, "acr-api-version: '2019-01-01' is not known"),
    ],
    ids=[
        "threshold-words",
        "threshold-zero",
        "empty-accounts",
        "yaml",
        "not-a-list",
        "entry-not-mapping",
        "unknown-entry-key",
        "no-instance-id",
        "empty-region",
        "domain-with-path",
        "api-version",
    ],
)
def test_bad_configurations_say_what_is_wrong(data: dict[str, str], message: str) -> None:
    with pytest.raises(ConfigError) as caught:
        parse_config(data)
    assert message in caught.value.message


def test_the_dockerconfigjson_has_one_entry_per_host() -> None:
    from datetime import UTC, datetime

    login = TemporaryLogin("cr_temp_user", "tok", datetime(2030, 1, 1, tzinfo=UTC))
    payload = dockerconfigjson(["a.example", "b.example:5000"], login)
    assert payload == (
        b'{"auths": {"a.example": {"auth": "Y3JfdGVtcF91c2VyOnRvaw==", "password": "tok", '
        b'"username": "cr_temp_user"}, "b.example:5000": {"auth": "Y3JfdGVtcF91c2VyOnRvaw==", '
        b'"password": "tok", "username": "cr_temp_user"}}}'
    )
