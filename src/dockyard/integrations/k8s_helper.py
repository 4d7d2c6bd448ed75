"""``dockyard k8s-credential-helper``: the credential-helper controller of a cluster.

Pods pull private Dockyard images without an ``imagePullSecret`` in their templates: the
helper keeps one ``kubernetes.io/dockerconfigjson`` Secret per watched namespace filled
with Dockyard temporary credentials (GetAuthorizationToken) for the configured registries,
adds it to the ``imagePullSecrets`` of the listed service accounts (those created later
too), and renews the credentials before they expire. It is configured by the
``acr-configuration`` ConfigMap in ``kube-system`` with the guide's keys and reads a change
of it without a restart; it signs in to Dockyard with an access key kept in a Secret in
``kube-system``.

It is level-triggered: informers (list, then watch from the list's ``resourceVersion``,
relisting on 410 Gone) keep the namespaces, service accounts, its own Secrets and the
ConfigMap in memory, and one reconcile pass after each change (or at renewal time) writes
only what differs. A service account's list is patched as a JSON merge patch carrying the
whole list (the others' entries kept) and the ``resourceVersion`` it was read at, so a
concurrent edit is a 409 and is retried from the newer version, never overwritten.
"""

from __future__ import annotations

import asyncio
import base64
import hashlib
import json
import logging
from collections.abc import Awaitable, Callable, Iterable, Mapping
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import httpx2
import structlog
import yaml
from lightkube import ALL_NS, ApiError, AsyncClient, KubeConfig
from lightkube.config.kubeconfig import SingleConfig
from lightkube.models.meta_v1 import ObjectMeta
from lightkube.resources.core_v1 import ConfigMap, Namespace, Secret, ServiceAccount
from lightkube.types import OnErrorAction, OnErrorResult, PatchType

from dockyard.cli.client import ApiClient, CliError, normalize_server
from dockyard.cli.client import ApiError as DockyardApiError
from dockyard.integrations.temporary_logins import (
    AccessKey,
    CredentialError,
    NotADockyard,
    TemporaryLogin,
    fetch_login,
    parse_duration,
)

CONFIGMAP = "acr-configuration"
SYSTEM_NAMESPACE = "kube-system"
DEFAULT_ACCESS_KEY_SECRET = "dockyard-access-key"  # noqa: S105 - a Secret's name
DEFAULT_PULL_SECRET = "dockyard-pull-credentials"  # noqa: S105 - a Secret's name
DEFAULT_INSTANCE = "default"
API_VERSION = "2018-12-01"
DOCKERCONFIGJSON = "kubernetes.io/dockerconfigjson"
MANAGED_BY = {"app.kubernetes.io/managed-by": "dockyard-credential-helper"}
KNOWN_KEYS = frozenset(
    {
        "service-account",
        "watch-namespace",
        "acr-registry-info",
        "expiring-threshold",
        "acr-api-version",
        "notify-email",
    }
)
ENTRY_KEYS = frozenset({"instanceId", "regionId", "domains"})
#: The shortest wait between two renewals, whatever the threshold says (a threshold longer
#: than the credentials' lifetime would otherwise renew in a loop).
MIN_RENEWAL_INTERVAL = timedelta(seconds=5)
#: After a failed renewal (Dockyard unreachable), the next attempt.
RETRY_AFTER = timedelta(seconds=15)

log = structlog.get_logger("dockyard.k8s-credential-helper")


class ConfigError(Exception):
    """A configuration the helper cannot run with: it exits non-zero, saying why."""

    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.message = message


# --- the acr-configuration ConfigMap ------------------------------------------------------


@dataclass(frozen=True, slots=True)
class RegistryInfo:
    """One entry of ``acr-registry-info``."""

    instance_id: str
    domains: tuple[str, ...] = ()
    region_id: str | None = None


@dataclass(frozen=True, slots=True)
class HelperConfig:
    #: ``None``: every service account (``*``).
    service_accounts: frozenset[str] | None = frozenset({"default"})
    #: ``None``: every namespace (``all``).
    namespaces: frozenset[str] | None = frozenset({"default"})
    registries: tuple[RegistryInfo, ...] = ()
    threshold: timedelta = timedelta(minutes=15)
    api_version: str = API_VERSION

    def watches(self, namespace: str) -> bool:
        return self.namespaces is None or namespace in self.namespaces

    def serves(self, account: str) -> bool:
        return self.service_accounts is None or account in self.service_accounts


def _name_list(key: str, text: str, everything: str) -> frozenset[str] | None:
    names = [part.strip() for part in text.split(",") if part.strip()]
    if not names:
        raise ConfigError(f"{key}: empty (leave the key out for its default)")
    return None if everything in names else frozenset(names)


def _domains(text: Any, where: str) -> tuple[str, ...]:
    if text is None:
        return ()
    parts = text if isinstance(text, list) else str(text).split(",")
    domains = tuple(str(part).strip().lower() for part in parts if str(part).strip())
    for domain in domains:
        if "/" in domain or " " in domain:
            raise ConfigError(f"{where}: {domain!r} is not a registry host[:port]")
    return domains


def _registry_info(text: str) -> tuple[RegistryInfo, ...]:
    try:
        entries = yaml.safe_load(text) if text.strip() else []
    except yaml.YAMLError as exc:
        raise ConfigError(f"acr-registry-info: not YAML: {exc}") from exc
    if entries is None:
        entries = []
    if not isinstance(entries, list):
        raise ConfigError("acr-registry-info: must be a list of {instanceId, domains}")
    found = []
    for number, entry in enumerate(entries, 1):
        where = f"acr-registry-info entry {number}"
        if not isinstance(entry, dict):
            raise ConfigError(f"{where}: must be a mapping with instanceId (and domains)")
        unknown = sorted(set(entry) - ENTRY_KEYS)
        if unknown:
            raise ConfigError(f"{where}: unknown key(s) {', '.join(unknown)}")
        if "instanceId" not in entry or not isinstance(entry["instanceId"], str | None):
            raise ConfigError(f'{where}: instanceId is required ("" for the Standard instance)')
        region = entry.get("regionId")
        if region is not None and (not isinstance(region, str) or not region.strip()):
            raise ConfigError(f"{where}: regionId must be a region id")
        found.append(
            RegistryInfo(
                (entry["instanceId"] or "").strip() or DEFAULT_INSTANCE,
                _domains(entry.get("domains"), where),
                region.strip() if region else None,
            )
        )
    return tuple(found)


def parse_config(data: Mapping[str, str] | None) -> tuple[HelperConfig, list[str]]:
    """The ConfigMap's ``data`` (``None``: no ConfigMap, every default) and the keys it has
    that the helper does not know (a warning, not an error: a newer guide may add some)."""
    data = data or {}
    try:
        threshold = parse_duration(data.get("expiring-threshold", "15m"))
    except CredentialError as exc:
        raise ConfigError(f"expiring-threshold: {exc.message}") from exc
    if threshold <= timedelta(0):
        raise ConfigError("expiring-threshold: must be longer than 0s")
    api_version = data.get("acr-api-version", API_VERSION).strip()
    if api_version != API_VERSION:
        raise ConfigError(f"acr-api-version: {api_version!r} is not known (use {API_VERSION})")
    config = HelperConfig(
        service_accounts=_name_list("service-account", data.get("service-account", "default"), "*"),
        namespaces=_name_list("watch-namespace", data.get("watch-namespace", "default"), "all"),
        registries=_registry_info(data.get("acr-registry-info", "")),
        threshold=threshold,
        api_version=api_version,
    )
    return config, sorted(set(data) - KNOWN_KEYS)


# --- Dockyard: which hosts, and their credentials -----------------------------------------


@dataclass(frozen=True, slots=True)
class Dockyard:
    """Where the helper signs in: the server's API and the helper's own region."""

    server: str
    region: str

    @property
    def host(self) -> str:
        """The server's own ``host[:port]``: the default instance answers there too."""
        return self.server.split("://", 1)[1].split("/", 1)[0].lower()

    def registry_hosts(self, config: HelperConfig, key: AccessKey) -> tuple[str, ...]:
        """The hosts to write credentials for, from ``acr-registry-info`` and the instances
        Dockyard knows (an empty list: every instance of this region)."""
        with ApiClient.for_credential(self.server, key.credential(self.server)) as api:
            if not config.registries:
                instances = [
                    i for i in self._instances(api, None) if i.get("region") == self.region
                ]
                if not instances:
                    log.warning("no instance in this region", region=self.region)
                return _unique(h for i in instances for h in self._domains_of(i))
            hosts: list[str] = []
            for entry in config.registries:
                hosts += self._hosts_of(api, entry)
            return _unique(hosts)

    def _hosts_of(self, api: ApiClient, entry: RegistryInfo) -> list[str]:
        found = self._instances(api, entry.instance_id)
        if not found:
            if entry.domains:  # the key may not read instances: its domains are trusted
                return list(entry.domains)
            raise ConfigError(
                f"acr-registry-info: cannot read instance {entry.instance_id!r}; give its domains"
            )
        instance = found[0]
        wanted_region = entry.region_id or self.region
        if instance.get("region") != wanted_region:
            if entry.region_id is not None:
                raise ConfigError(
                    f"acr-registry-info: instance {entry.instance_id} is in region "
                    f"{instance.get('region')}, not {entry.region_id}"
                )
            log.warning(
                "instance skipped: another region (give its regionId to serve it)",
                instance=entry.instance_id,
                instance_region=instance.get("region"),
                region=self.region,
            )
            return []
        return list(entry.domains or self._domains_of(instance))

    def _instances(self, api: ApiClient, instance_id: str | None) -> list[dict[str, Any]]:
        try:
            if instance_id is None:
                return list(api.iter_all("/instances"))
            return [api.call("GET", f"/instances/{instance_id}")]
        except DockyardApiError as exc:
            if exc.status == 404:
                raise ConfigError(
                    f"acr-registry-info: Dockyard has no instance {instance_id!r}"
                ) from exc
            if exc.status == 403 and instance_id is not None:
                return []
            raise ConfigError(
                f"cannot read the instances of {self.server} with this access key "
                f"({exc.status} {exc.message}): list the instances with their domains "
                "in acr-registry-info"
            ) from exc

    def _domains_of(self, instance: dict[str, Any]) -> list[str]:
        domains = [
            str(e["domain"]).lower() for e in instance.get("endpoints", []) if e.get("enabled")
        ]
        if instance.get("id") == DEFAULT_INSTANCE:
            domains.append(self.host)  # hosts no endpoint claims reach the default instance
        return domains


def _unique(hosts: Iterable[str]) -> tuple[str, ...]:
    return tuple(dict.fromkeys(hosts))


def dockerconfigjson(hosts: Iterable[str], login: TemporaryLogin) -> bytes:
    """The ``.dockerconfigjson`` of a pull Secret: one ``auths`` entry per host."""
    auth = base64.b64encode(f"{login.username}:{login.password}".encode()).decode()
    entry = {"username": login.username, "password": login.password, "auth": auth}
    return json.dumps({"auths": {host: entry for host in hosts}}, sort_keys=True).encode()


# --- the controller ------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Options:
    dockyard: Dockyard
    access_key_secret: str = DEFAULT_ACCESS_KEY_SECRET
    pull_secret: str = DEFAULT_PULL_SECRET
    kubeconfig: Path | None = None


@dataclass
class State:
    """What the informers have seen: the cluster as far as the helper cares."""

    namespaces: set[str] = field(default_factory=set)
    #: (namespace, name) -> (resourceVersion, imagePullSecrets as the object has them)
    accounts: dict[tuple[str, str], tuple[str, list[dict[str, Any]]]] = field(default_factory=dict)
    #: namespace -> digest of the ``.dockerconfigjson`` its pull Secret holds
    secrets: dict[str, str] = field(default_factory=dict)


def _digest(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def _secret_digest(secret: Secret) -> str:
    raw = (secret.data or {}).get(".dockerconfigjson", "")
    try:
        return _digest(base64.b64decode(raw))
    except ValueError:
        return ""


class Controller:
    def __init__(self, client: AsyncClient, options: Options, config: HelperConfig) -> None:
        self.client = client
        self.options = options
        self.config = config
        self.state = State()
        self.changed = asyncio.Event()
        self.payload: bytes | None = None
        self.renew_at = datetime.now(UTC)
        self.configmap_version: str | None = None

    # ---- credentials ----
    async def access_key(self) -> AccessKey:
        """Read at every renewal, so a rotated key is picked up without a restart."""
        name = self.options.access_key_secret
        try:
            secret = await self.client.get(Secret, name, namespace=SYSTEM_NAMESPACE)
        except ApiError as exc:
            raise ConfigError(
                f"cannot read the access key Secret {SYSTEM_NAMESPACE}/{name}: "
                f"{exc.status.message} (create it with accessKeyId and accessKeySecret)"
            ) from exc
        try:
            fields = {
                k: base64.b64decode(v).decode().strip() for k, v in (secret.data or {}).items()
            }
        except ValueError as exc:
            raise ConfigError(
                f"the Secret {SYSTEM_NAMESPACE}/{name} is not readable: {exc}"
            ) from exc
        key_id, key_secret = fields.get("accessKeyId"), fields.get("accessKeySecret")
        if not key_id or not key_secret:
            raise ConfigError(
                f"the Secret {SYSTEM_NAMESPACE}/{name} needs the keys accessKeyId and "
                "accessKeySecret"
            )
        return AccessKey(key_id, key_secret, fields.get("securityToken") or None)

    async def renew(self) -> None:
        """New temporary credentials for the configured hosts; the next renewal is set
        ``expiring-threshold`` before they expire."""
        key = await self.access_key()
        dockyard = self.options.dockyard
        try:  # first: a refused key is said as such, not as unreadable instances
            login = await asyncio.to_thread(fetch_login, dockyard.server, key)
        except NotADockyard as exc:
            raise ConfigError(f"{dockyard.server} did not issue credentials: {exc}") from exc
        except CredentialError as exc:
            raise ConfigError(exc.message) from exc
        hosts = await asyncio.to_thread(dockyard.registry_hosts, self.config, key)
        now = datetime.now(UTC)
        renew_at = login.expires_at - self.config.threshold
        if renew_at - now < MIN_RENEWAL_INTERVAL:
            log.warning(
                "expiring-threshold is not shorter than the credentials' lifetime",
                threshold=str(self.config.threshold),
                expires_at=login.expires_at.isoformat(),
            )
            renew_at = now + MIN_RENEWAL_INTERVAL
        self.payload = dockerconfigjson(hosts, login)
        self.renew_at = renew_at
        log.info(
            "temporary credentials issued",
            registries=list(hosts),
            expires_at=login.expires_at.isoformat(),
            renew_at=renew_at.isoformat(),
        )
        self.changed.set()

    # ---- the ConfigMap ----
    async def read_config(self) -> HelperConfig:
        try:
            found = await self.client.get(ConfigMap, CONFIGMAP, namespace=SYSTEM_NAMESPACE)
        except ApiError as exc:
            if exc.status.code != 404:
                raise
            log.info("no ConfigMap: every default applies", configmap=CONFIGMAP)
            return parse_config(None)[0]
        return self.parsed(found)

    def parsed(self, configmap: ConfigMap | None) -> HelperConfig:
        config, unknown = parse_config(configmap.data if configmap is not None else None)
        if unknown:
            log.warning("unknown keys in the ConfigMap ignored", keys=unknown)
        return config

    async def config_changed(self, configmap: ConfigMap | None) -> None:
        version = configmap.metadata.resourceVersion if configmap and configmap.metadata else None
        if version is not None and version == self.configmap_version:
            return
        self.configmap_version = version
        try:
            config = self.parsed(configmap)
        except ConfigError as exc:  # a typo must not stop the renewals pulls depend on
            log.error("the changed ConfigMap is invalid: keeping the last one", error=exc.message)
            return
        if config == self.config:
            return
        log.info(
            "configuration changed",
            watch_namespace=_shown(config.namespaces, "all"),
            service_account=_shown(config.service_accounts, "*"),
            registries=[r.instance_id for r in config.registries],
        )
        previous, self.config = self.config, config
        try:
            await self.renew()
        except ConfigError as exc:
            self.config = previous
            log.error("cannot apply the changed ConfigMap: keeping the last one", error=exc.message)

    # ---- informers ----
    async def inform(
        self,
        resource: Any,
        on_list: Callable[[list[Any]], Awaitable[None]],
        on_event: Callable[[str, Any], Awaitable[None]],
        **selectors: Any,
    ) -> None:
        """List, then watch from the list's ``resourceVersion``; on 410 Gone list again."""
        kind = resource.__name__
        while True:
            try:
                listing = self.client.list(resource, **selectors)
                items = [item async for item in listing]
                await on_list(items)
                version = listing.resourceVersion
                async for event_type, obj in self.client.watch(
                    resource, resource_version=version, on_error=_watch_errors, **selectors
                ):
                    if event_type != "BOOKMARK":
                        await on_event(event_type, obj)
            except ApiError as exc:
                if exc.status.code != 410:
                    raise
                log.info("watch expired (410 Gone): relisting", kind=kind)
            except httpx2.TransportError as exc:
                log.warning("API server unreachable: relisting", kind=kind, error=str(exc))
                await asyncio.sleep(RETRY_AFTER.total_seconds() / 5)

    async def namespaces_listed(self, items: list[Namespace]) -> None:
        self.state.namespaces = {n.metadata.name for n in items if n.metadata and n.metadata.name}
        self.changed.set()

    async def namespace_event(self, event_type: str, obj: Namespace) -> None:
        name = obj.metadata.name if obj.metadata else None
        if name is None:
            return
        if event_type == "DELETED":
            self.state.namespaces.discard(name)
            self.state.secrets.pop(name, None)
        else:
            self.state.namespaces.add(name)
        self.changed.set()

    async def accounts_listed(self, items: list[ServiceAccount]) -> None:
        self.state.accounts = dict(_account_entry(a) for a in items)
        self.changed.set()

    async def account_event(self, event_type: str, obj: ServiceAccount) -> None:
        key, value = _account_entry(obj)
        if event_type == "DELETED":
            self.state.accounts.pop(key, None)
        else:
            self.state.accounts[key] = value
            self.changed.set()

    async def secrets_listed(self, items: list[Secret]) -> None:
        self.state.secrets = {
            s.metadata.namespace: _secret_digest(s)
            for s in items
            if s.metadata and s.metadata.namespace
        }
        self.changed.set()

    async def secret_event(self, event_type: str, obj: Secret) -> None:
        namespace = obj.metadata.namespace if obj.metadata else None
        if namespace is None:
            return
        if event_type == "DELETED":
            self.state.secrets.pop(namespace, None)
            log.info("pull Secret deleted: writing it again", namespace=namespace)
        else:
            self.state.secrets[namespace] = _secret_digest(obj)
        self.changed.set()

    async def configmaps_listed(self, items: list[ConfigMap]) -> None:
        await self.config_changed(items[0] if items else None)

    async def configmap_event(self, event_type: str, obj: ConfigMap) -> None:
        await self.config_changed(None if event_type == "DELETED" else obj)

    # ---- reconciling ----
    async def reconcile(self) -> None:
        """Write what differs: each watched namespace's Secret, then each listed account's
        entry (not where the Secret could not be written: it would name someone else's)."""
        if self.payload is None:
            return
        digest = _digest(self.payload)
        watched = {ns for ns in self.state.namespaces if self.config.watches(ns)}
        written = set()
        for namespace in sorted(watched):
            if self.state.secrets.get(namespace) == digest or await self.write_secret(
                namespace, digest
            ):
                written.add(namespace)
        for (namespace, name), (version, entries) in sorted(self.state.accounts.items()):
            if namespace not in written or not self.config.serves(name):
                continue
            if not any(e.get("name") == self.options.pull_secret for e in entries):
                await self.attach(namespace, name, version, entries)

    async def write_secret(self, namespace: str, digest: str) -> bool:
        assert self.payload is not None
        data = {".dockerconfigjson": base64.b64encode(self.payload).decode()}
        name = self.options.pull_secret
        try:
            if namespace in self.state.secrets:
                patch = {"metadata": {"labels": MANAGED_BY}, "data": data}
                await self.client.patch(
                    Secret, name, patch, namespace=namespace, patch_type=PatchType.MERGE
                )
                action = "pull Secret renewed"
            else:
                secret = Secret(
                    metadata=ObjectMeta(name=name, namespace=namespace, labels=MANAGED_BY),
                    type=DOCKERCONFIGJSON,
                    data=data,
                )
                await self.client.create(secret)
                action = "pull Secret created"
        except ApiError as exc:
            if exc.status.code == 409:
                log.error(
                    "a Secret of that name exists and is not the helper's: left alone",
                    namespace=namespace,
                    secret=name,
                )
            else:
                log.error(
                    "cannot write the pull Secret", namespace=namespace, error=exc.status.message
                )
            return False  # retried on the next change or renewal
        self.state.secrets[namespace] = digest
        log.info(action, namespace=namespace, secret=name)
        return True

    async def attach(
        self, namespace: str, name: str, version: str, entries: list[dict[str, Any]]
    ) -> None:
        """Add the helper's entry, keeping the others (a merge patch replaces lists whole;
        the resourceVersion makes a concurrent edit a 409, retried on its watch event)."""
        patch = {
            "metadata": {"resourceVersion": version},
            "imagePullSecrets": [*entries, {"name": self.options.pull_secret}],
        }
        try:
            await self.client.patch(
                ServiceAccount, name, patch, namespace=namespace, patch_type=PatchType.MERGE
            )
        except ApiError as exc:
            if exc.status.code in (404, 409):
                log.info("service account changed meanwhile", namespace=namespace, account=name)
                return
            log.error(
                "cannot patch the service account",
                namespace=namespace,
                account=name,
                error=exc.status.message,
            )
            return
        log.info("pull Secret attached", namespace=namespace, account=name)

    async def run(self) -> None:
        await self.renew()
        informers = [
            self.inform(Namespace, self.namespaces_listed, self.namespace_event),
            self.inform(ServiceAccount, self.accounts_listed, self.account_event, namespace=ALL_NS),
            self.inform(
                Secret,
                self.secrets_listed,
                self.secret_event,
                namespace=ALL_NS,
                labels=MANAGED_BY,
                fields={"metadata.name": self.options.pull_secret},
            ),
            self.inform(
                ConfigMap,
                self.configmaps_listed,
                self.configmap_event,
                namespace=SYSTEM_NAMESPACE,
                fields={"metadata.name": CONFIGMAP},
            ),
        ]
        async with asyncio.TaskGroup() as group:
            for informer in informers:
                group.create_task(informer)
            group.create_task(self.reconcile_loop())

    async def reconcile_loop(self) -> None:
        while True:
            wait = (self.renew_at - datetime.now(UTC)).total_seconds()
            if wait <= 0:
                try:
                    await self.renew()
                except ConfigError as exc:
                    log.error("renewal failed: retrying", error=exc.message)
                    self.renew_at = datetime.now(UTC) + RETRY_AFTER
                continue
            try:
                await asyncio.wait_for(self.changed.wait(), timeout=wait)
            except TimeoutError:
                continue
            self.changed.clear()
            await self.reconcile()


def _watch_errors(exc: Exception, count: int) -> OnErrorResult:
    """410 Gone goes up to the informer (it relists); other errors retry from the same
    resourceVersion, slower each time."""
    if isinstance(exc, ApiError) and exc.status.code == 410:
        return OnErrorResult(OnErrorAction.RAISE)
    log.warning("watch failed: retrying", error=str(exc), attempt=count)
    return OnErrorResult(OnErrorAction.RETRY, sleep=min(30.0, float(count)))


def _account_entry(
    account: ServiceAccount,
) -> tuple[tuple[str, str], tuple[str, list[dict[str, Any]]]]:
    meta = account.metadata
    assert meta is not None and meta.namespace and meta.name
    entries = [{"name": ref.name} for ref in account.imagePullSecrets or []]
    return (meta.namespace, meta.name), (meta.resourceVersion or "", entries)


def _shown(names: frozenset[str] | None, everything: str) -> str:
    return everything if names is None else ",".join(sorted(names))


def kube_client(kubeconfig: Path | None) -> AsyncClient:
    """From ``--kubeconfig``, else in-cluster (the pod's service account) or ``KUBECONFIG``."""
    config: KubeConfig | SingleConfig
    try:
        config = KubeConfig.from_file(kubeconfig) if kubeconfig else KubeConfig.from_env()
    except Exception as exc:  # lightkube raises several kinds for a missing or bad config
        raise ConfigError(f"no Kubernetes configuration: {exc}") from exc
    return AsyncClient(config=config, field_manager="dockyard-credential-helper")


async def start(options: Options) -> None:
    """Check the configuration (a bad one ends the helper before it writes anything),
    then run until stopped."""
    for chatty in ("httpx", "httpx2"):  # a line per request, watches included
        logging.getLogger(chatty).setLevel(logging.WARNING)
    client = kube_client(options.kubeconfig)
    controller = Controller(client, options, HelperConfig())
    controller.config = await controller.read_config()
    log.info(
        "starting",
        server=options.dockyard.server,
        region=options.dockyard.region,
        watch_namespace=_shown(controller.config.namespaces, "all"),
        service_account=_shown(controller.config.service_accounts, "*"),
        pull_secret=options.pull_secret,
    )
    await controller.run()


def run(options: Options) -> int:
    """The process's exit status (it runs until stopped): 2 for a bad configuration, 1 when
    the Kubernetes API refuses the helper."""
    try:
        server = normalize_server(options.dockyard.server)
        asyncio.run(start(replace(options, dockyard=Dockyard(server, options.dockyard.region))))
    except (CliError, ConfigError, ApiError, httpx2.TransportError, ExceptionGroup) as exc:
        return max(_reported(leaf) for leaf in _leaves(exc))
    return 0


def _leaves(exc: BaseException) -> list[BaseException]:
    if isinstance(exc, BaseExceptionGroup):
        return [leaf for inner in exc.exceptions for leaf in _leaves(inner)]
    return [exc]


def _reported(exc: BaseException) -> int:
    if isinstance(exc, ConfigError | CliError):
        log.error("bad configuration: stopping", error=exc.message)
        return 2
    if isinstance(exc, ApiError):
        log.error("the Kubernetes API refused a request: stopping", error=exc.status.message)
        return 1
    if isinstance(exc, httpx2.TransportError):
        log.error("cannot reach the Kubernetes API: stopping", error=str(exc))
        return 1
    raise exc
