"""Finds the cosign and Notation signatures stored in a repository over an image, and
checks each against the PEM public keys and certificates registered in the instance's
metadata namespaces (``oci`` does the cryptography).

Where they are: Notation signatures, and cosign's in its OCI 1.1 mode, are referrers of
the image (their ``subject``); cosign's tag scheme stores them under the tag
``sha256-<hex>.sig`` of the image's digest. Both are kept while the image lives: a
referrer of a present subject is never untagged garbage, and a tag is a tag.

Signature policies: a policy that names keys is also satisfied by a valid cosign or
Notation signature by one of those keys (registered, like the note, in the policy's
metadata namespace); a policy that names no keys asks for its note, which only an
occurrence carries.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Sequence

from dockyard.clock import SYSTEM_CLOCK, Clock
from dockyard.errors import DockyardError
from dockyard.metadata.models import SignaturePolicy
from dockyard.metadata.queries import signing as q
from dockyard.metadata.session import Database
from dockyard.oci.manifest import parse_manifest
from dockyard.oci.mediatypes import NOTATION_SIGNATURE, SIGNATURES
from dockyard.services.content import ContentService, ManifestUnknownError
from dockyard.services.signing.gpg import BAD_SIGNATURE
from dockyard.services.signing.oci import (
    COSIGN,
    JWS_ENVELOPE,
    MAX_SIGNATURE_BLOB_BYTES,
    NOTATION,
    SIMPLE_SIGNING,
    NativeOutcome,
    TrustedKey,
    cosign_tag,
    is_pem_key,
    signature_annotation,
    verify_cosign,
    verify_notation,
)
from dockyard.services.signing.views import Admission, OciSignatureCheck, PolicyOutcome
from dockyard.services.tenancy import RepositoryRef


class OciSignatures:
    def __init__(self, db: Database, content: ContentService, *, clock: Clock = SYSTEM_CLOCK):
        self._db = db
        self._content = content
        self._clock = clock

    async def checks(self, repo: RepositoryRef, digests: Sequence[str]) -> list[OciSignatureCheck]:
        """Every cosign and Notation signature over one of ``digests``, checked."""
        keys = await self._keys(repo.instance_id)
        out: list[OciSignatureCheck] = []
        for digest in digests:
            for manifest, tag in await self._signature_manifests(repo, digest):
                out.extend(await self._check_manifest(repo, digest, manifest, tag, keys))
        return out

    async def _keys(self, instance_id: str) -> list[TrustedKey]:
        async with self._db.read() as session:
            rows = await q.instance_public_keys(session, instance_id)
        return [
            TrustedKey(ns, row.fingerprint, row.armored)
            for row, ns in rows
            if is_pem_key(row.armored)
        ]

    async def _signature_manifests(
        self, repo: RepositoryRef, digest: str
    ) -> list[tuple[tuple[str, bytes, str], str | None]]:
        """(digest, body, media type) and tag of each signature manifest over ``digest``."""
        found: list[tuple[tuple[str, bytes, str], str | None]] = []
        for descriptor in await self._content.referrers(repo, digest, None):
            if descriptor.get("artifactType") not in SIGNATURES:
                continue
            try:
                view = await self._content.get_manifest(repo, str(descriptor["digest"]))
            except ManifestUnknownError:  # deleted since the referrers were listed
                continue
            found.append(((view.digest, view.content, view.media_type), None))
        tag = cosign_tag(digest)
        try:
            view = await self._content.get_manifest(repo, tag)
        except ManifestUnknownError:
            return found
        if all(view.digest != m[0] for m, _t in found):
            found.append(((view.digest, view.content, view.media_type), tag))
        return found

    async def _check_manifest(
        self,
        repo: RepositoryRef,
        subject: str,
        manifest: tuple[str, bytes, str],
        tag: str | None,
        keys: Sequence[TrustedKey],
    ) -> list[OciSignatureCheck]:
        digest, body, media_type = manifest
        parsed = parse_manifest(body, media_type)
        kind = NOTATION if parsed.referrer_artifact_type == NOTATION_SIGNATURE else COSIGN
        wanted = JWS_ENVELOPE if kind == NOTATION else SIMPLE_SIGNING
        signed = [layer for layer in parsed.layers if layer.media_type == wanted]
        if not signed:
            missing = NativeOutcome(None, None, f"{BAD_SIGNATURE}: no {wanted} layer")
            return [_check(kind, digest, subject, tag, missing)]
        out = []
        for layer in signed:
            try:
                blob = await self._content.small_blob(repo, layer.digest, MAX_SIGNATURE_BLOB_BYTES)
            except DockyardError as exc:
                outcome = NativeOutcome(None, None, f"{BAD_SIGNATURE}: {exc.message}")
            else:
                if kind == COSIGN:
                    annotation = signature_annotation(layer.annotations)
                    outcome = verify_cosign(blob, annotation, subject, keys)
                else:
                    outcome = verify_notation(blob, subject, keys, self._clock.now())
            out.append(_check(kind, digest, subject, tag, outcome))
        return out


def oci_satisfies(policy: SignaturePolicy, checks: Sequence[OciSignatureCheck]) -> bool:
    """Whether a valid cosign or Notation signature satisfies ``policy``: only a policy
    that names keys, by one of them registered in the policy's metadata namespace."""
    return _satisfying(policy, checks) is not None


def with_oci_signatures(
    admission: Admission, policies: Sequence[SignaturePolicy], checks: Sequence[OciSignatureCheck]
) -> Admission:
    """``admission`` with the policies a cosign or Notation signature satisfies admitted,
    and the signatures listed."""
    by_name = {p.name: p for p in policies}
    outcomes = []
    for outcome in admission.policies:
        policy = by_name.get(outcome.policy)
        signer = _satisfying(policy, checks) if policy else None
        if outcome.applies and not outcome.satisfied and signer is not None:
            reason = f"{signer.type} signature {signer.manifest} by {signer.key}"
            outcome = PolicyOutcome(outcome.policy, True, True, [reason])
        outcomes.append(outcome)
    admitted = all(o.satisfied for o in outcomes if o.applies)
    return dataclasses.replace(
        admission, admitted=admitted, policies=outcomes, oci_signatures=list(checks)
    )


def _satisfying(
    policy: SignaturePolicy, checks: Sequence[OciSignatureCheck]
) -> OciSignatureCheck | None:
    keys = set(policy.key_fingerprints)
    return next(
        (c for c in checks if c.valid and c.key in keys and c.namespace == policy.note_namespace),
        None,
    )


def _check(
    kind: str, manifest: str, subject: str, tag: str | None, outcome: NativeOutcome
) -> OciSignatureCheck:
    return OciSignatureCheck(
        type=kind,
        manifest=manifest,
        digest=subject,
        tag=tag,
        namespace=outcome.namespace,
        key=outcome.key,
        valid=outcome.valid,
        reason=outcome.reason,
    )
