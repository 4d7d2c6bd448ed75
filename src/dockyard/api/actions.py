"""The policy action and resource of every management API operation: the one table.

PRODUCT.md §3 names the actions of namespaces, repositories, tags, manifests, layers and
instance reads; the rest follow the same pattern **(design)**:

| operation | action | resource (Advanced form) |
|---|---|---|
| sign in | (none: proves a password) | |
| bind a virtual MFA device | (none: proves a bind token from the sign-in) | |
| sign out (end every own session) | (none: any signed-in caller, own sessions only) | |
| change own console password | ram:ChangePassword | ``acs:ram::$account:user/$self`` |
| reset a user's console password | ram:ResetPassword | ``acs:ram::$account:user/$username`` |
| create instance | cr:CreateInstance | ``*`` |
| list / get instances | cr:ListInstance / cr:GetInstance | ``*`` |
| update instance | cr:UpdateInstance | ``instance/$iid`` |
| delete instance | cr:DeleteInstance | ``instance/$iid`` |
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
| create trigger | cr:CreateRepoTrigger | ``repository/$iid/$ns/$repo`` |
| list / get triggers | cr:ListRepoTrigger / cr:GetRepoTrigger | ``repository/$iid/$ns/$repo`` |
| update, ping trigger; redeliver | cr:UpdateWebHook | ``repository/$iid/$ns/$repo`` |
| delete trigger | cr:DeleteRepoTrigger | ``repository/$iid/$ns/$repo`` |
| list the trigger log | cr:ListRepoTriggerRecord | ``repository/$iid/$ns/$repo`` |
| create retention policy | cr:CreateRetentionPolicy | ``instance/$iid`` |
| list / get retention policies | cr:List/GetRetentionPolicy | ``instance/$iid`` |
| update / delete retention policy | cr:Update/DeleteRetentionPolicy | ``instance/$iid`` |
| execute or dry-run a retention policy | cr:ExecuteRetentionPolicy | ``instance/$iid`` |
| list a retention policy's runs | cr:ListRetentionRun | ``instance/$iid`` |
| list audit events | ram:ListAuditEvents | ``*`` |
| set / reset registry password | ram:SetRegistryPassword | ``acs:ram::$acct:user/$name`` |
| create / list access keys | ram:CreateAccessKey / ram:ListAccessKeys | ``…:user/$name`` |
| update / delete access key | ram:UpdateAccessKey / ram:DeleteAccessKey | ``…:user/$name`` |
| get STS credentials (with an access key) | sts:GetSessionToken | ``*`` |
| get temporary login credentials | cr:GetAuthorizationToken | ``*`` |
| create / list organizations | ram:CreateOrganization / ram:ListOrganizations | ``*`` |
| get / update / delete organization | ram:Get/Update/DeleteOrganization | ``…:organization/$id`` |
| create / list users | ram:CreateUser / ram:ListUsers | ``*`` |
| get / update / delete user | ram:GetUser / ram:UpdateUser / ram:DeleteUser | ``…:user/$name`` |
| grant / revoke a user's role | ram:AttachRoleToUser / ram:DetachRoleFromUser | ``…:user/$name`` |
| enable / disable MFA, clear the device | ram:SetUserMFA | ``…:user/$name`` |
| create / list user groups | ram:CreateGroup / ram:ListGroups | ``*`` |
| get / update / delete group | ram:Get/Update/DeleteGroup | ``…:group/$name`` |
| add / remove a member | ram:AddUserToGroup / ram:RemoveUserFromGroup | ``…:group/$name`` |
| grant / revoke group's role | ram:AttachRoleToGroup / DetachRoleFromGroup | ``…:group/$name`` |
| create / list resource sets | ram:CreateResourceSet / ram:ListResourceSets | ``*`` |
| get / update / delete resource set | ram:Get/Update/DeleteResourceSet | ``…:resourceset/$name`` |
| link a group to a resource set | ram:LinkResourceSetToGroup | ``…:resourceset/$n`` |
| unlink it | ram:UnlinkResourceSetFromGroup | ``…:resourceset/$n`` |
| add a namespace or repository | ram:AddResourceToResourceSet | ``…:resourceset/$n`` |
| remove a namespace or repository | ram:RemoveResourceFromResourceSet | ``…:resourceset/$n`` |
| create / list roles | ram:CreateRole / ram:ListRoles | ``*`` |
| get / update / delete role | ram:GetRole / ram:UpdateRole / ram:DeleteRole | ``…:role/$name`` |
| attach / detach a policy | ram:AttachPolicyToRole / ram:DetachPolicyFromRole | ``…:role/$name`` |
| create / list policies | ram:CreatePolicy / ram:ListPolicies | ``*`` |
| get / update / delete policy | ram:Get/Update/DeletePolicy | ``…:policy/$name`` |
| create / list logon policies | ram:CreateLogonPolicy / ram:ListLogonPolicies | ``*`` |
| get / update / delete logon policy | ram:Get/Update/DeleteLogonPolicy | ``…:logonpolicy/$name`` |
| simulate a user's request (the "why") | ram:SimulatePolicy | ``…:user/$name`` |
| list background jobs | cr:InspectJob | ``*`` |
| retry a failed background job | cr:RetryJob | ``*`` |
| storage usage of an instance | cr:GetUsage | ``instance/$iid`` |
| storage usage of a namespace; explain it | cr:GetUsage | ``repository/$iid/$ns`` |
| storage usage of a repository | cr:GetUsage | ``repository/$iid/$ns/$repo`` |
| set / clear a namespace's quota | cr:UpdateQuota | ``repository/$iid/$ns`` |
| start a garbage collection run (or dry run) | cr:RunGarbageCollection | ``*`` |
| list / get garbage collection runs | cr:ListGarbageCollectionRun | ``*`` |
| import OSV records into the vulnerability database | cr:ImportVulnDb | ``*`` |
| read the vulnerability database's state | cr:GetVulnDb | ``*`` |
| scan an image (Advanced) | cr:ScanImage | ``repository/$iid/$ns/$repo`` |
| read an image's scan (Advanced) | cr:GetImageScan | ``repository/$iid/$ns/$repo`` |
| read a namespace's scan policy | cr:GetScanPolicy | ``repository/$iid/$ns`` |
| set a namespace's scan policy | cr:UpdateScanPolicy | ``repository/$iid/$ns`` |

A retention policy may span namespaces, so its operations are authorized on the instance:
whoever may execute one deletes tags in every repository it reaches (Advanced only).

Background jobs are the whole deployment's (every instance's event deliveries, the upkeep)
and their errors quote what failed (a remote's answer, an address): data for the registry's
administrators, not its readers. So the list is ``cr:InspectJob``, not a ``cr:List…``
action, which the read-only built-in (``cr:Get*``, ``cr:List*``, ``cr:Pull*``) would grant;
``AliyunContainerRegistryFullAccess`` (``cr:*``) and ``AdministratorAccess`` grant both.

Garbage collection reclaims the storage every instance shares: its operations are on
``*``. Its reports are counts (and a failed run's error), so reading them is a
``cr:List…`` action.

Resources are full ARNs (``acs:cr:$region:$account:...``); Standard instances drop
``$iid/`` (``services.access.InstanceRef.arn``).

Each route records its action as ``x-dockyard-action`` in the OpenAPI document, and the
route's ``Guard`` authorizes exactly that action, so the document and the check agree.
"""

from __future__ import annotations

from typing import Any

from dockyard.services.access import InstanceRef
from dockyard.services.tenancy.editions import ADVANCED

ACTION_KEY = "x-dockyard-action"

SIGN_IN = "none"
#: ``POST /auth/mfa/bind`` proves the bind token of a sign-in; ``POST /auth/signout`` ends
#: the caller's own sessions: nothing to authorize.
BIND_MFA_DEVICE = SIGN_IN
SIGN_OUT = SIGN_IN
CHANGE_PASSWORD = "ram:ChangePassword"  # noqa: S105 - an action name
RESET_PASSWORD = "ram:ResetPassword"  # noqa: S105 - an action name
CREATE_INSTANCE = "cr:CreateInstance"
LIST_INSTANCE = "cr:ListInstance"
GET_INSTANCE = "cr:GetInstance"
UPDATE_INSTANCE = "cr:UpdateInstance"
DELETE_INSTANCE = "cr:DeleteInstance"
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
CREATE_REPO_TRIGGER = "cr:CreateRepoTrigger"
LIST_REPO_TRIGGER = "cr:ListRepoTrigger"
GET_REPO_TRIGGER = "cr:GetRepoTrigger"
#: Update, ping and redeliver (PRODUCT.md §3 names it so); readers without it see
#: trigger URLs with the query string masked.
UPDATE_WEBHOOK = "cr:UpdateWebHook"
DELETE_REPO_TRIGGER = "cr:DeleteRepoTrigger"
LIST_REPO_TRIGGER_RECORD = "cr:ListRepoTriggerRecord"
CREATE_RETENTION_POLICY = "cr:CreateRetentionPolicy"
LIST_RETENTION_POLICY = "cr:ListRetentionPolicy"
GET_RETENTION_POLICY = "cr:GetRetentionPolicy"
UPDATE_RETENTION_POLICY = "cr:UpdateRetentionPolicy"
DELETE_RETENTION_POLICY = "cr:DeleteRetentionPolicy"
EXECUTE_RETENTION_POLICY = "cr:ExecuteRetentionPolicy"
LIST_RETENTION_RUN = "cr:ListRetentionRun"
LIST_AUDIT_EVENTS = "ram:ListAuditEvents"
SET_REGISTRY_PASSWORD = "ram:SetRegistryPassword"  # noqa: S105 - an action name
CREATE_ACCESS_KEY = "ram:CreateAccessKey"
LIST_ACCESS_KEYS = "ram:ListAccessKeys"
UPDATE_ACCESS_KEY = "ram:UpdateAccessKey"
DELETE_ACCESS_KEY = "ram:DeleteAccessKey"
GET_SESSION_TOKEN = "sts:GetSessionToken"  # noqa: S105 - an action name
GET_AUTHORIZATION_TOKEN = "cr:GetAuthorizationToken"  # noqa: S105 - an action name
CREATE_ORGANIZATION = "ram:CreateOrganization"
LIST_ORGANIZATIONS = "ram:ListOrganizations"
GET_ORGANIZATION = "ram:GetOrganization"
UPDATE_ORGANIZATION = "ram:UpdateOrganization"
DELETE_ORGANIZATION = "ram:DeleteOrganization"
CREATE_USER = "ram:CreateUser"
LIST_USERS = "ram:ListUsers"
GET_USER = "ram:GetUser"
UPDATE_USER = "ram:UpdateUser"
DELETE_USER = "ram:DeleteUser"
ATTACH_ROLE_TO_USER = "ram:AttachRoleToUser"
DETACH_ROLE_FROM_USER = "ram:DetachRoleFromUser"
SET_USER_MFA = "ram:SetUserMFA"
CREATE_GROUP = "ram:CreateGroup"
LIST_GROUPS = "ram:ListGroups"
GET_GROUP = "ram:GetGroup"
UPDATE_GROUP = "ram:UpdateGroup"
DELETE_GROUP = "ram:DeleteGroup"
ADD_USER_TO_GROUP = "ram:AddUserToGroup"
REMOVE_USER_FROM_GROUP = "ram:RemoveUserFromGroup"
ATTACH_ROLE_TO_GROUP = "ram:AttachRoleToGroup"
DETACH_ROLE_FROM_GROUP = "ram:DetachRoleFromGroup"
CREATE_RESOURCE_SET = "ram:CreateResourceSet"
LIST_RESOURCE_SETS = "ram:ListResourceSets"
GET_RESOURCE_SET = "ram:GetResourceSet"
UPDATE_RESOURCE_SET = "ram:UpdateResourceSet"
DELETE_RESOURCE_SET = "ram:DeleteResourceSet"
LINK_RESOURCE_SET_TO_GROUP = "ram:LinkResourceSetToGroup"
UNLINK_RESOURCE_SET_FROM_GROUP = "ram:UnlinkResourceSetFromGroup"
ADD_RESOURCE_TO_RESOURCE_SET = "ram:AddResourceToResourceSet"
REMOVE_RESOURCE_FROM_RESOURCE_SET = "ram:RemoveResourceFromResourceSet"
CREATE_ROLE = "ram:CreateRole"
LIST_ROLES = "ram:ListRoles"
GET_ROLE = "ram:GetRole"
UPDATE_ROLE = "ram:UpdateRole"
DELETE_ROLE = "ram:DeleteRole"
ATTACH_POLICY_TO_ROLE = "ram:AttachPolicyToRole"
DETACH_POLICY_FROM_ROLE = "ram:DetachPolicyFromRole"
CREATE_POLICY = "ram:CreatePolicy"
LIST_POLICIES = "ram:ListPolicies"
GET_POLICY = "ram:GetPolicy"
UPDATE_POLICY = "ram:UpdatePolicy"
DELETE_POLICY = "ram:DeletePolicy"
CREATE_LOGON_POLICY = "ram:CreateLogonPolicy"
LIST_LOGON_POLICIES = "ram:ListLogonPolicies"
GET_LOGON_POLICY = "ram:GetLogonPolicy"
UPDATE_LOGON_POLICY = "ram:UpdateLogonPolicy"
DELETE_LOGON_POLICY = "ram:DeleteLogonPolicy"
SIMULATE_POLICY = "ram:SimulatePolicy"
INSPECT_JOB = "cr:InspectJob"
RETRY_JOB = "cr:RetryJob"
GET_USAGE = "cr:GetUsage"
UPDATE_QUOTA = "cr:UpdateQuota"
RUN_GARBAGE_COLLECTION = "cr:RunGarbageCollection"
LIST_GARBAGE_COLLECTION_RUN = "cr:ListGarbageCollectionRun"
IMPORT_VULN_DB = "cr:ImportVulnDb"
GET_VULN_DB = "cr:GetVulnDb"
SCAN_IMAGE = "cr:ScanImage"
GET_IMAGE_SCAN = "cr:GetImageScan"
GET_SCAN_POLICY = "cr:GetScanPolicy"
UPDATE_SCAN_POLICY = "cr:UpdateScanPolicy"

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
