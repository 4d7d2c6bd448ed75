"""The installed ``dockyard`` command for identity and credentials, against a real server.

A realistic journey: an administrator builds an organization, a user (initial password),
a group and a role with a custom policy (pull on one namespace), and grants it; the user
signs in (changing the initial password), sets a registry password, creates an access key,
logs in with it and works with it; the administrator disables the key and the next command
fails with the API's message; the audit log shows the user's creation, and the policy
simulator names the deciding statement. Then each command family on its own.
"""

from __future__ import annotations

import base64
import json
import os
import pty
import secrets
import select
import signal
import stat
import time
from collections.abc import Callable
from datetime import datetime
from pathlib import Path
from typing import Any

import httpx
import pyotp
import pytest
from tests.conftest import DockyardServer
from tests.dockyard_cli import Cli, installed_command

pytestmark = pytest.mark.e2e

INITIAL_PASSWORD = "Initial-pass-2024"
NEW_PASSWORD = "Changed-pass-2024"
REGISTRY_PASSWORD = "Registry-pass-42"


def unique(prefix: str) -> str:
    return f"{prefix}{secrets.token_hex(4)}"


class EnvCli(Cli):
    """A CLI home whose commands also get ``extra`` environment variables."""

    def __init__(self, home: Path, extra: dict[str, str]) -> None:
        super().__init__(home)
        self.extra = extra

    def env(self) -> dict[str, str]:
        return {**super().env(), **self.extra}


@pytest.fixture(scope="module")
def cli(registry: DockyardServer, tmp_path_factory: pytest.TempPathFactory) -> Cli:
    """Logged in to the shared server as the administrator."""
    client = Cli(tmp_path_factory.mktemp("cli-identity-admin"))
    client.login(registry.url, *registry.admin)
    return client


def pull_policy(namespace: str) -> dict[str, Any]:
    return {
        "Version": "1",
        "Statement": [
            {
                "Effect": "Allow",
                "Action": ["cr:PullRepository", "cr:GetRepository", "cr:ListRepository"],
                "Resource": [  # the default instance is Advanced: its id is in the ARN
                    f"acs:cr:*:*:repository/default/{namespace}",
                    f"acs:cr:*:*:repository/default/{namespace}/*",
                ],
            }
        ],
    }


def new_user(cli: Cli, username: str, *extra: str) -> dict[str, Any]:
    result = cli.run(
        "user",
        "create",
        username,
        "--email",
        f"{username}@example.com",
        "--phone",
        "13800000000",
        "--password-stdin",
        "--json",
        *extra,
        input=INITIAL_PASSWORD + "\n",
    )
    created: dict[str, Any] = json.loads(result.stdout)
    return created


def signed_in(registry: DockyardServer, home: Path, username: str) -> Cli:
    """A CLI home of ``username``, signed in (the initial password changed on the way)."""
    user_cli = Cli(home)
    user_cli.run(
        "login",
        registry.url,
        "-u",
        username,
        "--password-stdin",
        "--new-password-stdin",
        input=f"{INITIAL_PASSWORD}\n{NEW_PASSWORD}\n",
    )
    return user_cli


def test_identity_journey(registry: DockyardServer, cli: Cli, tmp_path: Path) -> None:
    team = unique("team")
    cli.json("namespace", "create", team)
    cli.json("repo", "create", f"{team}/app")

    # The administrator: organization, user, policy, role, group, grants.
    org = cli.json("org", "create", unique("org"), "--description", "The team")
    assert org["parentId"] and org["description"] == "The team"
    assert org["name"] in cli.run("org", "list").stdout
    username = unique("dev")
    user = new_user(cli, username, "--org", org["name"], "--display-name", "Dev.One")
    assert user["username"] == username and user["organizationId"] == org["id"]
    assert user["displayName"] == "Dev.One"
    assert INITIAL_PASSWORD not in json.dumps(user)

    policy_file = tmp_path / "pull.json"
    policy_file.write_text(json.dumps(pull_policy(team)))
    policy = unique("pull")
    created = cli.json("policy", "create", policy, "--document", str(policy_file))
    assert created["name"] == policy and created["document"] == pull_policy(team)
    shown = cli.run("policy", "get", policy).stdout
    assert '"Version": "1"' in shown and "cr:PullRepository" in shown  # pretty-printed
    role = unique("puller")
    assert policy in str(cli.json("role", "create", role, "--policy", policy)["policies"])
    group = unique("devs")
    cli.json("group", "create", group, "--org", org["name"])
    cli.run("group", "add-member", group, username)
    cli.run("group", "grant-role", group, role)
    got = cli.json("group", "get", group)
    assert username in str(got.get("members")) and role in str(got.get("roles"))

    # The user: first sign-in changes the initial password; without a terminal the CLI
    # says which flag brings the new one.
    dev = Cli(tmp_path / "dev")
    refused = dev.run(
        "login", registry.url, "-u", username, "--password-stdin", input=INITIAL_PASSWORD + "\n",
        expect=1,
    )  # fmt: skip
    assert "--new-password-stdin" in refused.stderr and not dev.credentials.exists()
    dev = signed_in(registry, tmp_path / "dev", username)
    assert dev.json("user", "get", username)["username"] == username  # self-service

    # Registry password, set through the CLI (prompted twice on a terminal; stdin here).
    done = dev.run("registry-password", "set", "--password-stdin", input=REGISTRY_PASSWORD + "\n")
    assert f"docker login -u {username} {registry.host}" in done.stdout
    token = httpx.get(
        f"{registry.url}/auth/token",
        params={"scope": f"repository:{team}/app:pull"},
        auth=(username, REGISTRY_PASSWORD),
        timeout=30,
    )
    assert token.status_code == 200, token.text
    claims = jwt_claims(token.json()["token"])
    assert claims["access"][0]["actions"] == ["pull"]

    # An access key, created through the CLI: the secret once, with a warning.
    made = dev.run("access-key", "create", "--description", "laptop", "--json")
    assert "never shown again" in made.stderr
    key = json.loads(made.stdout)
    key_id, secret = key["accessKeyId"], key["accessKeySecret"]
    assert key_id.startswith("AK") and key["status"] == "active"
    listed = dev.run("access-key", "list").stdout
    assert key_id in listed and secret not in listed

    # Log in with it (from the environment) and work with it.
    ak = EnvCli(
        tmp_path / "ak",
        {"DOCKYARD_ACCESS_KEY_ID": key_id, "DOCKYARD_ACCESS_KEY_SECRET": secret},
    )
    logged = ak.run("login", registry.url, "-u", username)
    assert f"with access key {key_id}" in logged.stdout
    stored = json.loads(ak.credentials.read_text())["servers"][registry.url]
    assert stored["accessKeyId"] == key_id and "token" not in stored
    assert secret not in ak.credentials.read_text()
    assert stat.S_IMODE(ak.credentials.stat().st_mode) == 0o600
    assert ak.json("repo", "get", f"{team}/app")["fullName"] == f"{team}/app"
    denied = ak.run("namespace", "delete", team, expect=1)  # pull only
    assert denied.stderr.startswith("error: ")

    # The administrator disables the key: the next command fails with the API's message.
    assert cli.json("access-key", "disable", key_id, "--user", username)["status"] == "disabled"
    refused = ak.run("repo", "get", f"{team}/app", expect=1)
    direct = httpx.get(
        f"{registry.url}/api/v1/instances/default/namespaces/{team}/repositories/app",
        auth=(key_id, secret),
        timeout=30,
    )
    assert direct.status_code == 401
    assert refused.stderr.startswith(f"error: {direct.json()['message']}")
    assert "dockyard login" in refused.stderr
    cli.run("access-key", "enable", key_id, "--user", username)
    assert ak.json("repo", "get", f"{team}/app")["name"] == "app"

    # The audit log shows who created the user.
    events = cli.json("audit", "list", "--action", "ram:CreateUser", "--since", "1h")
    mine = [e for e in events if e["resource"].endswith(f"user/{username}")]
    assert mine and mine[0]["actor"] == "admin" and mine[0]["outcome"] == "success"
    table = cli.run("audit", "list", "--actor", "admin", "--action", "ram:CreateUser").stdout
    assert "ram:CreateUser" in table and username in table
    # --limit stops at that many events (the newest), however many there are.
    assert len(cli.json("audit", "list", "--limit", "2")) == 2

    # The simulator: allowed by the custom policy's statement; push is not.
    resource = f"acs:cr:local:1234:repository/default/{team}/app"
    why = cli.run(
        "policy", "simulate", "--user", username, "--action", "cr:PullRepository",
        "--resource", resource,
    ).stdout  # fmt: skip
    assert why.startswith("ALLOWED") and policy in why and f"repository/default/{team}/*" in why
    push = cli.json("policy", "simulate", "-u", username, "-a", "cr:PushRepository", "-r", resource)
    assert push["allowed"] is False
    assert (
        "DENIED"
        in cli.run(
            "policy", "simulate", "-u", username, "-a", "cr:PushRepository", "-r", resource
        ).stdout
    )

    # The key is deleted for good.
    assert cli.json("access-key", "delete", key_id, "--user", username) == {"deleted": key_id}
    ak.run("repo", "get", f"{team}/app", expect=1)


def test_temporary_credentials(registry: DockyardServer, cli: Cli, tmp_path: Path) -> None:
    document = {
        "Version": "1",
        "Statement": [{"Effect": "Allow", "Action": "cr:GetAuthorizationToken", "Resource": "*"}],
    }
    policy, role = unique("tok"), unique("tokens")
    cli.run("policy", "create", policy, "--document", "-", input=json.dumps(document))
    cli.run("role", "create", role, "--policy", policy)
    username = unique("tmp")
    new_user(cli, username, "--role", role)
    dev = signed_in(registry, tmp_path / "dev", username)
    key = dev.json("access-key", "create")
    ak = Cli(tmp_path / "ak")
    ak.run(
        "login",
        registry.url,
        "--access-key-id",
        key["accessKeyId"],
        "--password-stdin",
        input=key["accessKeySecret"] + "\n",
    )
    # STS credentials from the access key; a login with them (security token included).
    sts = ak.json("sts", "--duration-seconds", "900")
    assert sts["accessKeyId"].startswith("STS.") and sts["securityToken"]
    table = ak.run("sts").stdout
    assert "Security token" in table
    temp = Cli(tmp_path / "sts")
    temp.run(
        "login",
        registry.url,
        "--access-key-id",
        sts["accessKeyId"],
        "--access-key-secret",
        sts["accessKeySecret"],
        "--security-token",
        sts["securityToken"],
    )
    stored = json.loads(temp.credentials.read_text())["servers"][registry.url]
    assert stored["securityToken"] == sts["securityToken"]
    # GetAuthorizationToken with them: no longer than the STS credentials.
    token = temp.json("auth-token")
    assert token["tempUsername"] and token["authorizationToken"]
    assert when(token["expiresAt"]) <= when(sts["expiration"])
    shown = temp.run("auth-token").stdout
    assert f"--password-stdin {registry.host}" in shown and "docker login" in shown
    # Without the security token the STS id is refused.
    bad = Cli(tmp_path / "bad")
    refused = bad.run(
        "login",
        registry.url,
        "--access-key-id",
        sts["accessKeyId"],
        "--access-key-secret",
        sts["accessKeySecret"],
        expect=1,
    )
    assert refused.stderr.startswith("error: ") and not bad.credentials.exists()


def test_organizations_groups_roles_policies(cli: Cli, tmp_path: Path) -> None:
    parent = cli.json("org", "create", unique("org"))
    child = cli.json("org", "create", unique("sub"), "--parent", parent["id"])
    assert child["parentId"] == parent["id"]
    assert cli.json("org", "get", child["name"])["id"] == child["id"]  # by name too
    renamed = cli.json("org", "update", child["id"], "--description", "sub team")
    assert renamed["description"] == "sub team"
    busy = cli.run("org", "delete", parent["id"], expect=1)
    assert busy.stderr.startswith("error: ")
    cli.run("org", "update", parent["id"], expect=2)  # nothing to update

    group = unique("grp")
    cli.json("group", "create", group, "--org", child["id"], "--description", "x")
    assert group in {g["name"] for g in cli.json("group", "list")}
    assert cli.json("group", "update", group, "--description", "y")["description"] == "y"
    username = unique("member")
    new_user(cli, username, "--org", child["name"])
    cli.run("group", "add-member", group, username)
    cli.run("group", "remove-member", group, username)
    assert username not in str(cli.json("group", "get", group).get("members"))

    document = pull_policy("somewhere")
    policy = unique("pol")
    created = json.loads(
        cli.run(
            "policy", "create", policy, "--document", "-", "--json", input=json.dumps(document)
        ).stdout
    )
    assert created["document"] == document
    document["Statement"][0]["Action"] = "cr:PullRepository"
    path = tmp_path / "p.json"
    path.write_text(json.dumps(document))
    updated = cli.json("policy", "update", policy, "--document", str(path))
    assert updated["document"]["Statement"][0]["Action"] == "cr:PullRepository"
    assert policy in {p["name"] for p in cli.json("policy", "list")}
    path.write_text("{not json")
    bad = cli.run("policy", "update", policy, "--document", str(path), expect=2)
    assert "not JSON" in bad.stderr
    path.write_text(json.dumps({"Version": "2", "Statement": []}))
    invalid = cli.run("policy", "update", policy, "--document", str(path), expect=1)
    assert "Version" in invalid.stderr  # the API's message

    role = unique("role")
    cli.json("role", "create", role, "--description", "r")
    cli.run("role", "attach-policy", role, policy)
    assert policy in str(cli.json("role", "get", role)["policies"])
    assert policy in cli.run("role", "get", role).stdout
    cli.run("role", "detach-policy", role, policy)
    assert policy not in str(cli.json("role", "get", role)["policies"])
    assert cli.json("role", "update", role, "--description", "s")["description"] == "s"
    assert role in {r["name"] for r in cli.json("role", "list")}
    cli.run("group", "grant-role", group, role)
    cli.run("group", "revoke-role", group, role)
    cli.run("user", "grant-role", username, role)
    assert role in str(cli.json("user", "get", username).get("roles"))
    cli.run("user", "revoke-role", username, role)

    assert cli.json("role", "delete", role) == {"deleted": role}
    assert cli.json("policy", "delete", policy) == {"deleted": policy}
    assert cli.json("group", "delete", group) == {"deleted": group}
    cli.run("group", "get", group, expect=1)
    assert cli.json("user", "delete", username) == {"deleted": username}
    cli.run("user", "get", username, expect=1)
    assert cli.json("org", "delete", child["id"]) == {"deleted": child["id"]}
    cli.run("org", "delete", parent["name"])


def test_resource_sets(cli: Cli) -> None:
    ns = unique("rs")
    cli.json("namespace", "create", ns)
    cli.json("repo", "create", f"{ns}/app")
    group = unique("rsg")
    cli.json("group", "create", group)
    name = unique("set")
    created = cli.json("resource-set", "create", name, "--description", "team things")
    assert created["name"] == name
    cli.run("resource-set", "link-group", name, group)
    cli.run("resource-set", "add-namespace", name, ns)
    cli.run("resource-set", "add-repository", name, f"{ns}/app")
    got = cli.json("resource-set", "get", name)
    assert group in str(got.get("groups")) and ns in str(got.get("namespaces"))
    assert f"{ns}" in str(got.get("repositories"))
    table = cli.run("resource-set", "get", name).stdout
    assert group in table and ns in table
    assert name in {s["name"] for s in cli.json("resource-set", "list")}
    cli.run("resource-set", "add-repository", name, "no-slash", expect=2)
    cli.run("resource-set", "remove-repository", name, f"{ns}/app")
    cli.run("resource-set", "remove-namespace", name, ns)
    cli.run("resource-set", "unlink-group", name, group)
    assert cli.json("resource-set", "delete", name) == {"deleted": name}
    missing = cli.run("resource-set", "get", name, expect=1)
    assert name in missing.stderr


def test_logon_policies(cli: Cli) -> None:
    name = unique("office")
    created = cli.json(
        "logon-policy",
        "create",
        name,
        "--window",
        "09:00-18:00",
        "--window",
        "20:00-21:30",
        "--cidr",
        "10.0.0.0/8",
    )
    assert created["timeWindows"] == [
        {"start": "09:00", "end": "18:00"},
        {"start": "20:00", "end": "21:30"},
    ]
    assert created["cidrs"] == ["10.0.0.0/8"]
    table = cli.run("logon-policy", "get", name).stdout
    assert "09:00-18:00" in table and "10.0.0.0/8" in table
    cli.run("logon-policy", "create", unique("bad"), "--window", "9-18", expect=2)
    cli.run("logon-policy", "create", unique("bad"), "--cidr", "10.0.0.300/8", expect=2)
    updated = cli.json("logon-policy", "update", name, "--any-time", "--cidr", "192.0.2.0/24")
    assert updated["timeWindows"] == [] and updated["cidrs"] == ["192.0.2.0/24"]
    assert "any time" in cli.run("logon-policy", "list").stdout
    username = unique("lp")
    new_user(cli, username)
    assigned = cli.json("user", "update", username, "--logon-policy", name)
    assert name in json.dumps(assigned)
    cli.json("user", "update", username, "--logon-policy", "")
    assert cli.json("logon-policy", "delete", name) == {"deleted": name}
    cli.run("logon-policy", "get", name, expect=1)


def test_user_administration(registry: DockyardServer, cli: Cli, tmp_path: Path) -> None:
    username = unique("adm")
    new_user(cli, username, "--display-name", "Someone")
    assert username in {u["username"] for u in cli.json("user", "list")}
    assert username in cli.run("user", "list").stdout
    updated = cli.json("user", "update", username, "--display-name", "Else", "--no-notify-email")
    assert updated["displayName"] == "Else" and updated["notifyEmail"] is False
    cli.run("user", "update", username, expect=2)

    # Own console password: changed through the CLI, the stored login keeps working.
    dev = signed_in(registry, tmp_path / "dev", username)
    changed = dev.run(
        "password", "change", "--password-stdin", input=f"{NEW_PASSWORD}\nThird-pass-2024\n"
    )
    assert "changed" in changed.stdout
    assert dev.json("user", "get", username)["username"] == username
    wrong = dev.run(
        "password", "change", "--password-stdin", input="nope-nope-1\nX-pass-20245\n", expect=1
    )
    assert wrong.stderr.startswith("error: ") and "oldPassword" in wrong.stderr

    # An administrator's reset: the user must change it again at the next sign-in.
    cli.run("user", "reset-password", username, "--password-stdin", input=INITIAL_PASSWORD + "\n")
    again = Cli(tmp_path / "again")
    again.run(
        "login", registry.url, "-u", username, "--password-stdin", input=INITIAL_PASSWORD + "\n",
        expect=1,
    )  # fmt: skip
    signed_in(registry, tmp_path / "again", username)

    # MFA: without a terminal, the login shows the secret and asks for --mfa-code.
    assert cli.json("user", "mfa", "enable", username)["mfaRequired"] is True
    mfa = Cli(tmp_path / "mfa")
    bind = mfa.run(
        "login", registry.url, "-u", username, "--password-stdin", input=NEW_PASSWORD + "\n",
        expect=1,
    )  # fmt: skip
    assert "otpauth://" in bind.stderr and "--mfa-code" in bind.stderr
    secret = bind.stderr.split("Secret: ")[1].split()[0]
    code = totp(secret)
    bound = mfa.run(
        "login", registry.url, "-u", username, "--password-stdin", "--mfa-code", code,
        input=NEW_PASSWORD + "\n", expect=1,
    )  # fmt: skip
    assert "MFA device bound" in bound.stderr and "--mfa-code" in bound.stderr
    code_needed = mfa.run(
        "login", registry.url, "-u", username, "--password-stdin", input=NEW_PASSWORD + "\n",
        expect=1,
    )  # fmt: skip
    assert "--mfa-code" in code_needed.stderr
    # The bind used this step's code: the next step's is accepted (one step of drift).
    mfa.run(
        "login", registry.url, "-u", username, "--password-stdin", "--mfa-code",
        totp(secret, ahead=30), input=NEW_PASSWORD + "\n",
    )  # fmt: skip
    assert mfa.json("user", "get", username)["username"] == username
    cli.json("user", "mfa", "disable", username)
    mfa.run("login", registry.url, "-u", username, "--password-stdin", input=NEW_PASSWORD + "\n")

    assert cli.json("user", "delete", username) == {"deleted": username}


def totp(secret: str, ahead: int = 0) -> str:
    return str(pyotp.TOTP(secret).at(time.time() + ahead))


def jwt_claims(token: str) -> dict[str, Any]:
    payload = token.split(".")[1]
    claims: dict[str, Any] = json.loads(
        base64.urlsafe_b64decode(payload + "=" * (-len(payload) % 4))
    )
    return claims


def when(value: str) -> datetime:
    return datetime.fromisoformat(value.replace("Z", "+00:00"))


Answer = str | Callable[[str], str]


def on_terminal(
    cli: Cli, args: list[str], script: list[tuple[str, Answer]], timeout: float = 90
) -> tuple[int, str]:
    """Run the installed command on a pseudo-terminal; answer each prompt of ``script``
    (text to wait for, then the answer or a function of the output so far).

    Wait for the prompt's trailing space: for hidden input, click prints the prompt, then
    getpass turns echo off (discarding input typed before) and prints that space.
    """
    command = str(installed_command())
    pid, fd = pty.fork()
    if pid == 0:  # the child: the pty is its controlling terminal
        os.execve(command, [command, *args], cli.env())  # noqa: S606 - the installed CLI
    output, seen, pending = "", 0, list(script)
    deadline = time.monotonic() + timeout
    try:
        while time.monotonic() < deadline:
            ready, _, _ = select.select([fd], [], [], 0.5)
            if not ready:
                continue
            try:
                chunk = os.read(fd, 65536)
            except OSError:  # EIO: the child closed the terminal
                break
            if not chunk:
                break
            output += chunk.decode(errors="replace")
            while pending and pending[0][0] in output[seen:]:
                seen = output.index(pending[0][0], seen) + len(pending[0][0])
                answer = pending.pop(0)[1]
                text = answer(output) if callable(answer) else answer
                os.write(fd, (text + "\n").encode())
        else:
            os.kill(pid, signal.SIGKILL)
            raise AssertionError(f"timed out on a terminal:\n{output}")
    finally:
        _, status = os.waitpid(pid, 0)
        os.close(fd)
    assert not pending, f"prompts never shown: {pending}\n{output}"
    return os.waitstatus_to_exitcode(status), output


def test_interactive_login_changes_password_and_binds_mfa(
    registry: DockyardServer, cli: Cli, tmp_path: Path
) -> None:
    username = unique("tty")
    new_user(cli, username)
    cli.json("user", "mfa", "enable", username)

    def secret(output: str) -> str:
        return output.split("Secret: ")[1].split()[0]

    user = Cli(tmp_path / "tty")
    code, output = on_terminal(
        user,
        ["login", registry.url, "-u", username],
        [
            ("Password: ", INITIAL_PASSWORD),
            ("New password: ", NEW_PASSWORD),
            ("Repeat for confirmation: ", NEW_PASSWORD),
            ("Code shown by the app: ", lambda out: totp(secret(out))),
            ("MFA code: ", lambda out: totp(secret(out), ahead=30)),
        ],
    )
    assert code == 0, output
    assert "otpauth://totp/" in output and "MFA device bound" in output
    assert f"Logged in to {registry.url} as {username}" in output
    assert NEW_PASSWORD not in output and INITIAL_PASSWORD not in output  # hidden input
    got = user.json("user", "get", username)
    assert got["mfaBound"] is True and got["mustChangePassword"] is False

    # A registry password is typed twice, hidden.
    code, output = on_terminal(
        user,
        ["registry-password", "set"],
        [
            ("Registry password: ", REGISTRY_PASSWORD),
            ("Repeat for confirmation: ", REGISTRY_PASSWORD),
        ],
    )
    assert code == 0 and "Registry password of" in output, output
    assert REGISTRY_PASSWORD not in output
