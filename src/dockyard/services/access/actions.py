"""The catalogue of policy actions and the resource each one is authorized on: one table
that every face (API, console, CLI help) and every worker acting for a user reads, so a page
and the route that do the same thing can never be decided differently.

``api/actions.py`` documents the table per operation; the ARN forms follow PRODUCT.md §3
(Standard instances authorize namespace and repository listings and creations on ``*``).
"""

from __future__ import annotations

from dockyard.services.access.decisions import InstanceRef
from dockyard.services.tenancy.editions import ADVANCED

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
CREATE_REPLICATION_REMOTE = "cr:CreateReplicationRemote"
LIST_REPLICATION_REMOTE = "cr:ListReplicationRemote"
DELETE_REPLICATION_REMOTE = "cr:DeleteReplicationRemote"
CREATE_REPO_SYNC_TASK = "cr:CreateRepoSyncTask"
LIST_REPO_SYNC_TASK = "cr:ListRepoSyncTask"
GET_REPO_SYNC_TASK = "cr:GetRepoSyncTask"
CANCEL_REPO_SYNC_TASK = "cr:CancelRepoSyncTask"
CREATE_REPO_SYNC_RULE = "cr:CreateRepoSyncRule"
LIST_REPO_SYNC_RULE = "cr:ListRepoSyncRule"
UPDATE_REPO_SYNC_RULE = "cr:UpdateRepoSyncRule"
DELETE_REPO_SYNC_RULE = "cr:DeleteRepoSyncRule"
CREATE_METADATA_NAMESPACE = "cr:CreateMetadataNamespace"
LIST_METADATA_NAMESPACE = "cr:ListMetadataNamespace"
GET_METADATA_NAMESPACE = "cr:GetMetadataNamespace"
DELETE_METADATA_NAMESPACE = "cr:DeleteMetadataNamespace"
CREATE_METADATA_NOTE = "cr:CreateMetadataNote"
LIST_METADATA_NOTE = "cr:ListMetadataNote"
GET_METADATA_NOTE = "cr:GetMetadataNote"
DELETE_METADATA_NOTE = "cr:DeleteMetadataNote"
CREATE_METADATA_OCCURRENCE = "cr:CreateMetadataOccurrence"
LIST_METADATA_OCCURRENCES = "cr:ListMetadataOccurrences"
DELETE_METADATA_OCCURRENCE = "cr:DeleteMetadataOccurrence"
CREATE_METADATA_PUBLIC_KEY = "cr:CreateMetadataPublicKey"
LIST_METADATA_PUBLIC_KEY = "cr:ListMetadataPublicKey"
DELETE_METADATA_PUBLIC_KEY = "cr:DeleteMetadataPublicKey"
LIST_SIGNATURE = "cr:ListSignature"
CREATE_SIGNATURE_POLICY = "cr:CreateSignaturePolicy"
LIST_SIGNATURE_POLICY = "cr:ListSignaturePolicy"
GET_SIGNATURE_POLICY = "cr:GetSignaturePolicy"
DELETE_SIGNATURE_POLICY = "cr:DeleteSignaturePolicy"
IMPORT_VULN_DB = "cr:ImportVulnDb"
GET_VULN_DB = "cr:GetVulnDb"
SCAN_IMAGE = "cr:ScanImage"
LIST_IMAGE_SCAN = "cr:ListImageScan"
GET_IMAGE_SCAN = "cr:GetImageScan"
GET_SCAN_POLICY = "cr:GetScanPolicy"
UPDATE_SCAN_POLICY = "cr:UpdateScanPolicy"
CREATE_EXTERNAL_SCANNER = "cr:CreateExternalScanner"
LIST_EXTERNAL_SCANNER = "cr:ListExternalScanner"
DELETE_EXTERNAL_SCANNER = "cr:DeleteExternalScanner"


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


def metadata_arn(instance: InstanceRef, namespace: str) -> str:
    """A metadata namespace (signing): the same form in both editions."""
    return instance.arn(f"metadata/{namespace}")


def metadata_list_arn(instance: InstanceRef) -> str:
    return instance.arn("metadata/*")


def signature_arn(_instance: InstanceRef) -> str:
    """Reading signatures is on ``*`` (PRODUCT.md §3: ``cr:ListSignature*``)."""
    return "*"
