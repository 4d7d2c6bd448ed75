"""The signing commands of the installed ``dockyard`` command against a running server, with
real GnuPG: the guide's flow by hand (note and occurrence JSON files, ``gpg --armor
--sign``), ``dockyard sign`` running the local gpg, ``dockyard verify`` (exit 1 when
unverified), listing by note and by resource, and refusals."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path

import pytest
from tests.api.conftest import Pusher, unique
from tests.conftest import DockyardServer
from tests.dockyard_cli import Cli
from tests.gpg import Keyring

pytestmark = pytest.mark.e2e


@pytest.fixture
def pusher(registry: DockyardServer) -> Iterator[Pusher]:
    p = Pusher(registry)
    yield p
    p.close()


@pytest.fixture
def cli(registry: DockyardServer, tmp_path: Path) -> Cli:
    client = Cli(tmp_path / "cli-home")
    client.login(registry.url, *registry.admin)
    return client


@pytest.fixture
def keyring(tmp_path: Path) -> Iterator[Keyring]:
    """A GnuPG home of the test's own; its gpg-agent is stopped at the end."""
    with Keyring(tmp_path / "gnupg") as opened:
        yield opened


def test_guide_flow_sign_and_verify(
    cli: Cli,
    pusher: Pusher,
    keyring: Keyring,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("GNUPGHOME", str(keyring.home))  # what `dockyard sign` runs gpg with
    key = keyring.generate("release")
    ns = unique("clisig")
    cli.run("namespace", "create", ns)
    cli.run("repo", "create", f"{ns}/app")
    pusher.image(f"{ns}/app", "v1")
    pusher.image(f"{ns}/app", "v2")

    mns = unique("climeta")
    created = cli.json("metadata", "namespace", "create", mns, "--description", "releases")
    assert created["NamespaceName"] == mns
    assert mns in [n["NamespaceName"] for n in cli.json("metadata", "namespace", "list")]
    note = tmp_path / "note.json"
    note.write_text(
        json.dumps(
            {
                "name": f"/namespaces/{mns}/notes/image-sign",
                "ShortDescription": "release",
                "ExpirationTime": "2099-01-01T00:00:00Z",
                "Kind": "ATTESTATION",
                "Attestation": {"Hint": {"HumanReadableName": "release signer"}},
            }
        )
    )
    cli.run("metadata", "note", "create", f"{mns}/image-sign", "--file", str(note))
    assert [n["name"] for n in cli.json("metadata", "note", "list", mns)] == [
        f"/namespaces/{mns}/notes/image-sign"
    ]
    public = tmp_path / "public-key.asc"
    public.write_text(keyring.export(key))
    cli.run("signing", "key", "add", mns, "--file", str(public))
    [listed] = cli.json("signing", "key", "list", mns)
    assert (listed["Fingerprint"], listed["UserId"]) == (key.fingerprint, key.user_id)
    table = cli.run("signing", "key", "list", mns).stdout
    assert key.fingerprint in table and "release@example.com" in table

    unsigned = cli.run("verify", f"{ns}/app:v1", expect=1)
    assert "NOT verified" in unsigned.stdout
    url = json.loads(cli.run("verify", f"{ns}/app:v1", "--json", expect=1).stdout)["ResourceUri"]

    # By hand, as the guide does it: the URL in a file, gpg --armor --sign, occurrence JSON.
    occurrence = tmp_path / "occurrence.json"
    occurrence.write_text(
        json.dumps(
            {
                "Name": f"/namespaces/{mns}/occurrences/sig-v1",
                "NoteName": "image-sign",
                "ResourceUri": url,
                "Kind": "ATTESTATION",
                "Attestation": {
                    "Signatures": [
                        {"Signature": keyring.sign(key, url), "PublicKeyId": key.fingerprint}
                    ]
                },
            }
        )
    )
    cli.run("metadata", "occurrence", "create", f"{mns}/sig-v1", "--file", str(occurrence))
    verified = cli.json("verify", f"{ns}/app:v1")
    assert verified["Verified"] is True
    assert [c["Valid"] for c in verified["Signatures"]] == [True]

    # dockyard sign: the local gpg signs v2's URL and the occurrence is stored.
    signed = cli.run(
        "sign",
        f"{ns}/app:v2",
        "--key",
        key.fingerprint,
        "--metadata-namespace",
        mns,
        "--note",
        "image-sign",
    )
    assert f"with {key.fingerprint}" in signed.stdout
    assert "verified" in cli.run("verify", f"{ns}/app:v2").stdout
    assert len(cli.json("metadata", "occurrence", "list", mns, "--note", "image-sign")) == 2
    by_resource = cli.json("metadata", "occurrence", "list", mns, "--resource", url)
    assert [o["Name"] for o in by_resource] == [f"/namespaces/{mns}/occurrences/sig-v1"]

    # A signature policy on the repository (its pulls are tested in tests/e2e).
    policy = unique("clipolicy")
    created = cli.json(
        "signing",
        "policy",
        "create",
        policy,
        "--repository",
        f"{ns}/app",
        "--note",
        f"{mns}/image-sign",
        "--key",
        key.fingerprint,
        "--tags",
        "v.*",
    )
    assert (created["repository"], created["keys"], created["tags"]) == (
        f"{ns}/app",
        [key.fingerprint],
        "v.*",
    )
    assert policy in [p["name"] for p in cli.json("signing", "policy", "list")]
    assert cli.json("signing", "policy", "show", policy)["note"] == f"{mns}/image-sign"
    cli.run("signing", "policy", "delete", policy)
    both = ("--repository", f"{ns}/app", "--namespace", ns, "--note", f"{mns}/image-sign")
    refused = cli.run("signing", "policy", "create", policy, *both, expect=2)
    assert "not both" in refused.stderr

    # Refusals: a file that is not JSON, a non-empty namespace; an unregistered key.
    bad = tmp_path / "bad.json"
    bad.write_bytes(b"\xff not json")
    refused = cli.run("metadata", "note", "create", f"{mns}/x", "--file", str(bad), expect=2)
    assert "is not JSON" in refused.stderr
    refused = cli.run("metadata", "namespace", "delete", mns, expect=1)
    assert "still holds" in refused.stderr
    cli.run("signing", "key", "delete", mns, key.fingerprint)
    after = cli.run("verify", f"{ns}/app:v1", expect=1)
    assert "unknown key" in after.stdout
