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
| get an instance's limits and their use | cr:GetInstance | ``*`` |
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
| create, get, delete metadata ns | cr:Create/Get/DeleteMetadataNamespace | ``metadata/$mns`` |
| list metadata namespaces | cr:ListMetadataNamespace | ``metadata/*`` |
| create / list / get / delete note | cr:Create/List/Get/DeleteMetadataNote | ``metadata/$mns`` |
| create / delete occurrence | cr:Create/DeleteMetadataOccurrence | ``metadata/$mns`` |
| list occurrences | cr:ListMetadataOccurrences | ``metadata/$mns`` |
| add / list / delete public key | cr:Create/List/DeleteMetadataPublicKey | ``metadata/$mns`` |
| verify an image's signatures | cr:ListSignature | ``*`` |
| ask whether an image is admitted | cr:ListSignature | ``*`` |
| signature policies | cr:Create/List/Get/DeleteSignaturePolicy | ``instance/$iid`` |
| add / list / remove remotes | cr:Create/List/DeleteReplicationRemote | ``instance/$iid`` |
| replicate a tag (or tag regex); retry | cr:CreateRepoSyncTask | ``repository/$iid/$ns/$repo`` |
| list replication tasks | cr:ListRepoSyncTask | ``repository/$iid/*`` (Standard: ``*``) |
| get / cancel a replication task | cr:Get/CancelRepoSyncTask | ``repository/$iid/$ns/$repo`` |
| create / enable, disable / delete a rule | cr:Create/Update/DeleteRepoSyncRule | its source |
| list replication rules | cr:ListRepoSyncRule | ``repository/$iid/*`` (Standard: ``*``) |

A replication task is authorized on its source repository, a rule on its source
(``repository/$iid/$ns`` or ``repository/$iid/$ns/$repo``); addressed by id or name, an
unknown one is authorized on ``repository/$iid/*`` (Standard: ``*``) before its 404.
| import OSV records into the vulnerability database | cr:ImportVulnDb | ``*`` |
| read the vulnerability database's state | cr:GetVulnDb | ``*`` |
| scan an image (Advanced) | cr:ScanImage | ``repository/$iid/$ns/$repo`` |
| read an image's scan (Advanced) | cr:GetImageScan | ``repository/$iid/$ns/$repo`` |
| list a repository's scans (Advanced) | cr:ListImageScan | ``repository/$iid/$ns/$repo`` |
| read a namespace's scan policy | cr:GetScanPolicy | ``repository/$iid/$ns`` |
| set a namespace's scan policy | cr:UpdateScanPolicy | ``repository/$iid/$ns`` |
| add / list / remove external scanners | cr:Create/List/DeleteExternalScanner | ``*`` |

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

Metadata namespaces (signing, PRODUCT.md §8) are not repository namespaces: their ARNs
are ``acs:cr:$region:$account:metadata/$mns`` in both editions; reading an image's
signatures is ``cr:ListSignature`` on ``*``, as §3 has it.

Resources are full ARNs (``acs:cr:$region:$account:...``); Standard instances drop
``$iid/`` (``services.access.InstanceRef.arn``).

Each route records its action as ``x-dockyard-action`` in the OpenAPI document, and the
route's ``Guard`` authorizes exactly that action, so the document and the check agree.
"""

from __future__ import annotations

from typing import Any

from dockyard.services.access.actions import *  # noqa: F403 - the one catalogue, re-exported

ACTION_KEY = "x-dockyard-action"

SIGN_IN = "none"
#: ``POST /auth/mfa/bind`` proves the bind token of a sign-in; ``POST /auth/signout`` ends
#: the caller's own sessions: nothing to authorize.
BIND_MFA_DEVICE = SIGN_IN
SIGN_OUT = SIGN_IN

#: Operations anyone may call (they prove a credential instead).
UNAUTHENTICATED = frozenset({SIGN_IN})


def action(name: str) -> dict[str, Any]:
    """``openapi_extra`` for a route whose operation is authorized as ``name``."""
    return {ACTION_KEY: name}
