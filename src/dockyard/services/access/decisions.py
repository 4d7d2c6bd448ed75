"""Who is asking, what they ask for, and the one call that decides: ``authorize``.

Every face (registry protocol, management API, console) passes an action and a resource
name from PRODUCT.md §3 to ``authorize``; nothing else grants access.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field

from dockyard.policy import Decision, PolicyDocument, evaluate
from dockyard.policy.engine import Globs, compile_globs, explicitly_denied, glob_match

PULL = "cr:PullRepository"
PUSH = "cr:PushRepository"
DELETE_TAG = "cr:DeleteRepositoryTag"
LIST_REPOSITORY = "cr:ListRepository"
#: The ``Decision.policy`` of a pull allowed because the repository is public.
PUBLIC_REPOSITORY = "public-repository"

#: Docker token scope actions → policy actions.
SCOPE_ACTIONS = {"pull": PULL, "push": PUSH, "delete": DELETE_TAG}


@dataclass(frozen=True, slots=True)
class ScopedPolicies:
    """Policies reaching a user through a group linked to resource sets.

    Their Allow statements apply only to resources matching ``resources`` (ARN patterns
    of the sets' namespaces and repositories, the same glob rules as policies) and to
    list/create requests on ``*``; their Deny statements apply everywhere.

    **(design)** A list request on a collection of an Advanced instance
    (``.../repository/$iid/*``, ``.../repository/$iid/$ns/*``: the form the Standard
    edition writes ``*``) is in scope when the collection holds one of the sets'
    resources, i.e. when the request resource, read as a pattern, matches one of
    ``resources``. So a member lists in an Advanced instance what a member of a Standard
    one lists (results are not filtered item by item, PRODUCT.md §3).
    """

    policies: tuple[PolicyDocument, ...]
    resources: tuple[str, ...]
    _scope: Globs = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        object.__setattr__(self, "_scope", compile_globs(tuple(self.resources)))

    def covers(self, resource: str) -> bool:
        """Whether the sets' Allow statements apply to a request on ``resource``."""
        if resource == "*" or self._scope.match(resource):
            return True
        if resource.endswith("/*"):
            return any(glob_match(resource, r) for r in self.resources)
        return False


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


def _noted(decision: Decision, note: str) -> Decision:
    """``decision`` with a note (``dataclasses.replace`` is slow on the hot path)."""
    d = decision
    return Decision(d.allowed, d.policy, d.statement, note, d.matched, d.request)


def authorize(principal: Principal, action: str, resource: Resource) -> Decision:
    """Decide one (principal, action, resource) request.

    An explicit Deny from any of the principal's policies (scoped ones included) wins;
    then an Allow of a policy that applies everywhere, or of a scoped policy whose sets
    cover the resource; then a pull of a public repository; else denied.
    """
    arn = resource.arn
    decision = evaluate(principal.policies, action, arn)
    if explicitly_denied(decision):
        return decision
    allowed = decision if decision.allowed else None
    outside: Decision | None = None
    for scoped in principal.scoped:
        found = evaluate(scoped.policies, action, arn)
        if explicitly_denied(found):
            return _noted(found, "a policy granted through a resource set denies it")
        if not found.allowed or allowed is not None:
            continue
        if scoped.covers(arn):
            allowed = _noted(found, "granted through a resource set covering the resource")
        elif outside is None:
            outside = found
    if allowed is not None:
        return allowed
    if action == PULL and resource.public:
        return Decision(True, PUBLIC_REPOSITORY, 0, note="anyone may pull a public repository")
    if outside is not None:
        return Decision(
            False,
            note=f"{outside.policy} statement {outside.statement} would allow it, but it is "
            "granted through resource sets that do not cover this resource",
        )
    return decision
