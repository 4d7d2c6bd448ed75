"""Storage usage of an instance, a namespace and a repository, its explanation, quotas.

Every figure is in bytes: ``logical`` as pushed (every manifest with its config and
layers), ``deduplicated`` as stored (each distinct digest once in the scope).
"""

from __future__ import annotations

from pydantic import Field

from dockyard.api.schemas.common import ApiModel, RequestModel

_LOGICAL = "Bytes as pushed: every manifest with its config and layers"
_DEDUPLICATED = "Bytes stored: each distinct digest (manifest, config, layer) once"


class RepositoryUsageOut(ApiModel):
    name: str
    logical: int = Field(description=_LOGICAL)
    deduplicated: int = Field(description=f"{_DEDUPLICATED} in the repository")
    manifests: int


class NamespaceUsageOut(ApiModel):
    name: str
    logical: int = Field(description=_LOGICAL)
    deduplicated: int = Field(description=f"{_DEDUPLICATED} in the namespace")
    quota: int | None = Field(description="The namespace's byte quota; null: none")


class NamespaceDetailOut(ApiModel):
    namespace: NamespaceUsageOut
    repositories: list[RepositoryUsageOut] = Field(description="A page, by name")
    repository_count: int


class InstanceUsageOut(ApiModel):
    instance_id: str
    logical: int = Field(description=_LOGICAL)
    deduplicated: int = Field(description=f"{_DEDUPLICATED} in the instance")
    namespaces: list[NamespaceUsageOut] = Field(description="A page, by name")
    namespace_count: int


class SharedContentOut(ApiModel):
    digest: str
    size: int
    manifests: int = Field(description="Manifests of the namespace holding it")
    repositories: list[str]


class ExplanationOut(ApiModel):
    namespace: NamespaceUsageOut
    distinct_content: int = Field(description="Distinct digests, each counted once")
    shared_content: int = Field(description="Of them, held by more than one manifest")
    shared_bytes: int
    saved: int = Field(description="logical - deduplicated: what sharing saves")
    rules: list[str] = Field(description="What counts and why")
    largest_shared: list[SharedContentOut]


class QuotaSet(RequestModel):
    quota: int | None = Field(
        ge=0, le=2**63 - 1, description="Bytes of deduplicated usage allowed; null: no quota"
    )
