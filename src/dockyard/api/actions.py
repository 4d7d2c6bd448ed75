"""The policy action and resource of every management API operation: the one table.

PRODUCT.md §3 names the actions of namespaces, repositories, tags, manifests, layers and
instance reads; the rest follow the same pattern **(design)**:

| operation | action | resource (Advanced form) |
|---|---|---|
| sign in | (none: proves a password) | |
| create instance | cr:CreateInstance | ``*`` |
| list / get instances | cr:ListInstance / cr:GetInstance | ``*`` |
| update instance | cr:UpdateInstance | ``instance/$iid`` |
| create namespace | cr:CreateNamespace | ``repository/$iid/$ns`` (Standard: ``*``) |
| get namespace | cr:GetNamespace | ``repository/$iid/$ns`` |
| update namespace | cr:UpdateNamespace | ``repository/$iid/$ns`` |
| delete namespace | cr:DeleteNamespace | ``repository/$iid/$ns`` |
| list namespaces | cr:ListNamespace | ``repository/$iid/*`` (Standard: ``*``) |
| create repository | cr:CreateRepository | ``repository/$iid/$ns`` |
| get repository | cr:GetRepository | ``repository/$iid/$ns/$repo`` |
| update repository | cr:UpdateRepository | ``repository/$iid/$ns/$repo`` |
| delete repository | cr:DeleteRepository | ``repository/$iid/$ns/$repo`` |
| list repositories (namespace) | cr:ListRepository | ``repository/$iid/$ns/*`` (Std: ``*``) |
| list repositories (instance) | cr:ListRepository | ``repository/$iid/*`` (Standard: ``*``) |
| list tags | cr:ListRepositoryTag | ``repository/$iid/$ns/$repo`` |
| delete tag | cr:DeleteRepositoryTag | ``repository/$iid/$ns/$repo`` |
| get manifest | cr:GetRepositoryManifest | ``repository/$iid/$ns/$repo`` |
| get layers | cr:GetRepositoryLayers | ``repository/$iid/$ns/$repo`` |

Resources are full ARNs (``acs:cr:$region:$account:...``); Standard instances drop
``$iid/`` (``services.access.InstanceRef.arn``).

Each route records its action as ``x-dockyard-action`` in the OpenAPI document, and the
route's ``Guard`` authorizes exactly that action, so the document and the check agree.
"""

from __future__ import annotations

from typing import Any

from dockyard.services.access import InstanceRef
from dockyard.services.editions import ADVANCED

ACTION_KEY = "x-dockyard-action"

SIGN_IN = "none"
CREATE_INSTANCE = "cr:CreateInstance"
LIST_INSTANCE = "cr:ListInstance"
GET_INSTANCE = "cr:GetInstance"
UPDATE_INSTANCE = "cr:UpdateInstance"
CREATE_NAMESPACE = "cr:CreateNamespace"
GET_NAMESPACE = "cr:GetNamespace"
LIST_NAMESPACE = "cr:ListNamespace"
UPDATE_NAMESPACE = "cr:UpdateNamespace"
DELETE_NAMESPACE = "cr:DeleteNamespace"
CREATE_REPOSITORY = "cr:CreateRepository"
GET_REPOSITORY = "cr:GetRepository"
LIST_REPOSITORY = "cr:ListRepository"
UPDATE_REPOSITORY = "cr:UpdateRepository"
DELETE_REPOSITORY = "cr:DeleteRepository"
LIST_REPOSITORY_TAG = "cr:ListRepositoryTag"
DELETE_REPOSITORY_TAG = "cr:DeleteRepositoryTag"
GET_REPOSITORY_MANIFEST = "cr:GetRepositoryManifest"
GET_REPOSITORY_LAYERS = "cr:GetRepositoryLayers"

#: Operations anyone may call (they prove a credential instead).
UNAUTHENTICATED = frozenset({SIGN_IN})


def action(name: str) -> dict[str, Any]:
    """``openapi_extra`` for a route whose operation is authorized as ``name``."""
    return {ACTION_KEY: name}


def _advanced(instance: InstanceRef) -> bool:
    """Advanced ARNs name the instance; list and create resources change form with them."""
    return instance.edition == ADVANCED


def everything() -> str:
    return "*"


def instance_arn(instance: InstanceRef) -> str:
    return instance.arn(f"instance/{instance.id}")


def namespace_arn(instance: InstanceRef, namespace: str) -> str:
    return instance.arn(f"repository/{namespace}")


def namespace_create_arn(instance: InstanceRef, namespace: str) -> str:
    return namespace_arn(instance, namespace) if _advanced(instance) else "*"


def namespace_list_arn(instance: InstanceRef) -> str:
    return instance.arn("repository/*") if _advanced(instance) else "*"


def repository_arn(instance: InstanceRef, namespace: str, repository: str) -> str:
    return instance.arn(f"repository/{namespace}/{repository}")


def repository_list_arn(instance: InstanceRef, namespace: str | None) -> str:
    if not _advanced(instance):
        return "*"
    return instance.arn(f"repository/{namespace}/*" if namespace else "repository/*")
