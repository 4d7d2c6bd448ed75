"""Tag retention policies of an instance: save, read, change, delete, dry-run, execute,
and the record of their runs (PRODUCT.md §9, Advanced edition).

Saving a policy deletes nothing. A dry run and an execution plan with the same rules
(``rules.plan_repository``) over the tags as they are now; an execution then deletes per
repository in one transaction through the content service, which leaves alone a tag a
push moved meanwhile and deletes a manifest only when nothing references it any more.
Every change and every execution is audited; a scheduled execution that would delete more
than ``max_delete_share`` of a repository's tags deletes nothing and records why.
"""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from datetime import timedelta
from typing import cast

from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession

from dockyard.clock import SYSTEM_CLOCK, Clock
from dockyard.errors import AlreadyExistsError, InvalidInputError, NotFoundError
from dockyard.metadata.models import RetentionPolicy, RetentionRun
from dockyard.metadata.queries import jobs as jq
from dockyard.metadata.queries import retention as q
from dockyard.metadata.queries import tenancy as tq
from dockyard.metadata.session import Database
from dockyard.services.audit import Actor, AuditLog
from dockyard.services.batches import PRUNE_BATCH, PRUNE_MAX_BATCHES, delete_in_batches
from dockyard.services.content import ContentService, PrunedTags
from dockyard.services.paging import Page, PageRequest
from dockyard.services.retention.rules import (
    RepositoryPlan,
    check_keep_latest,
    check_keep_tags,
    check_name,
    check_schedule,
    next_run,
    plan_repository,
    share_exceeded,
)
from dockyard.services.retention.views import (
    MANUAL,
    SCHEDULED,
    STOPPED,
    SUCCEEDED,
    PolicyChanges,
    PolicySpec,
    PolicyView,
    RepositoryOutcome,
    RunView,
    Trigger,
)
from dockyard.services.tenancy import RepositoryRef, TenancyService, ref_of_key
from dockyard.services.tenancy.editions import Feature, edition, require_feature

CREATE_ACTION = "cr:CreateRetentionPolicy"
UPDATE_ACTION = "cr:UpdateRetentionPolicy"
DELETE_ACTION = "cr:DeleteRetentionPolicy"
EXECUTE_ACTION = "cr:ExecuteRetentionPolicy"
#: A policy names at most this many repositories (a namespace covers any number).
MAX_REPOSITORIES = 100
DEFAULT_MAX_DELETE_SHARE = 0.5
#: The job kind of one scheduled run, queued by :meth:`RetentionService.queue_due`.
RUN_JOB_KIND = "retention-run"


class RetentionService:
    def __init__(
        self,
        db: Database,
        tenancy: TenancyService,
        content: ContentService,
        audit: AuditLog,
        *,
        max_delete_share: float = DEFAULT_MAX_DELETE_SHARE,
        clock: Clock = SYSTEM_CLOCK,
    ) -> None:
        self._db = db
        self._tenancy = tenancy
        self._content = content
        self._audit = audit
        self._max_delete_share = max_delete_share
        self._clock = clock

    # ---- policies --------------------------------------------------------------------------

    async def create(
        self, instance_id: str, spec: PolicySpec, *, actor: Actor | None, resource: str
    ) -> PolicyView:
        await self._advanced(instance_id)
        name = check_name(spec.name)
        keep_latest = check_keep_latest(spec.keep_latest)
        keep_tags = check_keep_tags(spec.keep_tags)
        schedule = check_schedule(spec.schedule)
        now = self._clock.now()
        try:
            async with self._db.write() as session:
                namespace, repositories = await _scope(session, instance_id, spec)
                if await q.find_policy(session, instance_id, name) is not None:
                    raise _exists(name)
                row = RetentionPolicy(
                    id=uuid.uuid4(),
                    instance_id=instance_id,
                    name=name,
                    namespace=namespace,
                    repositories=repositories,
                    keep_latest=keep_latest,
                    keep_tags=keep_tags,
                    schedule=schedule,
                    next_run_at=next_run(schedule, now) if schedule else None,
                    created_at=now,
                    updated_at=now,
                )
                session.add(row)
                await session.flush()
                await self._audit.change(session, actor, CREATE_ACTION, resource, _detail(row))
        except IntegrityError as exc:  # a concurrent create of the same name won
            raise _exists(name) from exc
        return _view(row)

    async def list_policies(self, instance_id: str, page: PageRequest) -> Page[PolicyView]:
        await self._advanced(instance_id)
        async with self._db.read() as session:
            rows, total = await q.list_policies(session, instance_id, page.offset, page.page_size)
            items = [_view(row) for row in rows]
        return Page(items, page.page, page.page_size, total)

    async def get(self, instance_id: str, name: str) -> PolicyView:
        await self._advanced(instance_id)
        async with self._db.read() as session:
            return _view(await _policy(session, instance_id, name))

    async def update(
        self,
        instance_id: str,
        name: str,
        changes: PolicyChanges,
        *,
        actor: Actor | None,
        resource: str,
    ) -> PolicyView:
        await self._advanced(instance_id)
        keep_latest = changes.keep_latest
        if keep_latest is not None:
            check_keep_latest(keep_latest)
        keep_tags = None if changes.keep_tags is None else check_keep_tags(changes.keep_tags)
        rescoped = changes.namespace is not None or changes.repositories is not None
        async with self._db.write() as session:
            row = await _policy(session, instance_id, name)
            if rescoped:
                scope = PolicySpec(name, row.keep_latest, changes.namespace, changes.repositories)
                row.namespace, row.repositories = await _scope(session, instance_id, scope)
            if keep_latest is not None:
                row.keep_latest = keep_latest
            if keep_tags is not None:
                row.keep_tags = keep_tags
            now = self._clock.now()
            if changes.schedule is not None:
                row.schedule = check_schedule(changes.schedule)
                row.next_run_at = next_run(row.schedule, now) if row.schedule else None
            row.updated_at = now
            await session.flush()
            await self._audit.change(session, actor, UPDATE_ACTION, resource, _detail(row))
            return _view(row)

    async def delete(
        self, instance_id: str, name: str, *, actor: Actor | None, resource: str
    ) -> None:
        """The policy and the record of its runs go; the audit rows stay."""
        await self._advanced(instance_id)
        async with self._db.write() as session:
            row = await _policy(session, instance_id, name)
            await q.delete_policy(session, row.id)
            await self._audit.change(session, actor, DELETE_ACTION, resource, {"policy": name})

    # ---- runs ------------------------------------------------------------------------------

    async def dry_run(self, instance_id: str, name: str) -> RunView:
        """What an execution would delete now; nothing is deleted or recorded."""
        await self._advanced(instance_id)
        async with self._db.read() as session:
            policy = await _policy(session, instance_id, name)
        started = self._clock.now()
        plans = await self._plan(policy)
        outcomes = [_outcome(repo, plan, plan.deleted_names, ()) for repo, plan in plans]
        return RunView(
            None, name, True, MANUAL, None, SUCCEEDED, None, started, self._clock.now(), outcomes
        )

    async def execute(
        self, instance_id: str, name: str, *, actor: Actor | None, resource: str
    ) -> RunView:
        """Delete the tags the policy does not retain (the caller confirmed); record the run."""
        await self._advanced(instance_id)
        async with self._db.read() as session:
            policy = await _policy(session, instance_id, name)
        return await self._execute(policy, MANUAL, actor, resource)

    async def runs(self, instance_id: str, name: str, page: PageRequest) -> Page[RunView]:
        """The policy's recorded runs, newest first."""
        await self._advanced(instance_id)
        async with self._db.read() as session:
            policy = await _policy(session, instance_id, name)
            rows, total = await q.list_runs(session, policy.id, page.offset, page.page_size)
            items = [_run_view(row, name) for row in rows]
        return Page(items, page.page, page.page_size, total)

    async def queue_due(self) -> int:
        """Queue a ``retention-run`` job for every policy whose daily time has come (the
        periodic job, every minute); how many.

        Due policies are claimed under a row lock, moved to their next day and given their
        job in one write transaction, so among several nodes exactly one queues each due
        time, and a run a crash interrupts is run again by the job queue (each policy on
        its own: one that fails delays no other)."""
        now = self._clock.now()
        async with self._db.write() as session:
            due = await q.claim_due_policies(session, now)
            for row in due:
                assert row.schedule is not None  # only scheduled policies have a due time
                row.next_run_at = next_run(row.schedule, now)
                payload: dict[str, object] = {"policy": str(row.id), "run": str(uuid.uuid4())}
                jq.add_job(session, RUN_JOB_KIND, payload, now)
        return len(due)

    async def run_scheduled(self, payload: dict[str, object]) -> RunView | None:
        """Run a ``retention-run`` job's policy as a scheduled run; None when there is
        nothing to do: the policy was deleted, its instance is no longer Advanced (tried
        again the next day), or the run is recorded already (the job ran again after a
        crash that came after the record)."""
        policy_id, run_id = uuid.UUID(str(payload["policy"])), uuid.UUID(str(payload["run"]))
        async with self._db.read() as session:
            policy = await q.get_policy(session, policy_id)
            if policy is None or await q.run_exists(session, run_id):
                return None
        instance = await self._tenancy.instance_ref(policy.instance_id)
        if Feature.TAG_RETENTION not in edition(instance.edition).features:
            return None
        resource = instance.arn(f"instance/{instance.id}")
        return await self._execute(policy, SCHEDULED, None, resource, run_id=run_id)

    async def prune_runs(self, retention: timedelta) -> int:
        """Delete the record of runs that finished longer ago than ``retention``."""
        cutoff = self._clock.now() - retention
        return await delete_in_batches(
            self._db,
            lambda session, limit: q.prune_runs(session, cutoff, limit),
            batch_size=PRUNE_BATCH,
            max_batches=PRUNE_MAX_BATCHES,
        )

    async def _execute(
        self,
        policy: RetentionPolicy,
        trigger: Trigger,
        actor: Actor | None,
        resource: str,
        *,
        run_id: uuid.UUID | None = None,
    ) -> RunView:
        started = self._clock.now()
        plans = await self._plan(policy)
        reason = None
        if trigger == SCHEDULED:
            reason = self._stop_reason(plans)
        outcomes = []
        for repo, plan in plans:
            pruned = PrunedTags((), ())
            if reason is None and plan.deleted:
                pruned = await self._content.prune_tags(repo, plan.deleted)
            # What a stopped run spared, and a tag a push moved since the plan, were kept.
            gone = set(pruned.tags)
            spared = tuple(t for t in plan.deleted_names if t not in gone)
            kept = RepositoryPlan(tuple(sorted(plan.kept + spared)), plan.immutable, ())
            outcomes.append(_outcome(repo, kept, pruned.tags, pruned.manifests))
        row = RetentionRun(
            id=run_id or uuid.uuid4(),
            policy_id=policy.id,
            actor=actor.name if actor else None,
            trigger=trigger,
            status=STOPPED if reason else SUCCEEDED,
            reason=reason,
            repositories=[_outcome_json(o) for o in outcomes],
            started_at=started,
            finished_at=self._clock.now(),
        )
        async with self._db.write() as session:
            q.add_run(session, row)
            detail = {
                "policy": policy.name,
                "run": str(row.id),
                "trigger": trigger,
                "status": row.status,
                "deletedTags": sum(len(o.deleted) for o in outcomes),
                "deletedManifests": sum(len(o.deleted_manifests) for o in outcomes),
            }
            await self._audit.change(session, actor, EXECUTE_ACTION, resource, detail)
        return _run_view(row, policy.name)

    async def _plan(self, policy: RetentionPolicy) -> list[tuple[RepositoryRef, RepositoryPlan]]:
        async with self._db.read() as session:
            keys = await q.repositories_in_scope(
                session, policy.instance_id, policy.namespace, policy.repositories
            )
        plans = []
        for id_, full_name, type_, mutability, edition_name in keys:
            repo = ref_of_key(policy.instance_id, full_name, id_, type_, mutability, edition_name)
            tags = await self._content.tag_pointers(repo)
            plan = plan_repository(
                tags, policy.keep_latest, policy.keep_tags, immutable=repo.immutable
            )
            plans.append((repo, plan))
        return plans

    def _stop_reason(self, plans: Sequence[tuple[RepositoryRef, RepositoryPlan]]) -> str | None:
        for repo, plan in plans:
            if share_exceeded(plan, self._max_delete_share):
                return (
                    f"stopped: it would delete {len(plan.deleted)} of {plan.total} tags of "
                    f"{repo.full_name}, more than the {self._max_delete_share:.0%} a scheduled "
                    "run may delete (DOCKYARD_RETENTION_MAX_DELETE_SHARE); run it by hand"
                )
        return None

    async def _advanced(self, instance_id: str) -> None:
        require_feature(await self._tenancy.instance_ref(instance_id), Feature.TAG_RETENTION)


async def _scope(
    session: AsyncSession, instance_id: str, spec: PolicySpec
) -> tuple[str | None, list[str]]:
    """The policy's namespace or repositories, each of which must exist now."""
    if (spec.namespace is None) == (not spec.repositories):
        raise InvalidInputError("a policy applies to a namespace or to repositories, not both")
    if spec.namespace is not None:
        if await tq.find_namespace(session, instance_id, spec.namespace) is None:
            raise NotFoundError(f"namespace {spec.namespace} does not exist")
        return spec.namespace, []
    names = sorted(set(spec.repositories or ()))
    if len(names) > MAX_REPOSITORIES:
        raise InvalidInputError(f"a policy names at most {MAX_REPOSITORIES} repositories")
    for full_name in names:
        if await tq.find_repository(session, instance_id, full_name) is None:
            raise NotFoundError(f"repository {full_name} does not exist")
    return None, names


async def _policy(session: AsyncSession, instance_id: str, name: str) -> RetentionPolicy:
    row = await q.find_policy(session, instance_id, name)
    if row is None:
        raise NotFoundError(f"retention policy {name} does not exist")
    return row


def _exists(name: str) -> AlreadyExistsError:
    return AlreadyExistsError(f"retention policy {name} already exists")


def _detail(row: RetentionPolicy) -> dict[str, object]:
    return {
        "policy": row.name,
        "namespace": row.namespace,
        "repositories": list(row.repositories),
        "keepLatest": row.keep_latest,
        "keepTags": row.keep_tags,
        "schedule": row.schedule,
    }


def _view(row: RetentionPolicy) -> PolicyView:
    return PolicyView(
        name=row.name,
        namespace=row.namespace,
        repositories=list(row.repositories or ()),
        keep_latest=row.keep_latest,
        keep_tags=row.keep_tags,
        schedule=row.schedule,
        next_run_at=row.next_run_at,
        created_at=row.created_at,
        updated_at=row.updated_at,
    )


def _outcome(
    repo: RepositoryRef,
    plan: RepositoryPlan,
    deleted: Sequence[str],
    manifests: Sequence[str],
) -> RepositoryOutcome:
    return RepositoryOutcome(
        repo.full_name, list(plan.kept), list(plan.immutable), list(deleted), list(manifests)
    )


def _outcome_json(outcome: RepositoryOutcome) -> dict[str, object]:
    return {
        "repository": outcome.repository,
        "kept": outcome.kept,
        "keptImmutable": outcome.kept_immutable,
        "deleted": outcome.deleted,
        "deletedManifests": outcome.deleted_manifests,
    }


def _names(outcome: dict[str, object], key: str) -> list[str]:
    return [str(name) for name in cast(list[object], outcome[key])]


def _run_view(row: RetentionRun, policy: str) -> RunView:
    outcomes = [
        RepositoryOutcome(
            str(o["repository"]),
            _names(o, "kept"),
            _names(o, "keptImmutable"),
            _names(o, "deleted"),
            _names(o, "deletedManifests"),
        )
        for o in row.repositories
    ]
    return RunView(
        row.id,
        policy,
        False,
        row.trigger,
        row.actor,
        row.status,
        row.reason,
        row.started_at,
        row.finished_at,
        outcomes,
    )
