"""Tag retention with real clients (issue 18's scenario): 20 tags pushed by skopeo one after
the other (so their push times are known by order), a policy's dry run that equals its
execution, the retained tags pulled by podman, the deleted ones ``MANIFEST_UNKNOWN``."""

from __future__ import annotations

import secrets
from pathlib import Path

import httpx
import pytest
from tests.conftest import DockyardServer
from tests.e2e import clients as C
from tests.e2e.regclient import RegistryClient

pytestmark = [pytest.mark.e2e, pytest.mark.clients]

#: Tags t01..t14 each push a new image; t15..t20 push images 0..5 again under a new tag, so
#: those six images' newest tag updates are the latest six pushes.
IMAGES = 14
TAGS = [f"t{i:02d}" for i in range(1, 21)]


def image_of(tag_index: int) -> int:
    return tag_index if tag_index < IMAGES else tag_index - IMAGES


def test_retention_of_twenty_skopeo_tags(
    registry: DockyardServer, client: RegistryClient, tmp_path: Path
) -> None:
    ns = f"ret{secrets.token_hex(3)}"
    repo = f"{ns}/app"
    sk = C.Skopeo(tmp_path / "sk")
    layouts = [C.make_oci_layout(tmp_path / f"layout{i}") for i in range(IMAGES)]
    for index, tag in enumerate(TAGS):
        layout = layouts[image_of(index)]
        ref = f"docker://{registry.host}/{repo}:{tag}"
        assert sk.copy(layout.oci_ref, ref, dest_creds=registry.admin) == layout.digest

    # Keep the 4 latest images (5, 4, 3, 2: tagged t20..t17 and t06..t03) and t10, t11.
    retained = sorted(["t03", "t04", "t05", "t06", "t17", "t18", "t19", "t20", "t10", "t11"])
    deleted = sorted(set(TAGS) - set(retained))
    with httpx.Client(base_url=f"{registry.url}/api/v1", auth=registry.admin) as api:
        policies = "/instances/default/retention-policies"
        body = {"name": "keep-4", "repositories": [repo], "keepLatest": 4, "keepTags": "t1[01]"}
        assert api.post(policies, json=body).status_code == 201
        dry = api.post(f"{policies}/keep-4/runs", json={"dryRun": True})
        assert dry.status_code == 200, dry.text
        [planned] = dry.json()["repositories"]
        assert (planned["kept"], planned["deleted"]) == (retained, deleted)
        run = api.post(f"{policies}/keep-4/runs", json={"dryRun": False}).json()
        [done] = run["repositories"]
    assert (done["kept"], done["deleted"]) == (planned["kept"], planned["deleted"])
    # The images that lost every tag went: 0 and 1 (t01, t15; t02, t16), 6-8 (t07-t09) and
    # 11-13 (t12-t14); 9 and 10 keep t10 and t11.
    gone = {layouts[i].digest for i in (0, 1, 6, 7, 8, 11, 12, 13)}
    assert set(done["deletedManifests"]) == gone

    assert sk.list_tags(f"docker://{registry.host}/{repo}", creds=registry.admin) == retained
    with C.Podman(tmp_path / "pm") as pm:
        for tag in retained:
            pm.pull(f"{registry.host}/{repo}:{tag}", creds=registry.admin)
            expected = layouts[image_of(TAGS.index(tag))].digest
            assert pm.image_digest(f"{registry.host}/{repo}:{tag}") == expected
    for tag in deleted:
        resp = client.get(f"/v2/{repo}/manifests/{tag}")
        assert resp.status_code == 404, tag
        assert resp.json()["errors"][0]["code"] == "MANIFEST_UNKNOWN"
