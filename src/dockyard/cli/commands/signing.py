"""``dockyard metadata …``, ``dockyard signing key …``, ``dockyard sign`` and
``dockyard verify``: the metadata service of an instance (PRODUCT.md §8) and image
signatures. ``sign`` runs the local ``gpg`` (your keyring, your pinentry) over the image
URL and stores the signature as an occurrence; the server never sees a secret key."""

from __future__ import annotations

import json
import re
import subprocess
from pathlib import Path
from typing import Annotated, Any

import typer

from dockyard.cli.client import ApiClient, CliError
from dockyard.cli.commands._common import (
    Call,
    command,
    list_or_page,
    print_json,
    print_list,
    print_record,
    print_table,
    repo_path,
    split_reference,
)
from dockyard.cli.commands._shapes import Listing, Record, Resource, add_commands, given

metadata_app = typer.Typer(
    help=(
        "The metadata service (Grafeas style): metadata namespaces, attestation notes and "
        "occurrences (image signatures)."
    ),
    no_args_is_help=True,
)
namespace_app = typer.Typer(
    help=(
        "Metadata namespaces: they hold notes, occurrences and public keys. Not the "
        "repository namespaces of `dockyard namespace`."
    ),
    no_args_is_help=True,
)
note_app = typer.Typer(help="Attestation notes of a metadata namespace.", no_args_is_help=True)
occurrence_app = typer.Typer(
    help="Occurrences: signatures of a note over one image.", no_args_is_help=True
)
signing_app = typer.Typer(help="Public keys that verify image signatures.", no_args_is_help=True)
key_app = typer.Typer(
    help="OpenPGP public keys registered per metadata namespace.", no_args_is_help=True
)
metadata_app.add_typer(namespace_app, name="namespace")
metadata_app.add_typer(note_app, name="note")
metadata_app.add_typer(occurrence_app, name="occurrence")
signing_app.add_typer(key_app, name="key")

MetadataNamespaceArg = Annotated[str, typer.Argument(metavar="NS", help="A metadata namespace.")]
FileOpt = Annotated[
    Path,
    typer.Option("--file", "-f", exists=True, dir_okay=False, help="The JSON (or key) file."),
]
ImageArg = Annotated[str, typer.Argument(metavar="NS/REPO:TAG|NS/REPO@DIGEST")]

NAMESPACE_COLUMNS = [("Name", "NamespaceName"), ("Description", "Description")]
NOTE_COLUMNS = [
    ("Name", "name"),
    ("Kind", "Kind"),
    ("Short description", "ShortDescription"),
    ("Expires", "ExpirationTime"),
]
OCCURRENCE_COLUMNS = [
    ("Name", "Name"),
    ("Note", "NoteName"),
    ("Resource", "ResourceUri"),
    ("Key ids", "keyIds"),
]
KEY_COLUMNS = [
    ("Fingerprint", "Fingerprint"),
    ("Type", "KeyType"),
    ("User id", "UserId"),
    ("Expires", "ExpirationTime"),
]
CHECK_COLUMNS = [
    ("Occurrence", "Occurrence"),
    ("Note", "Note"),
    ("Key", "PublicKeyId"),
    ("User id", "UserId"),
    ("Valid", "Valid"),
    ("Reason", "Reason"),
]
OCI_CHECK_COLUMNS = [
    ("Type", "Type"),
    ("Signature", "Manifest"),
    ("Key", "Fingerprint"),
    ("Valid", "Valid"),
    ("Reason", "Reason"),
]


def _namespaces(instance: str) -> str:
    return f"/instances/{instance}/metadata/namespaces"


def _split(value: str, what: str) -> tuple[str, str]:
    namespace, sep, name = value.partition("/")
    if not sep or not namespace or not name or "/" in name:
        raise CliError(f"expected NS/{what}, got {value!r}", exit_code=2)
    return namespace, name


def _read_json(path: Path) -> Any:
    try:
        return json.loads(path.read_text(encoding="utf-8"))
    except (ValueError, UnicodeDecodeError) as exc:
        raise CliError(f"{path} is not JSON: {exc}", exit_code=2) from exc


# ---- metadata namespace -------------------------------------------------------------------


@command(namespace_app, "create", instance=True)
def create_namespace(
    name: Annotated[str, typer.Argument(metavar="NAME")],
    description: Annotated[str, typer.Option("--description", help="What it is for.")] = "",
    *,
    call: Call,
) -> None:
    """Create a metadata namespace (CreateMetadataNamespace)."""
    body = {"NamespaceName": name, "Description": description}
    with call.api() as client:
        created = client.call("POST", _namespaces(call.instance), json=body)
    _show(created, NAMESPACE_COLUMNS, call.as_json)


@command(namespace_app, "list", instance=True, paged=True)
def list_namespaces(*, call: Call) -> None:
    """List the instance's metadata namespaces."""
    with call.api() as client:
        items = list_or_page(
            client, _namespaces(call.instance), "metadata namespaces", call.page, call.page_size
        )
    print_list(items, NAMESPACE_COLUMNS, call.as_json)


@command(namespace_app, "delete", instance=True)
def delete_namespace(name: MetadataNamespaceArg, *, call: Call) -> None:
    """Delete an empty metadata namespace."""
    with call.api() as client:
        client.call("DELETE", f"{_namespaces(call.instance)}/{name}")
    typer.echo(f"Deleted metadata namespace {name}")


# ---- notes --------------------------------------------------------------------------------


@command(note_app, "create", instance=True)
def create_note(
    name: Annotated[str, typer.Argument(metavar="NS/NOTE")],
    file: FileOpt,
    *,
    call: Call,
) -> None:
    """Create a note from the guide's note JSON (name, ShortDescription, ExpirationTime, …)."""
    namespace, note = _split(name, "NOTE")
    body = {"NoteName": note, "Note": _read_json(file)}
    with call.api() as client:
        created = client.call("POST", f"{_namespaces(call.instance)}/{namespace}/notes", json=body)
    _show(created, NOTE_COLUMNS, call.as_json)


@command(note_app, "list", instance=True, paged=True)
def list_notes(namespace: MetadataNamespaceArg, *, call: Call) -> None:
    """List a metadata namespace's notes."""
    path = f"{_namespaces(call.instance)}/{namespace}/notes"
    with call.api() as client:
        items = list_or_page(client, path, "notes", call.page, call.page_size)
    print_list(items, NOTE_COLUMNS, call.as_json)


# ---- occurrences --------------------------------------------------------------------------


def _post_occurrence(
    client: ApiClient, instance: str, namespace: str, name: str, occurrence: Any
) -> Any:
    body = {"OccurrenceName": name, "Occurrence": occurrence}
    return client.call("POST", f"{_namespaces(instance)}/{namespace}/occurrences", json=body)


@command(occurrence_app, "create", instance=True)
def create_occurrence(
    name: Annotated[str, typer.Argument(metavar="NS/ID")],
    file: FileOpt,
    *,
    call: Call,
) -> None:
    """Create an occurrence from the guide's occurrence JSON (Name, NoteName, ResourceUri,
    Kind, Attestation.Signatures)."""
    namespace, occurrence = _split(name, "ID")
    with call.api() as client:
        created = _post_occurrence(client, call.instance, namespace, occurrence, _read_json(file))
    _show(_with_key_ids(created), OCCURRENCE_COLUMNS, call.as_json)


def _with_key_ids(occurrence: dict[str, Any]) -> dict[str, Any]:
    signatures = occurrence.get("Attestation", {}).get("Signatures", [])
    return {**occurrence, "keyIds": [s["PublicKeyId"] for s in signatures]}


@command(occurrence_app, "list", instance=True)
def list_occurrences(
    namespace: MetadataNamespaceArg,
    note: Annotated[str | None, typer.Option("--note", help="Only this note's.")] = None,
    resource: Annotated[
        list[str] | None,
        typer.Option("--resource", metavar="URI", help="Only over this image URL (repeatable)."),
    ] = None,
    *,
    call: Call,
) -> None:
    """ListMetadataOccurrences: by note and by resource URI."""
    path = f"{_namespaces(call.instance)}/{namespace}/occurrences"
    params: dict[str, Any] = {"PageSize": 100}
    if note:
        params["NoteName"] = note
    if resource:
        params["ResourceURIs"] = json.dumps(resource)
    items: list[dict[str, Any]] = []
    with call.api() as client:
        page_no = 1
        while True:
            page = client.call("GET", path, params={**params, "PageNo": page_no})
            items.extend(page["Occurrences"])
            if len(items) >= page["TotalCount"] or not page["Occurrences"]:
                break
            page_no += 1
    print_list(
        items, OCCURRENCE_COLUMNS, call.as_json, rows=lambda r: [_with_key_ids(o) for o in r]
    )


# ---- public keys --------------------------------------------------------------------------


@command(key_app, "add", instance=True)
def add_key(namespace: MetadataNamespaceArg, file: FileOpt, *, call: Call) -> None:
    """Register a public key: armored OpenPGP (`gpg --armor --export KEYID > key.asc`) for
    `dockyard sign`, or PEM (cosign's `cosign.pub`, a Notation x509 certificate) for the
    cosign and Notation signatures stored in the registry."""
    body = {"PublicKey": file.read_text(encoding="ascii", errors="replace")}
    with call.api() as client:
        added = client.call(
            "POST", f"{_namespaces(call.instance)}/{namespace}/public-keys", json=body
        )
    _show(added, KEY_COLUMNS, call.as_json)


@command(key_app, "list", instance=True)
def list_keys(namespace: MetadataNamespaceArg, *, call: Call) -> None:
    """List the namespace's public keys: fingerprint, user id, expiry."""
    with call.api() as client:
        keys = client.call("GET", f"{_namespaces(call.instance)}/{namespace}/public-keys")
    print_list(keys, KEY_COLUMNS, call.as_json)


@command(key_app, "delete", instance=True)
def delete_key(
    namespace: MetadataNamespaceArg,
    fingerprint: Annotated[str, typer.Argument(metavar="FINGERPRINT")],
    *,
    call: Call,
) -> None:
    """Unregister a public key: signatures by it no longer verify."""
    with call.api() as client:
        client.call("DELETE", f"{_namespaces(call.instance)}/{namespace}/public-keys/{fingerprint}")
    typer.echo(f"Deleted public key {fingerprint} from {namespace}")


# ---- sign and verify ----------------------------------------------------------------------


def _verification(client: ApiClient, instance: str, image: str) -> dict[str, Any]:
    namespace, repository, reference = split_reference(image, digest_ok=True)
    path = f"{repo_path(instance, namespace, repository)}/manifests/{reference}/signatures"
    found: dict[str, Any] = client.call("GET", path)
    return found


def _gpg(*args: str, stdin: bytes | None = None) -> bytes:
    try:
        done = subprocess.run(["gpg", *args], input=stdin, capture_output=True, check=False)
    except FileNotFoundError as exc:
        raise CliError("gpg is not installed (Debian: apt install gnupg)") from exc
    if done.returncode != 0:
        raise CliError(f"gpg failed: {done.stderr.decode(errors='replace').strip()}")
    return done.stdout


def _fingerprint(key: str) -> str:
    listing = _gpg("--with-colons", "--list-secret-keys", key).decode()
    fingerprints = [line.split(":")[9] for line in listing.splitlines() if line.startswith("fpr:")]
    if not fingerprints:
        raise CliError(f"gpg has no secret key {key}")
    return fingerprints[0]


def sign(
    image: ImageArg,
    key: Annotated[str, typer.Option("--key", metavar="KEYID", help="The gpg key to sign with.")],
    metadata_namespace: Annotated[
        str, typer.Option("--metadata-namespace", metavar="NS", help="Where to store it.")
    ],
    note: Annotated[str, typer.Option("--note", metavar="NOTE", help="The attestation note.")],
    *,
    call: Call,
) -> None:
    """Sign an image with the local gpg and store the signature as an occurrence.

    The signed text is the image URL and a newline, as `gpg --armor --sign` makes it in
    the guide; the occurrence is named after the repository, digest and key."""
    fingerprint = _fingerprint(key)
    with call.api() as client:
        url = _verification(client, call.instance, image)["ResourceUri"]
        signature = _gpg(
            "--armor", "--sign", "--local-user", fingerprint, stdin=f"{url}\n".encode()
        )
        digest = url.rsplit("@", 1)[1].split(":", 1)[1]
        repository = re.sub(r"[^A-Za-z0-9_.-]", "-", url.rsplit("/", 1)[1].split("@")[0])
        name = f"{repository}-{digest[:16]}-{fingerprint[-8:]}".lower()
        occurrence = {
            "NoteName": note,
            "ResourceUri": url,
            "Kind": "ATTESTATION",
            "Attestation": {
                "Signatures": [{"Signature": signature.decode(), "PublicKeyId": fingerprint}]
            },
        }
        created = _post_occurrence(client, call.instance, metadata_namespace, name, occurrence)
    if call.as_json:
        print_json(created)
    else:
        typer.echo(f"Signed {url} with {fingerprint}: occurrence {created['Name']}")


def verify(image: ImageArg, *, call: Call) -> None:
    """Verify an image's signatures on the server (occurrences with GnuPG, cosign and
    Notation signatures in the registry against PEM keys); exit 1 when none is valid."""
    with call.api() as client:
        found = _verification(client, call.instance, image)
    if call.as_json:
        print_json(found)
    else:
        typer.echo(f"{found['ResourceUri']}: {'verified' if found['Verified'] else 'NOT verified'}")
        print_table(found["Signatures"], CHECK_COLUMNS)
        if found["OciSignatures"]:
            typer.echo("cosign and Notation signatures:")
            print_table(found["OciSignatures"], OCI_CHECK_COLUMNS)
    if not found["Verified"]:
        raise typer.Exit(1)


def _show(record: dict[str, Any], columns: list[tuple[str, str]], as_json: bool) -> None:
    if as_json:
        print_json(record)
    else:
        print_record(record, columns)


def register(app: typer.Typer) -> None:
    """Add ``metadata``, ``signing``, ``sign`` and ``verify`` to the ``dockyard`` command."""
    app.add_typer(metadata_app, name="metadata")
    app.add_typer(signing_app, name="signing")
    command(app, "sign", instance=True)(sign)
    command(app, "verify", instance=True)(verify)


# ---- signature policies -------------------------------------------------------------------

policy_app = typer.Typer(
    help=(
        "Signature policies: pulls of a namespace's or repository's images need a valid "
        "signature. Not the RAM access policies of `dockyard policy`."
    ),
    no_args_is_help=True,
)
signing_app.add_typer(policy_app, name="policy")
POLICY_COLUMNS = [
    ("Name", "name"),
    ("Namespace", "namespace"),
    ("Repository", "repository"),
    ("Note", "note"),
    ("Keys", "keys"),
    ("Tags", "tags"),
]


def _policy_record(_client: ApiClient, policy: Record) -> None:
    print_record(policy, [*POLICY_COLUMNS, ("Created", "createdAt")])


POLICIES = Resource(
    "signature policy",
    "signature policies",
    "/instances/{instance}/signature-policies",
    typer.Argument(metavar="NAME", help="The policy's name."),
    _policy_record,
)


def create_policy(
    name: Annotated[str, typer.Argument(metavar="NAME")],
    note: Annotated[str, typer.Option("--note", metavar="NS/NOTE", help="The note required.")],
    repository: Annotated[
        str | None, typer.Option("--repository", metavar="NS/REPO", help="This repository.")
    ] = None,
    namespace: Annotated[
        str | None, typer.Option("--namespace", metavar="NS", help="Or every repository of it.")
    ] = None,
    key: Annotated[
        list[str] | None,
        typer.Option("--key", metavar="FINGERPRINT", help="Only this key counts (repeatable)."),
    ] = None,
    tags: Annotated[
        str | None,
        typer.Option("--tags", metavar="PATTERN", help="Only tags matching this regex (whole)."),
    ] = None,
    *,
    call: Call,
) -> None:
    """Create a signature policy: pulls are refused (DENIED) until the image is signed."""
    if (namespace is None) == (repository is None):
        raise CliError("give --namespace or --repository (not both)", exit_code=2)
    body = {
        "name": name,
        "note": note,
        "namespace": namespace,
        "repository": repository,
        "keys": key or None,
        "tags": tags,
    }
    POLICIES.create(call, given(body))


add_commands(
    policy_app,
    POLICIES,
    create=create_policy,
    list=Listing("List the instance's signature policies.", POLICY_COLUMNS),
    show="Show a signature policy.",
    delete="Delete a signature policy: its pulls are served again.",
)
