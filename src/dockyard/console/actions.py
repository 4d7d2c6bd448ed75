"""The policy actions the console authorizes: the API's names (``api/actions.py``, the one
table of actions and resources), which no face imports from another."""

from __future__ import annotations

CHANGE_PASSWORD = "ram:ChangePassword"  # noqa: S105 - an action name
CREATE_ACCESS_KEY = "ram:CreateAccessKey"
CREATE_INSTANCE = "cr:CreateInstance"
CREATE_NAMESPACE = "cr:CreateNamespace"
CREATE_POLICY = "ram:CreatePolicy"
CREATE_REPOSITORY = "cr:CreateRepository"
CREATE_ROLE = "ram:CreateRole"
CREATE_USER = "ram:CreateUser"
DELETE_ACCESS_KEY = "ram:DeleteAccessKey"
DELETE_NAMESPACE = "cr:DeleteNamespace"
DELETE_REPOSITORY = "cr:DeleteRepository"
DELETE_REPOSITORY_TAG = "cr:DeleteRepositoryTag"
GET_AUTHORIZATION_TOKEN = "cr:GetAuthorizationToken"  # noqa: S105 - an action name
GET_INSTANCE = "cr:GetInstance"
GET_NAMESPACE = "cr:GetNamespace"
GET_POLICY = "ram:GetPolicy"
GET_REPOSITORY = "cr:GetRepository"
GET_REPOSITORY_LAYERS = "cr:GetRepositoryLayers"
GET_USER = "ram:GetUser"
LIST_ACCESS_KEYS = "ram:ListAccessKeys"
LIST_AUDIT_EVENTS = "ram:ListAuditEvents"
LIST_INSTANCE = "cr:ListInstance"
LIST_NAMESPACE = "cr:ListNamespace"
LIST_POLICIES = "ram:ListPolicies"
LIST_REPOSITORY = "cr:ListRepository"
LIST_REPOSITORY_TAG = "cr:ListRepositoryTag"
LIST_ROLES = "ram:ListRoles"
LIST_USERS = "ram:ListUsers"
RESET_PASSWORD = "ram:ResetPassword"  # noqa: S105 - an action name
SET_REGISTRY_PASSWORD = "ram:SetRegistryPassword"  # noqa: S105 - an action name
SET_USER_MFA = "ram:SetUserMFA"
SIMULATE_POLICY = "ram:SimulatePolicy"
UPDATE_ACCESS_KEY = "ram:UpdateAccessKey"
UPDATE_INSTANCE = "cr:UpdateInstance"
UPDATE_NAMESPACE = "cr:UpdateNamespace"
UPDATE_POLICY = "ram:UpdatePolicy"
UPDATE_REPOSITORY = "cr:UpdateRepository"
UPDATE_USER = "ram:UpdateUser"
