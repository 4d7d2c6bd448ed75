"""dockyard.api.actions: the resource of each operation in each edition's ARN form."""

from __future__ import annotations

from collections.abc import Callable

import pytest

from dockyard.api import actions
from dockyard.services.access import InstanceRef

pytestmark = pytest.mark.unit

STANDARD = InstanceRef("cri-std", "cn-hangzhou", "1234", "Standard")
ADVANCED = InstanceRef("cri-adv", "cn-hangzhou", "1234", "Advanced")
P = "acs:cr:cn-hangzhou:1234:"


@pytest.mark.parametrize(
    ("resource", "standard", "advanced"),
    [
        (lambda i: actions.namespace_create_arn(i, "ns"), "*", P + "repository/cri-adv/ns"),
        (
            lambda i: actions.namespace_arn(i, "ns"),
            P + "repository/ns",
            P + "repository/cri-adv/ns",
        ),
        (actions.namespace_list_arn, "*", P + "repository/cri-adv/*"),
        (
            lambda i: actions.repository_arn(i, "ns", "app"),
            P + "repository/ns/app",
            P + "repository/cri-adv/ns/app",
        ),
        (lambda i: actions.repository_list_arn(i, "ns"), "*", P + "repository/cri-adv/ns/*"),
        (lambda i: actions.repository_list_arn(i, None), "*", P + "repository/cri-adv/*"),
        (actions.instance_arn, P + "instance/cri-std", P + "instance/cri-adv"),
        (lambda i: actions.metadata_arn(i, "sig"), P + "metadata/sig", P + "metadata/sig"),
        (actions.metadata_list_arn, P + "metadata/*", P + "metadata/*"),
        (actions.signature_arn, "*", "*"),
    ],
)
def test_resources_per_edition(
    resource: Callable[[InstanceRef], str], standard: str, advanced: str
) -> None:
    assert resource(STANDARD) == standard
    assert resource(ADVANCED) == advanced


def test_every_action_is_a_cr_action() -> None:
    names = [v for k, v in vars(actions).items() if k.isupper() and isinstance(v, str)]
    for name in names:
        if name in (actions.ACTION_KEY, actions.ADVANCED, *actions.UNAUTHENTICATED):
            continue
        service, _, operation = name.partition(":")
        assert service in ("cr", "ram", "sts") and operation[:1].isupper(), name
