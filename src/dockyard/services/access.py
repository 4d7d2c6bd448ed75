"""Who is asking, what they ask for, and the one call that decides: ``authorize``.

Every face (registry protocol, management API, console) passes an action and a resource
name from PRODUCT.md §3 to ``authorize``; nothing else grants access.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field

from dockyard.policy import Decision, PolicyDocument, evaluate

PULL = "cr:PullRepository"
PUSH = "cr:PushRepository"
DELETE_TAG = "cr:DeleteRepositoryTag"
LIST_REPOSITORY = "cr:ListRepository"

#: Docker token scope actions → policy actions.
SCOPE_ACTIONS = {"pull": PULL, "push": PUSH, "delete": DELETE_TAG}


@dataclass(frozen=True, slots=True)
class ScopedPolicies:
    """Policies reaching a user through a group linked to resource sets.

    Their Allow statements apply only to resources matching ``resources`` (ARN patterns
    of the sets' namespaces and repositories) and to list/create requests on ``*``;
    their Deny statements apply everywhere.
    """

    policies: tuple[PolicyDocument, ...]
    resources: tuple[str, ...]


@dataclass(frozen=True, slots=True)
class Principal:
    """An authenticated user, or the anonymous caller (``user_id`` None)."""

    name: str
    user_id: str | None
    #: Policies that apply everywhere: roles granted directly or through groups without
    #: resource sets.
    policies: Sequence[PolicyDocument] = field(default_factory=tuple)
    scoped: Sequence[ScopedPolicies] = field(default_factory=tuple)

    @property
    def anonymous(self) -> bool:
        return self.user_id is None


ANONYMOUS = Principal(name="", user_id=None)


@dataclass(frozen=True, slots=True)
class InstanceRef:
    """What ARNs need to know about an instance."""

    id: str
    region: str
    account_arn_id: str
    edition: str

    def arn(self, path: str) -> str:
        """Resource name in the edition's form; Standard drops the instance id."""
        prefix = f"acs:cr:{self.region}:{self.account_arn_id}:"
        if path == "*":
            return "*"
        if path.startswith("repository/") and self.edition == "Advanced":
            return f"{prefix}repository/{self.id}/{path.removeprefix('repository/')}"
        return prefix + path

    def repository_arn(self, full_name: str) -> str:
        return self.arn(f"repository/{full_name}")


@dataclass(frozen=True, slots=True)
class Resource:
    arn: str
    #: A public repository allows anonymous pull (PRODUCT.md §2).
    public: bool = False


def authorize(principal: Principal, action: str, resource: Resource) -> Decision:
    """Decide one (principal, action, resource) request."""
    decision = evaluate(principal.policies, action, resource.arn)
    if decision.allowed or decision.policy is not None:
        return decision  # an Allow, or an explicit Deny that nothing may override
    if action == PULL and resource.public:
        return Decision(True, "public-repository", 0)
    return decision
