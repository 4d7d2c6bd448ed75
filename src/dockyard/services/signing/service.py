"""The Grafeas-style metadata service of an instance (PRODUCT.md §8, both editions) and the
verification of image signatures with real GnuPG.

A publisher signs the image URL ``image://<region>/<instanceId>/<ns>/<repo>@<digest>`` with
``gpg --armor --sign`` and stores the message as an occurrence of an attestation note; an
occurrence is kept with the image it signs (its repository and digest). Verification
checks every occurrence of an image against the public keys registered in the occurrence's
metadata namespace, each check in a temporary GNUPGHOME holding only those keys.
"""

from __future__ import annotations

import asyncio
import base64
import uuid
from collections.abc import Sequence

from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession

from dockyard.clock import SYSTEM_CLOCK, Clock
from dockyard.errors import AlreadyExistsError, ConflictError, InvalidInputError, NotFoundError
from dockyard.metadata.models import (
    MetadataNamespace,
    MetadataNote,
    MetadataOccurrence,
    MetadataPublicKey,
)
from dockyard.metadata.queries import signing as q
from dockyard.metadata.session import Database
from dockyard.services.audit import Actor, AuditLog
from dockyard.services.content import ContentService
from dockyard.services.paging import Page, PageRequest
from dockyard.services.signing.gpg import EXPIRED_KEY, open_signed, read_public_key
from dockyard.services.signing.native import OciSignatures
from dockyard.services.signing.oci import is_pem_key, read_pem_key
from dockyard.services.signing.rules import (
    check_fingerprint,
    check_kind,
    check_name,
    check_note_path,
    check_occurrence_name,
    check_occurrence_path,
    check_signatures,
    image_url,
    note_of_path,
    parse_image_url,
)
from dockyard.services.signing.views import (
    NamespaceView,
    NoteSpec,
    NoteView,
    OccurrenceSpec,
    OccurrenceView,
    OciSignatureCheck,
    PublicKeyView,
    SignatureCheck,
    SignatureSpec,
    Verification,
)
from dockyard.services.tenancy import RepositoryRef, TenancyService

CREATE_NAMESPACE_ACTION = "cr:CreateMetadataNamespace"
DELETE_NAMESPACE_ACTION = "cr:DeleteMetadataNamespace"
CREATE_NOTE_ACTION = "cr:CreateMetadataNote"
DELETE_NOTE_ACTION = "cr:DeleteMetadataNote"
CREATE_OCCURRENCE_ACTION = "cr:CreateMetadataOccurrence"
DELETE_OCCURRENCE_ACTION = "cr:DeleteMetadataOccurrence"
CREATE_KEY_ACTION = "cr:CreateMetadataPublicKey"
DELETE_KEY_ACTION = "cr:DeleteMetadataPublicKey"
#: An armored public key block; larger ones are refused before gpg sees them.
MAX_PUBLIC_KEY_BYTES = 64 * 1024

NOTE_EXPIRED = "note expired"
OTHER_IMAGE = "signed text is another image's URL"
KEY_ID_MISMATCH = "signed by another key than PublicKeyId"


class SigningService:
    def __init__(
        self,
        db: Database,
        tenancy: TenancyService,
        content: ContentService,
        audit: AuditLog,
        *,
        clock: Clock = SYSTEM_CLOCK,
    ) -> None:
        self._db = db
        self._tenancy = tenancy
        self._content = content
        self._audit = audit
        self._clock = clock
        self._oci = OciSignatures(db, content, clock=clock)

    # ---- metadata namespaces ---------------------------------------------------------------

    async def create_namespace(
        self, instance_id: str, name: str, description: str, *, actor: Actor | None, resource: str
    ) -> NamespaceView:
        check_name(name, "NamespaceName")
        await self._tenancy.instance_ref(instance_id)
        row = MetadataNamespace(
            id=uuid.uuid4(),
            instance_id=instance_id,
            name=name,
            description=description,
            created_at=self._clock.now(),
        )
        try:
            async with self._db.write() as session:
                if await q.find_namespace(session, instance_id, name) is not None:
                    raise _exists("metadata namespace", name)
                session.add(row)
                await session.flush()
                detail = {"namespace": name, "description": description}
                await self._audit.change(session, actor, CREATE_NAMESPACE_ACTION, resource, detail)
        except IntegrityError as exc:  # a concurrent create of the same name won
            raise _exists("metadata namespace", name) from exc
        return _namespace_view(row)

    async def list_namespaces(self, instance_id: str, page: PageRequest) -> Page[NamespaceView]:
        async with self._db.read() as session:
            rows, total = await q.list_namespaces(session, instance_id, page.offset, page.page_size)
            items = [_namespace_view(row) for row in rows]
        return Page(items, page.page, page.page_size, total)

    async def get_namespace(self, instance_id: str, name: str) -> NamespaceView:
        async with self._db.read() as session:
            return _namespace_view(await _namespace(session, instance_id, name))

    async def delete_namespace(
        self, instance_id: str, name: str, *, actor: Actor | None, resource: str
    ) -> None:
        """Only an empty one: its notes, occurrences and keys are deleted first."""
        async with self._db.write() as session:
            row = await _namespace(session, instance_id, name)
            if not await q.namespace_is_empty(session, row.id):
                raise ConflictError(
                    f"metadata namespace {name} still holds notes, occurrences or public keys"
                )
            await q.delete_namespace(session, row.id)
            await self._audit.change(
                session, actor, DELETE_NAMESPACE_ACTION, resource, {"namespace": name}
            )

    # ---- notes -----------------------------------------------------------------------------

    async def create_note(
        self,
        instance_id: str,
        namespace: str,
        spec: NoteSpec,
        *,
        actor: Actor | None,
        resource: str,
    ) -> NoteView:
        """A past ``expiration_time`` is accepted (the guide's own example note expired);
        verification then reports the note expired."""
        name = check_name(spec.name, "NoteName")
        check_note_path(namespace, name, spec.path)
        check_kind(spec.kind, "Note.Kind")
        try:
            async with self._db.write() as session:
                ns = await _namespace(session, instance_id, namespace)
                if await q.find_note(session, ns.id, name) is not None:
                    raise _exists("note", f"{namespace}/{name}")
                row = MetadataNote(
                    id=uuid.uuid4(),
                    namespace_id=ns.id,
                    name=name,
                    kind=spec.kind,
                    short_description=spec.short_description,
                    long_description=spec.long_description,
                    human_readable_name=spec.human_readable_name,
                    expires_at=spec.expiration_time,
                    created_at=self._clock.now(),
                )
                session.add(row)
                await session.flush()
                detail = {"namespace": namespace, "note": name}
                await self._audit.change(session, actor, CREATE_NOTE_ACTION, resource, detail)
        except IntegrityError as exc:
            raise _exists("note", f"{namespace}/{name}") from exc
        return _note_view(namespace, row)

    async def list_notes(
        self, instance_id: str, namespace: str, page: PageRequest
    ) -> Page[NoteView]:
        async with self._db.read() as session:
            ns = await _namespace(session, instance_id, namespace)
            rows, total = await q.list_notes(session, ns.id, page.offset, page.page_size)
            items = [_note_view(namespace, row) for row in rows]
        return Page(items, page.page, page.page_size, total)

    async def get_note(self, instance_id: str, namespace: str, name: str) -> NoteView:
        async with self._db.read() as session:
            ns = await _namespace(session, instance_id, namespace)
            return _note_view(namespace, await _note(session, ns, name, "NoteName"))

    async def delete_note(
        self, instance_id: str, namespace: str, name: str, *, actor: Actor | None, resource: str
    ) -> None:
        """Only a note no occurrence refers to."""
        async with self._db.write() as session:
            ns = await _namespace(session, instance_id, namespace)
            row = await _note(session, ns, name, "NoteName")
            if await q.note_in_use(session, row.id):
                raise ConflictError(f"note {namespace}/{name} still has occurrences")
            await q.delete_note(session, row.id)
            detail = {"namespace": namespace, "note": name}
            await self._audit.change(session, actor, DELETE_NOTE_ACTION, resource, detail)

    # ---- occurrences -----------------------------------------------------------------------

    async def create_occurrence(
        self,
        instance_id: str,
        namespace: str,
        spec: OccurrenceSpec,
        *,
        actor: Actor | None,
        resource: str,
    ) -> OccurrenceView:
        """Everything is checked before anything is written: the names, the kind, the
        signatures' shapes, and that ``resource_uri`` names an image of this instance."""
        name = check_occurrence_name(spec.name)
        check_occurrence_path(namespace, name, spec.path)
        check_kind(spec.kind, "Occurrence.Kind")
        note_name = note_of_path(namespace, spec.note_name, "Occurrence.NoteName")
        signatures = check_signatures(spec.signatures)
        repo, digest = await self._image_of(instance_id, spec.resource_uri)
        try:
            async with self._db.write() as session:
                ns = await _namespace(session, instance_id, namespace)
                note = await _note(session, ns, note_name, "Occurrence.NoteName")
                if await q.find_occurrence(session, ns.id, name) is not None:
                    raise _exists("occurrence", f"{namespace}/{name}")
                row = MetadataOccurrence(
                    id=uuid.uuid4(),
                    namespace_id=ns.id,
                    name=name,
                    note_id=note.id,
                    repository_id=repo.id,
                    digest=digest,
                    resource_uri=spec.resource_uri,
                    kind=spec.kind,
                    signatures=[_signature_json(s) for s in signatures],
                    created_at=self._clock.now(),
                )
                session.add(row)
                await session.flush()
                detail = {
                    "namespace": namespace,
                    "occurrence": name,
                    "note": note_name,
                    "resourceUri": spec.resource_uri,
                    "publicKeyIds": [s.public_key_id for s in signatures],
                }
                await self._audit.change(session, actor, CREATE_OCCURRENCE_ACTION, resource, detail)
        except IntegrityError as exc:
            raise _exists("occurrence", f"{namespace}/{name}") from exc
        return _occurrence_view(namespace, note_name, row)

    async def list_occurrences(
        self,
        instance_id: str,
        namespace: str,
        page: PageRequest,
        *,
        note_name: str | None = None,
        resource_uris: Sequence[str] = (),
    ) -> Page[OccurrenceView]:
        """``ListMetadataOccurrences``: by note (short name or path) and by resource URI."""
        short = note_of_path(namespace, note_name, "NoteName") if note_name else None
        for uri in resource_uris:
            parse_image_url(uri, "ResourceURIs")
        async with self._db.read() as session:
            ns = await _namespace(session, instance_id, namespace)
            note = await _note(session, ns, short, "NoteName") if short else None
            rows, total = await q.list_occurrences(
                session,
                ns.id,
                note.id if note else None,
                resource_uris,
                page.offset,
                page.page_size,
            )
            notes = await q.note_names(session, {row.note_id for row in rows})
            items = [_occurrence_view(namespace, notes[row.note_id], row) for row in rows]
        return Page(items, page.page, page.page_size, total)

    async def delete_occurrence(
        self, instance_id: str, namespace: str, name: str, *, actor: Actor | None, resource: str
    ) -> None:
        async with self._db.write() as session:
            ns = await _namespace(session, instance_id, namespace)
            row = await q.find_occurrence(session, ns.id, name)
            if row is None:
                raise NotFoundError(f"occurrence {namespace}/{name} does not exist")
            await q.delete_occurrence(session, row.id)
            detail = {"namespace": namespace, "occurrence": name}
            await self._audit.change(session, actor, DELETE_OCCURRENCE_ACTION, resource, detail)

    # ---- public keys -----------------------------------------------------------------------

    async def add_public_key(
        self,
        instance_id: str,
        namespace: str,
        *,
        armored: str | None,
        data: str | None,
        actor: Actor | None,
        resource: str,
    ) -> PublicKeyView:
        """Register an armored OpenPGP public key, or a PEM public key or x509 certificate
        (for cosign and Notation signatures), given as it is (``PublicKey``) or
        base64-encoded (``publicKeyData``, as the guide exports it)."""
        text = _key_text(armored, data)
        if is_pem_key(text):
            info = read_pem_key(text)
        else:
            info = await asyncio.to_thread(read_public_key, text)
        try:
            async with self._db.write() as session:
                ns = await _namespace(session, instance_id, namespace)
                if await q.find_public_key(session, ns.id, info.fingerprint) is not None:
                    raise _exists("public key", info.fingerprint)
                row = MetadataPublicKey(
                    id=uuid.uuid4(),
                    namespace_id=ns.id,
                    fingerprint=info.fingerprint,
                    user_id=info.user_id[:512],
                    expires_at=info.expires_at,
                    armored=info.armored,
                    created_at=self._clock.now(),
                )
                session.add(row)
                await session.flush()
                detail = {"namespace": namespace, "fingerprint": info.fingerprint}
                await self._audit.change(session, actor, CREATE_KEY_ACTION, resource, detail)
        except IntegrityError as exc:
            raise _exists("public key", info.fingerprint) from exc
        return _key_view(namespace, row)

    async def list_public_keys(self, instance_id: str, namespace: str) -> list[PublicKeyView]:
        async with self._db.read() as session:
            ns = await _namespace(session, instance_id, namespace)
            return [_key_view(namespace, row) for row in await q.public_keys(session, ns.id)]

    async def delete_public_key(
        self,
        instance_id: str,
        namespace: str,
        fingerprint: str,
        *,
        actor: Actor | None,
        resource: str,
    ) -> None:
        wanted = check_fingerprint(fingerprint)
        async with self._db.write() as session:
            ns = await _namespace(session, instance_id, namespace)
            row = await q.find_public_key(session, ns.id, wanted)
            if row is None:
                raise NotFoundError(f"public key {wanted} is not registered in {namespace}")
            await q.delete_public_key(session, row.id)
            detail = {"namespace": namespace, "fingerprint": wanted}
            await self._audit.change(session, actor, DELETE_KEY_ACTION, resource, detail)

    # ---- verification ----------------------------------------------------------------------

    async def verify(
        self, instance_id: str, namespace: str, repository: str, ref: str
    ) -> Verification:
        """Every signature of every occurrence over the image ``ref`` names, checked."""
        repo, digest = await self.resolve(instance_id, namespace, repository, ref)
        url, checks = await self.checks_over(repo, digest, [digest])
        native = await self.oci_checks(repo, [digest])
        verified = any(c.valid for c in checks) or any(c.valid for c in native)
        return Verification(repo.full_name, digest, url, verified, checks, native)

    async def oci_checks(
        self, repo: RepositoryRef, digests: Sequence[str]
    ) -> list[OciSignatureCheck]:
        """The cosign and Notation signatures stored over one of ``digests``, checked."""
        return await self._oci.checks(repo, digests)

    async def resolve(
        self, instance_id: str, namespace: str, repository: str, ref: str
    ) -> tuple[RepositoryRef, str]:
        """The repository and the digest of the manifest ``ref`` (tag or digest) names."""
        repo = await self._tenancy.repository_ref(instance_id, namespace, repository)
        manifest = await self._content.get_manifest(repo, ref)
        return repo, manifest.digest

    async def checks_over(
        self, repo: RepositoryRef, digest: str, signed: Sequence[str]
    ) -> tuple[str, list[SignatureCheck]]:
        """The URL of ``digest``, and every signature over one of the ``signed`` digests,
        each checked against its occurrence's ``ResourceUri``."""
        instance = await self._tenancy.instance_ref(repo.instance_id)
        async with self._db.read() as session:
            found = await q.occurrences_of_image(session, repo.id, signed)
            keys = {
                ns.id: [k for k in await q.public_keys(session, ns.id) if not is_pem_key(k.armored)]
                for _o, _n, ns in found
            }
        checks: list[SignatureCheck] = []
        for occurrence, note, ns in found:
            # The URL its publisher signed: the image's own, or (for an occurrence
            # replicated with its image from another instance) the source image's, which
            # names the same digest.
            url = occurrence.resource_uri
            for signature in occurrence.signatures:
                check = await self._check(url, occurrence, note, ns, keys[ns.id], signature)
                checks.append(check)
        return image_url(instance.region, repo.instance_id, repo.full_name, digest), checks

    async def _check(
        self,
        url: str,
        occurrence: MetadataOccurrence,
        note: MetadataNote,
        ns: MetadataNamespace,
        keys: list[MetadataPublicKey],
        signature: dict[str, str],
    ) -> SignatureCheck:
        key_id = signature["PublicKeyId"]
        opened = await asyncio.to_thread(
            open_signed, signature["Signature"], tuple(k.armored for k in keys)
        )
        now = self._clock.now()
        signer_key = next(
            (k for k in keys if opened.signer and k.fingerprint == opened.signer), None
        )
        reason = opened.failure
        if reason is None and signer_key and signer_key.expires_at and signer_key.expires_at <= now:
            reason = EXPIRED_KEY  # expired since gpg's answer was remembered
        if reason is None and opened.text not in (url.encode(), f"{url}\n".encode()):
            reason = OTHER_IMAGE
        if reason is None and opened.signer is not None and not opened.signer.endswith(key_id):
            reason = KEY_ID_MISMATCH
        if reason is None and note.expires_at is not None and note.expires_at <= now:
            reason = NOTE_EXPIRED
        signer = opened.signer
        user_id = signer_key.user_id if signer_key else None
        return SignatureCheck(
            namespace=ns.name,
            occurrence=occurrence.name,
            digest=occurrence.digest,
            note=note.name,
            public_key_id=key_id,
            signer=signer,
            user_id=user_id,
            valid=reason is None,
            reason=reason,
        )

    async def _image_of(self, instance_id: str, uri: str) -> tuple[RepositoryRef, str]:
        """The repository and digest ``uri`` names, which must be an image of this instance."""
        parsed = parse_image_url(uri)
        instance = await self._tenancy.instance_ref(instance_id)
        if (parsed.region, parsed.instance_id) != (instance.region, instance_id):
            raise InvalidInputError(
                f"ResourceUri must name this instance: image://{instance.region}/{instance_id}/…"
                f", got region {parsed.region!r} and instance {parsed.instance_id!r}"
            )
        try:
            repo = await self._tenancy.repository_ref(
                instance_id, parsed.namespace, parsed.repository
            )
            await self._content.get_manifest(repo, parsed.digest)
        except NotFoundError as exc:
            raise InvalidInputError(
                f"ResourceUri names no image of this instance: {parsed.full_name}@{parsed.digest}"
            ) from exc
        return repo, parsed.digest


def _key_text(armored: str | None, data: str | None) -> str:
    if (armored is None) == (data is None):
        raise InvalidInputError("give PublicKey (armored) or publicKeyData (base64), not both")
    if data is not None:
        try:
            raw = base64.b64decode(data.strip(), validate=True)
            armored = raw.decode("ascii")
        except (ValueError, UnicodeDecodeError) as exc:  # binascii.Error, or not ASCII
            raise InvalidInputError(
                "publicKeyData must be the base64 of an armored public key"
            ) from exc
    assert armored is not None  # one of the two was given
    if len(armored.encode()) > MAX_PUBLIC_KEY_BYTES:
        raise InvalidInputError(f"PublicKey is larger than {MAX_PUBLIC_KEY_BYTES} bytes")
    if not armored.isascii() or not (
        "-----BEGIN PGP PUBLIC KEY BLOCK-----" in armored or is_pem_key(armored)
    ):
        raise InvalidInputError(
            "PublicKey must be an ASCII-armored OpenPGP public key block, a PEM public key "
            "or a PEM x509 certificate"
        )
    return armored


async def _namespace(session: AsyncSession, instance_id: str, name: str) -> MetadataNamespace:
    row = await q.find_namespace(session, instance_id, name)
    if row is None:
        raise NotFoundError(f"metadata namespace {name} does not exist")
    return row


async def _note(
    session: AsyncSession, ns: MetadataNamespace, name: str, field: str
) -> MetadataNote:
    row = await q.find_note(session, ns.id, name)
    if row is None:
        raise NotFoundError(f"{field}: note {ns.name}/{name} does not exist")
    return row


def _exists(kind: str, name: str) -> AlreadyExistsError:
    return AlreadyExistsError(f"{kind} {name} already exists")


def _signature_json(spec: SignatureSpec) -> dict[str, str]:
    return {"Signature": spec.signature, "PublicKeyId": spec.public_key_id}


def _namespace_view(row: MetadataNamespace) -> NamespaceView:
    return NamespaceView(row.name, row.description, row.created_at)


def _note_view(namespace: str, row: MetadataNote) -> NoteView:
    return NoteView(
        namespace=namespace,
        name=row.name,
        kind=row.kind,
        short_description=row.short_description,
        long_description=row.long_description,
        expiration_time=row.expires_at,
        human_readable_name=row.human_readable_name,
        created_at=row.created_at,
    )


def _occurrence_view(namespace: str, note: str, row: MetadataOccurrence) -> OccurrenceView:
    signatures = [SignatureSpec(s["Signature"], s["PublicKeyId"]) for s in row.signatures]
    return OccurrenceView(
        namespace, row.name, note, row.resource_uri, row.kind, signatures, row.created_at
    )


def _key_view(namespace: str, row: MetadataPublicKey) -> PublicKeyView:
    return PublicKeyView(
        namespace, row.fingerprint, row.user_id, row.expires_at, row.armored, row.created_at
    )
