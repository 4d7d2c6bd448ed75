"""Signature policies (PRODUCT.md §8, both editions): which pulls need a valid signature.

A policy applies to a repository namespace or one repository, optionally only to tags
matching a pattern (a regex matching the whole tag). A manifest GET or HEAD under a policy
is served only when the manifest, or an index that lists it, has a valid signature of the
policy's note (by one of its keys, when it names keys): a signed index admits itself and
its children; a child signed alone admits only itself. A digest pull is under a
tag-scoped policy when a matching tag points at the manifest or at an index listing it.
"""

from __future__ import annotations

import uuid
from collections.abc import Sequence

import regex
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession

from dockyard.clock import SYSTEM_CLOCK, Clock
from dockyard.errors import AlreadyExistsError, DeniedError, InvalidInputError, NotFoundError
from dockyard.metadata.models import SignaturePolicy
from dockyard.metadata.queries import signing as q
from dockyard.metadata.queries import tenancy as tq
from dockyard.metadata.session import Database
from dockyard.services.audit import Actor, AuditLog
from dockyard.services.paging import Page, PageRequest
from dockyard.services.signing.native import with_oci_signatures
from dockyard.services.signing.rules import check_fingerprint, check_name
from dockyard.services.signing.service import SigningService
from dockyard.services.signing.views import (
    Admission,
    PolicyOutcome,
    SignatureCheck,
    SignaturePolicySpec,
    SignaturePolicyView,
)
from dockyard.services.tenancy import RepositoryRef

CREATE_ACTION = "cr:CreateSignaturePolicy"
DELETE_ACTION = "cr:DeleteSignaturePolicy"
MAX_PATTERN_LENGTH = 512
MAX_KEYS = 16
#: Seconds a tag may take to match a policy's pattern (a user's regex can backtrack for
#: ever); a tag that runs out of time is under the policy (the safe side).
MATCH_SECONDS = 0.05


class SignaturePolicyService:
    def __init__(
        self,
        db: Database,
        signing: SigningService,
        audit: AuditLog,
        *,
        clock: Clock = SYSTEM_CLOCK,
    ) -> None:
        self._db = db
        self._signing = signing
        self._audit = audit
        self._clock = clock

    async def create(
        self, instance_id: str, spec: SignaturePolicySpec, *, actor: Actor | None, resource: str
    ) -> SignaturePolicyView:
        name = check_name(spec.name, "name")
        note_namespace, note_name = _note(spec.note)
        keys = sorted({check_fingerprint(k) for k in spec.keys or ()})
        if len(keys) > MAX_KEYS:
            raise InvalidInputError(f"keys: at most {MAX_KEYS} fingerprints")
        tags = _check_pattern(spec.tags)
        if (spec.namespace is None) == (spec.repository is None):
            raise InvalidInputError("a policy applies to a namespace or to a repository, not both")
        if spec.repository is not None and spec.repository.count("/") != 1:
            raise InvalidInputError(
                f"repository must be <namespace>/<repository>, got {spec.repository!r}"
            )
        scope = spec.namespace or spec.repository or ""
        try:
            async with self._db.write() as session:
                namespace = scope.split("/", 1)[0]
                if await tq.find_namespace(session, instance_id, namespace) is None:
                    raise NotFoundError(f"namespace {namespace} does not exist")
                mns = await q.find_namespace(session, instance_id, note_namespace)
                if mns is None or await q.find_note(session, mns.id, note_name) is None:
                    raise NotFoundError(f"note: {note_namespace}/{note_name} does not exist")
                for key in keys:
                    if await q.find_public_key(session, mns.id, key) is None:
                        raise InvalidInputError(
                            f"keys: {key} is not registered in metadata namespace {note_namespace}"
                        )
                if await q.find_policy(session, instance_id, name) is not None:
                    raise _exists(name)
                row = SignaturePolicy(
                    id=uuid.uuid4(),
                    instance_id=instance_id,
                    name=name,
                    namespace=spec.namespace,
                    repository=spec.repository,
                    note_namespace=note_namespace,
                    note_name=note_name,
                    key_fingerprints=keys,
                    tag_pattern=tags,
                    created_at=self._clock.now(),
                )
                session.add(row)
                await session.flush()
                await self._audit.change(session, actor, CREATE_ACTION, resource, _detail(row))
        except IntegrityError as exc:
            raise _exists(name) from exc
        return _view(row)

    async def list_policies(self, instance_id: str, page: PageRequest) -> Page[SignaturePolicyView]:
        async with self._db.read() as session:
            rows, total = await q.list_policies(session, instance_id, page.offset, page.page_size)
            items = [_view(row) for row in rows]
        return Page(items, page.page, page.page_size, total)

    async def get(self, instance_id: str, name: str) -> SignaturePolicyView:
        async with self._db.read() as session:
            return _view(await _policy(session, instance_id, name))

    async def delete(
        self, instance_id: str, name: str, *, actor: Actor | None, resource: str
    ) -> None:
        async with self._db.write() as session:
            row = await _policy(session, instance_id, name)
            await q.delete_policy(session, row.id)
            await self._audit.change(session, actor, DELETE_ACTION, resource, {"policy": name})

    async def admission(
        self, instance_id: str, namespace: str, repository: str, ref: str
    ) -> Admission:
        """Whether the policies of the repository admit a pull of ``ref``, and why."""
        repo, digest = await self._signing.resolve(instance_id, namespace, repository, ref)
        policies = await q.policies_over(self._db, instance_id, repo.full_name)
        return await self._evaluate(repo, ref, digest, policies, list_oci=True)

    async def check_pull(self, repo: RepositoryRef, ref: str, digest: str) -> None:
        """Refuse (DENIED, naming the policy) a manifest GET or HEAD no policy admits. The
        registry calls it only when its manifest lookup found a policy over the repository."""
        policies = await q.policies_over(self._db, repo.instance_id, repo.full_name)
        if not policies:
            return
        admission = await self._evaluate(repo, ref, digest, policies, list_oci=False)
        for outcome in admission.policies:
            if outcome.applies and not outcome.satisfied:
                raise DeniedError(
                    f"signature policy {outcome.policy} refuses {repo.full_name}@{digest}: "
                    + "; ".join(outcome.reasons)
                )

    async def _evaluate(
        self,
        repo: RepositoryRef,
        ref: str,
        digest: str,
        policies: Sequence[SignaturePolicy],
        *,
        list_oci: bool,
    ) -> Admission:
        """Occurrences first; cosign and Notation signatures are read when the answer lists
        them, or when a policy naming keys (which they can satisfy) is not satisfied yet."""
        async with self._db.read() as session:
            parents = await q.index_parents(session, repo.id, digest)
            tags = set(await q.tags_on(session, repo.id, [digest, *parents]))
        if ":" not in ref:
            tags.add(ref)
        signed = [digest, *parents]
        _url, checks = await self._signing.checks_over(repo, digest, signed)
        outcomes = [_outcome(policy, tags, checks) for policy in policies]
        admitted = all(o.satisfied for o in outcomes if o.applies)
        admission = Admission(repo.full_name, digest, admitted, outcomes)
        keyed = {p.name for p in policies if p.key_fingerprints}
        if list_oci or any(o.applies and not o.satisfied and o.policy in keyed for o in outcomes):
            native = await self._signing.oci_checks(repo, signed)
            admission = with_oci_signatures(admission, policies, native)
        return admission


def _outcome(
    policy: SignaturePolicy, tags: set[str], checks: Sequence[SignatureCheck]
) -> PolicyOutcome:
    if policy.tag_pattern and not any(_matches(policy.tag_pattern, tag) for tag in tags):
        return PolicyOutcome(policy.name, False, True, [])
    keys = set(policy.key_fingerprints)
    ours = [c for c in checks if (c.namespace, c.note) == (policy.note_namespace, policy.note_name)]
    reasons = []
    for check in ours:
        if check.valid and keys and check.signer not in keys:
            reasons.append(f"{check.occurrence}: signed by {check.signer}, not a key of the policy")
        elif check.valid:
            return PolicyOutcome(policy.name, True, True, [])
        else:
            reasons.append(f"{check.occurrence}: {check.reason}")
    if not ours:
        reasons.append(f"no signature of note {policy.note_namespace}/{policy.note_name}")
    return PolicyOutcome(policy.name, True, False, reasons)


def _matches(pattern: str, tag: str) -> bool:
    try:
        return regex.fullmatch(pattern, tag, timeout=MATCH_SECONDS) is not None
    except TimeoutError:
        return True


def _note(value: str) -> tuple[str, str]:
    namespace, sep, note = value.partition("/")
    if not sep:
        raise InvalidInputError(f"note must be <metadata namespace>/<note>, got {value!r}")
    return check_name(namespace, "note"), check_name(note, "note")


def _check_pattern(pattern: str | None) -> str | None:
    if pattern is None or pattern == "":
        return None
    if len(pattern) > MAX_PATTERN_LENGTH:
        raise InvalidInputError(f"tags is at most {MAX_PATTERN_LENGTH} characters")
    try:
        regex.compile(pattern)
    except regex.error as exc:
        raise InvalidInputError(f"tags is not a regular expression: {exc}") from None
    return pattern


async def _policy(session: AsyncSession, instance_id: str, name: str) -> SignaturePolicy:
    row = await q.find_policy(session, instance_id, name)
    if row is None:
        raise NotFoundError(f"signature policy {name} does not exist")
    return row


def _exists(name: str) -> AlreadyExistsError:
    return AlreadyExistsError(f"signature policy {name} already exists")


def _detail(row: SignaturePolicy) -> dict[str, object]:
    return {
        "policy": row.name,
        "namespace": row.namespace,
        "repository": row.repository,
        "note": f"{row.note_namespace}/{row.note_name}",
        "keys": list(row.key_fingerprints),
        "tags": row.tag_pattern,
    }


def _view(row: SignaturePolicy) -> SignaturePolicyView:
    return SignaturePolicyView(
        name=row.name,
        namespace=row.namespace,
        repository=row.repository,
        note=f"{row.note_namespace}/{row.note_name}",
        keys=list(row.key_fingerprints),
        tags=row.tag_pattern,
        created_at=row.created_at,
    )
