"""Creation fields of namespaces and repositories: organization, resource set and region.

Each is checked at creation (an unknown one is a 400 naming the field, and nothing is
created), shown by get and list, and a resource set given at creation takes the new
namespace or repository in as a member.
"""

from __future__ import annotations

from typing import Any

import pytest
from tests.api.conftest import ApiClient, error, unique

pytestmark = pytest.mark.e2e

MISSING_ORGANIZATION = "00000000-0000-4000-8000-000000000000"


@pytest.fixture
def organization(api: ApiClient) -> str:
    orgs = api.ok(api.get("/organizations"))["items"]
    (root,) = [o for o in orgs if o["parentId"] is None]
    body = {"name": unique("org"), "parentId": root["id"]}
    return str(api.ok(api.post("/organizations", json=body), 201)["id"])


@pytest.fixture
def resource_set(api: ApiClient) -> str:
    name = unique("set")
    api.ok(api.post("/resource-sets", json={"name": name}), 201)
    return name


def placed(body: dict[str, Any]) -> tuple[Any, Any, Any]:
    return body["organizationId"], body["resourceSet"], body["region"]


def test_namespace_fields_are_stored_shown_and_join_the_set(
    api: ApiClient, standard: str, organization: str, resource_set: str
) -> None:
    created = api.create_namespace(
        standard, "placed", organizationId=organization, resourceSet=resource_set, region="local"
    )
    assert placed(created) == (organization, resource_set, "local")
    path = f"/instances/{standard}/namespaces/placed"
    assert placed(api.ok(api.get(path))) == (organization, resource_set, "local")
    (listed,) = api.ok(api.get(f"/instances/{standard}/namespaces"))["items"]
    assert placed(listed) == (organization, resource_set, "local")

    members = api.ok(api.get(f"/resource-sets/{resource_set}"))["namespaces"]
    assert members == [{"instanceId": standard, "namespace": "placed"}]


def test_namespace_defaults(api: ApiClient) -> None:
    instance = str(api.create_instance(region="eu-west-1")["id"])
    created = api.create_namespace(instance, "plain")
    assert placed(created) == (None, None, "eu-west-1")


@pytest.mark.parametrize(
    ("field", "value"),
    [
        ("organizationId", MISSING_ORGANIZATION),
        ("organizationId", "not-a-uuid"),
        ("resourceSet", "no-such-set"),
        ("region", "elsewhere"),
    ],
)
def test_namespace_invalid_field_is_refused_and_nothing_created(
    api: ApiClient, standard: str, field: str, value: str
) -> None:
    body = {"name": "refused", field: value}
    found = error(api.post(f"/instances/{standard}/namespaces", json=body), 400, "INVALID_INPUT")
    assert found["message"].startswith(field)
    error(api.get(f"/instances/{standard}/namespaces/refused"), 404, "NOT_FOUND")
    assert api.ok(api.get(f"/instances/{standard}/namespaces"))["total"] == 0


def test_repository_fields_inherit_the_namespace_organization(
    api: ApiClient, standard: str, organization: str, resource_set: str
) -> None:
    api.create_namespace(standard, "team", organizationId=organization)
    plain = api.create_repository(standard, "team", "plain")
    assert placed(plain) == (organization, None, "local")

    created = api.create_repository(
        standard, "team", "app", resourceSet=resource_set, region="local"
    )
    assert placed(created) == (organization, resource_set, "local")
    got = api.ok(api.get(api.repo_path(standard, "team/app")))
    assert placed(got) == (organization, resource_set, "local")
    listed = api.ok(api.get(f"/instances/{standard}/repositories"))["items"]
    assert {r["fullName"]: r["resourceSet"] for r in listed} == {
        "team/app": resource_set,
        "team/plain": None,
    }
    members = api.ok(api.get(f"/resource-sets/{resource_set}"))["repositories"]
    assert [m["fullName"] for m in members] == ["team/app"]


def test_repository_organization_given_wins(
    api: ApiClient, standard: str, organization: str
) -> None:
    api.create_namespace(standard, "team")
    created = api.create_repository(standard, "team", "app", organizationId=organization)
    assert placed(created) == (organization, None, "local")


@pytest.mark.parametrize(
    ("field", "value"),
    [
        ("organizationId", MISSING_ORGANIZATION),
        ("resourceSet", "no-such-set"),
        ("region", "elsewhere"),
    ],
)
def test_repository_invalid_field_is_refused_and_nothing_created(
    api: ApiClient, standard: str, field: str, value: str
) -> None:
    api.create_namespace(standard, "team")
    found = error(
        api.post(
            f"/instances/{standard}/namespaces/team/repositories",
            json={"name": "refused", field: value},
        ),
        400,
        "INVALID_INPUT",
    )
    assert found["message"].startswith(field)
    error(api.get(api.repo_path(standard, "team/refused")), 404, "NOT_FOUND")
    assert api.ok(api.get(f"/instances/{standard}/repositories"))["total"] == 0


def test_openapi_documents_the_fields(api: ApiClient) -> None:
    schemas = api.ok(api.get("/openapi.json"))["components"]["schemas"]
    for kind in ("Namespace", "Repository"):
        created = schemas[f"{kind}Create"]["properties"]
        shown = schemas[f"{kind}Out"]
        assert {"organizationId", "resourceSet", "region"} <= set(created)
        assert {"organizationId", "resourceSet", "region"} <= set(shown["properties"])
        assert "region" in shown["required"]
