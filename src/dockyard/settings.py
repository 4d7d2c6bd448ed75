"""Typed settings: flags > environment (DOCKYARD_*) > TOML file > defaults.

Built once by the CLI and passed down; never imported as a global.
"""

from __future__ import annotations

import ipaddress
import json
import os
import tomllib
from pathlib import Path
from typing import Annotated, Any

from pydantic import Field, SecretStr, field_validator
from pydantic_settings import (
    BaseSettings,
    NoDecode,
    PydanticBaseSettingsSource,
    SettingsConfigDict,
)


def default_workers() -> int:
    """One worker process per two cores.

    A worker's HTTP I/O runs in Granian's own threads outside the GIL, and SQLite lets
    one writer in at a time, so a second Python process per core buys little: on two
    cores one worker kept every read target (manifest GET 4.1x the reference) at 1.9x
    its memory, where two added 10 % to small pushes for 110 MiB (docs/performance.md).
    """
    return max(1, (os.cpu_count() or 1) // 2)


class Settings(BaseSettings):
    model_config = SettingsConfigDict(
        env_prefix="DOCKYARD_", env_nested_delimiter="__", extra="forbid"
    )

    listen: str = "127.0.0.1:5000"
    data_dir: Path = Path("./data")
    workers: int = Field(default_factory=lambda: default_workers(), ge=1, le=64)
    tls_cert: Path | None = None
    tls_key: Path | None = None
    database_url: str | None = None
    admin_password: SecretStr | None = None
    #: Key-encryption key for secrets at rest; a file in the data dir is made when unset.
    secret_key: SecretStr | None = None
    insecure_no_auth: bool = False
    #: The ``service`` name in token challenges and JWT audience.
    service: str = "dockyard"
    token_ttl_seconds: int = Field(default=300, ge=30, le=3600)
    #: Failed registry authentications one source address may make per 60 seconds before
    #: its further attempts get 429 TOOMANYREQUESTS (0: no limit). Never locks an account.
    registry_auth_failures_per_minute: int = Field(default=10, ge=0, le=100_000)
    upload_ttl_hours: float = Field(default=24.0, gt=0)
    #: How often the deployment looks for expired uploads to reclaim (a periodic job).
    upload_purge_interval_seconds: float = Field(default=600.0, gt=0)
    #: Audit events older than this many days are deleted (an hourly periodic job).
    audit_retention_days: int = Field(default=180, ge=1, le=3650)
    public_url: str | None = None
    #: Peers whose X-Forwarded-For/-Proto/-Host headers are believed (CIDRs).
    #: ``NoDecode``: the environment gives a comma list (``10.0.0.0/8,192.168.1.0/24``),
    #: not JSON; ``_split_cidrs`` splits it.
    trusted_proxies: Annotated[list[str], NoDecode] = Field(default_factory=list)
    #: Sources allowed to scrape ``/metrics`` (CIDRs, a comma list like ``trusted_proxies``).
    metrics_allowed_cidrs: Annotated[list[str], NoDecode] = Field(default_factory=list)
    #: Bearer token that lets any source scrape ``/metrics``. With neither this nor
    #: ``metrics_allowed_cidrs`` set, only loopback clients may.
    metrics_token: SecretStr | None = None
    log_level: str = "info"
    #: Blob storage: unset = the filesystem under the data dir; ``s3://bucket/prefix`` = S3.
    storage: str | None = None
    s3_endpoint_url: str | None = None
    s3_region: str | None = None
    #: Unset: the AWS default chain (AWS_* environment, shared config, instance role).
    s3_access_key_id: str | None = None
    s3_secret_access_key: SecretStr | None = None
    #: Path-style URLs (``endpoint/bucket/key``), as most S3-compatible servers want.
    s3_path_style: bool = False
    #: Answer whole-blob GETs with a redirect to a presigned URL instead of streaming.
    s3_presign_redirects: bool = False
    s3_presign_ttl_seconds: int = Field(default=900, ge=1, le=7 * 24 * 3600)
    #: S3 multipart part size (MiB; at least S3's 5 MiB minimum).
    s3_part_size_mib: int = Field(default=8, ge=5, le=5120)
    #: Where upload parts are assembled on local disk; unset = the system temp dir.
    spool_dir: Path | None = None
    #: Seconds a blob download's pull lease lives unless its worker renews it (every third of
    #: it): how long the slots of a crashed worker keep counting.
    pull_lease_seconds: float = Field(default=30.0, ge=3, le=3600)
    #: TESTS ONLY: edition → concurrently-pulling-client limit replacing PRODUCT.md's number,
    #: e.g. ``DOCKYARD_TEST_PULL_CLIENT_LIMITS='{"Standard": 2}'``.
    test_pull_client_limits: dict[str, int] = Field(default_factory=dict)
    #: Background worker processes ``serve`` runs beside the HTTP workers (``--workers``);
    #: they run jobs, dispatch events and schedule periodic work. 0: none on this node.
    background_workers: int = Field(default=1, ge=0, le=64)
    #: Seconds a background job may take to finish after SIGTERM; then its lease lapses.
    shutdown_grace_seconds: float = Field(default=30.0, ge=0, le=3600)
    #: Seconds a background job's lease lasts (renewed every third of it while the job
    #: runs): how long a job cut short by a crash or kill -9 waits before running again.
    job_lease_seconds: float = Field(default=300.0, ge=1, le=3600)
    #: Seconds an idle background worker waits before looking for jobs and events again.
    background_poll_seconds: float = Field(default=0.5, gt=0, le=60)
    #: Jobs (webhook deliveries, …) one background worker process runs at the same time.
    background_concurrency: int = Field(default=16, ge=1, le=256)
    #: Published outbox events are deleted after this many days.
    event_retention_days: float = Field(default=7.0, gt=0, le=3650)
    #: Refuse outbound requests (webhooks) to private ranges too (10/8, 192.168/16, fc00::/7…);
    #: loopback, link-local, multicast and Dockyard's own addresses are refused regardless.
    webhook_deny_private: bool = False
    #: Ranges outbound requests may reach even when refused otherwise (a comma list of
    #: CIDRs like ``trusted_proxies``), e.g. ``127.0.0.0/8`` for a receiver on this host.
    webhook_allowed_cidrs: Annotated[list[str], NoDecode] = Field(default_factory=list)
    #: Retries of a trigger delivery after its first attempt (connection errors,
    #: timeouts, 5xx and 429 are retried; other answers are final).
    webhook_max_retries: int = Field(default=8, ge=0, le=30)
    #: Seconds before a delivery's first retry, doubling after each (capped at 300).
    webhook_retry_base_seconds: float = Field(default=2.0, gt=0, le=300)
    #: Trigger log records older than this many days are deleted (a periodic job).
    trigger_log_retention_days: float = Field(default=30.0, gt=0, le=3650)
    #: A scheduled retention run that would delete more than this share of a repository's
    #: tags deletes nothing and records why (a run by hand is not limited).
    retention_max_delete_share: float = Field(default=0.5, ge=0, le=1)
    #: The record of tag retention runs older than this many days is deleted (a periodic job).
    retention_run_log_days: float = Field(default=90.0, gt=0, le=3650)
    #: Hours between scheduled garbage collection runs (a periodic job); 0 turns it off.
    gc_interval_hours: float = Field(default=24.0, ge=0, le=24 * 365)
    #: Seconds content must stay unneeded before GC deletes it, which is also how long a
    #: client that saw a blob (HEAD) may take to push the manifest naming it.
    gc_grace_seconds: float = Field(default=86400.0, ge=0, le=86400 * 365)
    #: Untagged manifests older than this many hours are deleted by GC; 0 keeps them.
    gc_untagged_manifest_hours: float = Field(default=0.0, ge=0, le=24 * 3650)
    #: Seconds a GC run's lease lasts unless renewed (after every batch): how long a run
    #: whose node died blocks the next one.
    gc_lease_seconds: float = Field(default=60.0, ge=1, le=3600)

    @field_validator(
        "trusted_proxies", "metrics_allowed_cidrs", "webhook_allowed_cidrs", mode="before"
    )
    @classmethod
    def _split_cidrs(cls, value: object) -> object:
        if isinstance(value, str):
            if value.strip().startswith("["):
                return json.loads(value)  # a JSON list works too
            return [v for v in value.replace(" ", ",").split(",") if v]
        return value

    @field_validator("trusted_proxies", "metrics_allowed_cidrs", "webhook_allowed_cidrs")
    @classmethod
    def _check_cidrs(cls, value: list[str]) -> list[str]:
        for cidr in value:
            ipaddress.ip_network(cidr, strict=False)  # raises ValueError with the reason
        return value

    @field_validator("listen")
    @classmethod
    def _check_listen(cls, value: str) -> str:
        host, sep, port = value.rpartition(":")
        if not sep or not host or not port.isdigit() or not 0 < int(port) < 65536:
            raise ValueError("listen must be HOST:PORT")
        return value

    @field_validator("storage")
    @classmethod
    def _check_storage(cls, value: str | None) -> str | None:
        if value in (None, "", "filesystem"):
            return None
        bucket = value.removeprefix("s3://").partition("/")[0]
        if not value.startswith("s3://") or not bucket:
            raise ValueError("storage must be s3://BUCKET[/PREFIX] (unset: the data dir)")
        return value

    @property
    def host(self) -> str:
        return self.listen.rpartition(":")[0].strip("[]")

    @property
    def port(self) -> int:
        return int(self.listen.rpartition(":")[2])

    @property
    def resolved_database_url(self) -> str:
        if self.database_url:
            return self.database_url
        return f"sqlite+aiosqlite:///{(self.data_dir / 'dockyard.db').resolve()}"

    @property
    def blob_root(self) -> Path:
        return self.data_dir / "storage"

    @classmethod
    def settings_customise_sources(
        cls,
        settings_cls: type[BaseSettings],
        init_settings: PydanticBaseSettingsSource,
        env_settings: PydanticBaseSettingsSource,
        dotenv_settings: PydanticBaseSettingsSource,
        file_secret_settings: PydanticBaseSettingsSource,
    ) -> tuple[PydanticBaseSettingsSource, ...]:
        return (init_settings, env_settings, _TomlSource(settings_cls))


class _TomlSource(PydanticBaseSettingsSource):
    """Reads the TOML file named by DOCKYARD_CONFIG (the CLI sets it from --config)."""

    def get_field_value(self, field: Any, field_name: str) -> tuple[Any, str, bool]:
        return None, field_name, False

    def __call__(self) -> dict[str, Any]:
        path = os.environ.get("DOCKYARD_CONFIG")
        if not path:
            return {}
        with open(path, "rb") as f:
            data = tomllib.load(f)
        return {k.replace("-", "_"): v for k, v in data.items()}


def load_settings(**overrides: Any) -> Settings:
    """Settings with explicit overrides (CLI flags) on top of env and TOML."""
    return Settings(**{k: v for k, v in overrides.items() if v is not None})
