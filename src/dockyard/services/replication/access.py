"""Who may replicate what, for both faces (API and console), which pass their own
``allows`` (the caller's policy decision for an action on a resource).

A task is authorized on its source repository's ARN, a rule on its source (the
namespace's ARN or the repository's), and a destination that is another instance of this
deployment needs push there too (``ReplicationService.require_push_at``): a remote checks
its own user's rights.
"""

from __future__ import annotations

from dockyard.services.access import InstanceRef, actions
from dockyard.services.replication.views import NAMESPACE_LEVEL


def task_arn(instance: InstanceRef, source_repository: str) -> str:
    """Where a task (``ns/repo`` its source) is authorized: its source repository."""
    namespace, _, name = source_repository.partition("/")
    return actions.repository_arn(instance, namespace, name)


def rule_arn(instance: InstanceRef, level: str, source: str) -> str:
    """Where a rule is authorized: its source namespace, or its source repository."""
    if level == NAMESPACE_LEVEL:
        return actions.namespace_arn(instance, source)
    return task_arn(instance, source)


def rule_target(level: str, source: str) -> tuple[str, str]:
    """(namespace, repository) a rule pushes to at the destination: names unchanged, every
    repository (``*``) of a namespace-level rule."""
    if level == NAMESPACE_LEVEL:
        return source, "*"
    namespace, _, name = source.partition("/")
    return namespace, name
