"""Immutable repositories with a real client: skopeo sees the exact refusal."""

from __future__ import annotations

from pathlib import Path

import pytest
from tests.api.conftest import ApiClient, unique
from tests.conftest import DockyardServer
from tests.e2e import clients as C

pytestmark = [pytest.mark.e2e, pytest.mark.clients]

MESSAGE = "The requested tag already exists and cannot be overwritten."


def test_skopeo_cannot_overwrite_an_immutable_tag(
    registry: DockyardServer, api: ApiClient, tmp_path: Path
) -> None:
    ns = unique("imm")
    api.create_namespace("default", ns)
    repo = api.create_repository("default", ns, "app", tagMutability="Immutable")
    assert repo["tagMutability"] == "Immutable"
    sk = C.Skopeo(tmp_path / "sk")
    first = C.make_oci_layout(tmp_path / "one", tag="v1")
    second = C.make_oci_layout(tmp_path / "two", tag="v1")
    ref = f"docker://{registry.host}/{ns}/app"

    assert sk.copy(first.oci_ref, f"{ref}:v1", dest_creds=registry.admin) == first.digest
    # A different image under :v1 is refused, and skopeo prints the registry's message.
    with pytest.raises(C.ClientError) as refused:
        sk.copy(second.oci_ref, f"{ref}:v1", dest_creds=registry.admin)
    assert MESSAGE in refused.value.stderr + refused.value.stdout
    # The same image again is a no-op.
    assert sk.copy(first.oci_ref, f"{ref}:v1", dest_creds=registry.admin) == first.digest
    # :latest stays overwritable.
    sk.copy(first.oci_ref, f"{ref}:latest", dest_creds=registry.admin)
    assert sk.copy(second.oci_ref, f"{ref}:latest", dest_creds=registry.admin) == second.digest
    tags = api.ok(api.get(api.repo_path("default", f"{ns}/app") + "/tags"))["items"]
    assert {t["name"]: t["digest"] for t in tags} == {"latest": second.digest, "v1": first.digest}

    # Back to Flexible: the overwrite goes through.
    api.ok(api.patch(api.repo_path("default", f"{ns}/app"), json={"tagMutability": "Flexible"}))
    assert sk.copy(second.oci_ref, f"{ref}:v1", dest_creds=registry.admin) == second.digest
    assert sk.inspect(f"{ref}:v1", creds=registry.admin)["Digest"] == second.digest
