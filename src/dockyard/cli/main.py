"""The ``dockyard`` command: run the server and administer the local installation."""

from __future__ import annotations

import ipaddress
import json
import os
from pathlib import Path
from typing import Annotated, Any

import structlog
import typer
from pydantic import SecretStr, ValidationError

from dockyard import __version__
from dockyard import logging as dlogging
from dockyard.cli.commands import fail
from dockyard.cli.commands import register as register_api_commands
from dockyard.cli.commands.gc import app as gc_app
from dockyard.cli.commands.identity import register as register_identity_commands
from dockyard.cli.commands.jobs import app as jobs_app
from dockyard.cli.commands.scans import app as scans_app
from dockyard.cli.commands.vulndb import app as vulndb_app
from dockyard.settings import Settings, load_settings

app = typer.Typer(help="Dockyard: a self-hosted OCI container registry.", no_args_is_help=True)
db_app = typer.Typer(help="Database schema management.", no_args_is_help=True)
app.add_typer(db_app, name="db")
register_api_commands(app)  # login, logout, instance, namespace, repo, tag (over HTTP)
register_identity_commands(app)  # org, user, group, role, policy, access-key, …
app.add_typer(jobs_app, name="job", no_args_is_help=True)
app.add_typer(jobs_app, name="jobs", hidden=True, no_args_is_help=True)
app.add_typer(gc_app, name="gc", no_args_is_help=True)
app.add_typer(vulndb_app, name="vulndb", no_args_is_help=True)
app.add_typer(scans_app, name="scan", no_args_is_help=True)

log = structlog.get_logger("dockyard.cli")

ConfigOpt = Annotated[
    Path | None, typer.Option("--config", help="TOML configuration file.", exists=True)
]
DataDirOpt = Annotated[
    Path | None, typer.Option("--data-dir", help="Data directory (DOCKYARD_DATA_DIR).")
]
BackgroundWorkersOpt = Annotated[
    int | None,
    typer.Option(
        "--background-workers",
        help="Background worker processes for jobs, events and periodic work "
        "(DOCKYARD_BACKGROUND_WORKERS, default 1; 0: none); HTTP workers are --workers.",
    ),
]


def _settings(config: Path | None, **flags: Any) -> Settings:
    if config is not None:
        os.environ["DOCKYARD_CONFIG"] = str(config)
    try:
        return load_settings(**flags)
    except ValidationError as exc:
        typer.echo(f"error: invalid configuration:\n{exc}", err=True)
        raise typer.Exit(2) from exc


def _worker_env(settings: Settings) -> str:
    """Resolved settings for the worker processes, secrets included."""
    data = settings.model_dump(mode="json")
    for key, value in settings:
        if isinstance(value, SecretStr):
            data[key] = value.get_secret_value()
    data["admin_password"] = None  # workers never need it
    return json.dumps(data)


def _prepare_database(settings: Settings, *, auto_upgrade: bool) -> None:
    from dockyard import bootstrap

    if bootstrap.database_is_empty(settings):
        database = settings.resolved_database_url.split("@")[-1]
        log.info("creating the database schema", database=database)
        _upgrade(settings)
        return
    pending = bootstrap.pending_migrations(settings)
    if pending and not auto_upgrade:
        typer.echo(
            f"error: the database schema is behind by {len(pending)} migration(s); "
            "run `dockyard db upgrade` first",
            err=True,
        )
        raise typer.Exit(3)
    if pending:
        _upgrade(settings)


def _require_master_key(settings: Settings) -> None:
    """A worker decrypts what the serving nodes encrypted (trigger secrets): without their
    key it cannot start, and says so once instead of failing in every restarted process."""
    from dockyard import bootstrap
    from dockyard.errors import DockyardError

    try:
        bootstrap.load_master_key(settings, create=False)
    except DockyardError as exc:
        raise fail(str(exc), 2) from exc


def _upgrade(settings: Settings) -> None:
    from dockyard import bootstrap

    for migration in bootstrap.upgrade_database(settings):
        log.info(
            "applied migration", revision=migration.revision, description=migration.description
        )


@app.command()
def serve(
    listen: Annotated[str | None, typer.Option(help="HOST:PORT (DOCKYARD_LISTEN).")] = None,
    data_dir: DataDirOpt = None,
    workers: Annotated[
        int | None,
        typer.Option(
            help="HTTP worker processes (default: one per two cores); background workers "
            "are --background-workers."
        ),
    ] = None,
    background_workers: BackgroundWorkersOpt = None,
    config: ConfigOpt = None,
    tls_cert: Annotated[Path | None, typer.Option("--tls-cert", exists=True)] = None,
    tls_key: Annotated[Path | None, typer.Option("--tls-key", exists=True)] = None,
    database_url: Annotated[str | None, typer.Option("--database-url")] = None,
    insecure_no_auth: Annotated[
        bool, typer.Option("--insecure-no-auth", help="Local experiments only.")
    ] = False,
    storage: Annotated[
        str | None, typer.Option("--storage", help="Blob storage: s3://BUCKET/PREFIX.")
    ] = None,
    trusted_proxies: Annotated[
        str | None,
        typer.Option("--trusted-proxies", help="CIDRs whose X-Forwarded-* headers are believed."),
    ] = None,
) -> None:
    """Run the registry."""
    settings = _settings(
        config,
        listen=listen,
        data_dir=data_dir,
        workers=workers,
        background_workers=background_workers,
        tls_cert=tls_cert,
        tls_key=tls_key,
        database_url=database_url,
        insecure_no_auth=insecure_no_auth or None,
        storage=storage,
        trusted_proxies=trusted_proxies,
    )
    dlogging.configure(settings.log_level)
    if bool(settings.tls_cert) != bool(settings.tls_key):
        typer.echo("error: --tls-cert and --tls-key go together", err=True)
        raise typer.Exit(2)
    settings.data_dir.mkdir(parents=True, exist_ok=True)
    _prepare_database(settings, auto_upgrade=False)
    _first_start(settings)
    if settings.insecure_no_auth:
        log.warning(
            "authentication is DISABLED (--insecure-no-auth): anyone can push, pull and delete"
        )

    from dockyard.supervisor import exec_supervisor

    log.info(
        "dockyard starting",
        version=__version__,
        listen=settings.listen,
        workers=settings.workers,
        background_workers=settings.background_workers,
        data_dir=str(settings.data_dir.resolve()),
        tls=bool(settings.tls_cert),
    )
    typer.echo(_where_to_find(settings), err=True)
    exec_supervisor(
        _worker_env(settings),
        {
            "http": True,
            "host": settings.host,
            "port": settings.port,
            "workers": settings.workers,
            "tls_cert": str(settings.tls_cert) if settings.tls_cert else None,
            "tls_key": str(settings.tls_key) if settings.tls_key else None,
            "log_level": settings.log_level,
            **_background_plan(settings),
        },
    )


def _where_to_find(settings: Settings) -> str:
    """The addresses a newcomer needs, on the terminal (only what this server serves)."""
    scheme = "https" if settings.tls_cert else "http"
    host = settings.host
    everywhere = _is_unspecified(host)
    if everywhere:  # a browser cannot go to 0.0.0.0: show the loopback address
        host = "::1" if ":" in host else "127.0.0.1"
    base = f"{scheme}://{f'[{host}]' if ':' in host else host}:{settings.port}"
    note = " (all interfaces)" if everywhere else ""
    return (
        f"\n  Dockyard is serving on {base}{note}\n"
        f"  Registry (OCI distribution API): {base}/v2/\n"
        f"  Management API and its docs:     {base}/api/v1/docs\n"
        f"  Web console:                     {base}/console\n"
    )


def _is_unspecified(host: str) -> bool:
    try:
        return ipaddress.ip_address(host).is_unspecified
    except ValueError:  # a host name
        return False


def _background_plan(settings: Settings) -> dict[str, object]:
    return {
        "background_workers": settings.background_workers,
        "shutdown_grace_seconds": settings.shutdown_grace_seconds,
    }


@app.command()
def worker(
    background_workers: BackgroundWorkersOpt = None,
    data_dir: DataDirOpt = None,
    config: ConfigOpt = None,
    database_url: Annotated[str | None, typer.Option("--database-url")] = None,
    storage: Annotated[
        str | None, typer.Option("--storage", help="Blob storage: s3://BUCKET/PREFIX.")
    ] = None,
) -> None:
    """Run background workers only (jobs, events, periodic work): a node serving no HTTP.

    Point it at the same database and blob storage as the serving nodes (PostgreSQL).
    """
    settings = _settings(
        config,
        data_dir=data_dir,
        background_workers=background_workers,
        database_url=database_url,
        storage=storage,
    )
    dlogging.configure(settings.log_level)
    if settings.background_workers < 1:
        typer.echo("error: `dockyard worker` needs --background-workers 1 or more", err=True)
        raise typer.Exit(2)
    settings.data_dir.mkdir(parents=True, exist_ok=True)
    _prepare_database(settings, auto_upgrade=False)
    _require_master_key(settings)
    from dockyard.supervisor import exec_supervisor

    log.info(
        "dockyard background workers starting",
        version=__version__,
        background_workers=settings.background_workers,
    )
    exec_supervisor(_worker_env(settings), {"http": False, **_background_plan(settings)})


def _first_start(settings: Settings) -> None:
    from dockyard import bootstrap

    generated = bootstrap.first_start(settings)
    if generated:
        # Shown once, on the terminal only: never in the structured log.
        typer.echo(
            "\n  Dockyard created the administrator `admin`.\n"
            f"  Password (shown only now): {generated}\n"
            "  It is also admin's registry password: `podman login -u admin <host>`.\n",
            err=True,
        )


@db_app.command("upgrade")
def db_upgrade(
    config: ConfigOpt = None,
    data_dir: DataDirOpt = None,
    database_url: Annotated[str | None, typer.Option("--database-url")] = None,
) -> None:
    """Apply pending schema migrations."""
    settings = _settings(config, data_dir=data_dir, database_url=database_url)
    dlogging.configure(settings.log_level)
    settings.data_dir.mkdir(parents=True, exist_ok=True)
    from dockyard import bootstrap

    for migration in bootstrap.upgrade_database(settings):
        typer.echo(f"applied migration {migration.revision}: {migration.description}")
    typer.echo("database schema is up to date")
    _report_nonconforming_names(settings)


def _report_nonconforming_names(settings: Settings) -> None:
    """Names stored before the OCI name grammar was enforced: still served, never created."""
    from dockyard import bootstrap

    found = bootstrap.nonconforming_names(settings)
    for kind, names in (("namespace", found.namespaces), ("repository", found.repositories)):
        for instance_id, name in names:
            typer.echo(
                f"{kind} {name} (instance {instance_id}) is outside the OCI name grammar: "
                "it stays readable, pullable and deletable, but no new name like it is accepted"
            )


@db_app.command("backup")
def db_backup(
    target: Annotated[Path, typer.Argument(help="File to write the backup to.")],
    config: ConfigOpt = None,
    data_dir: DataDirOpt = None,
    database_url: Annotated[str | None, typer.Option("--database-url")] = None,
) -> None:
    """Online backup of the metadata database while the server runs.

    SQLite: a consistent copy through SQLite's backup API (a database file you can put
    into a new data dir). PostgreSQL: runs ``pg_dump --format=custom`` (restore with
    ``pg_restore``); exits 2 when pg_dump is not installed. The master key and the
    blobs are not included (see docs/operations.md).
    """
    from dockyard import bootstrap
    from dockyard.errors import BackupError

    settings = _settings(config, data_dir=data_dir, database_url=database_url)
    dlogging.configure(settings.log_level)
    try:
        message = bootstrap.backup_database(settings, target)
    except BackupError as exc:
        typer.echo(f"error: {exc}", err=True)
        raise typer.Exit(exc.exit_code) from exc
    typer.echo(message)


@app.command("nginx-config")
def nginx_config(
    server_name: Annotated[
        list[str],
        typer.Option(
            "--server-name", help="Name clients use (repeat for more); server_name's value."
        ),
    ],
    listen: Annotated[
        str | None,
        typer.Option(help="Where nginx listens: PORT or HOST:PORT (default 443 with TLS, 80)."),
    ] = None,
    tls_cert: Annotated[
        Path | None, typer.Option("--tls-cert", help="nginx's certificate (PEM).")
    ] = None,
    tls_key: Annotated[Path | None, typer.Option("--tls-key", help="Its private key.")] = None,
    upstream: Annotated[
        str | None,
        typer.Option(help="HOST:PORT nginx connects to (default: Dockyard's listen setting)."),
    ] = None,
    output: Annotated[
        Path | None, typer.Option("--output", "-o", help="File to write (default: stdout).")
    ] = None,
    config: ConfigOpt = None,
    data_dir: DataDirOpt = None,
) -> None:
    """Write the nginx front's configuration (for conf.d/): nginx sends blob files itself.

    Dockyard's data dir and address come from its settings, as `dockyard serve` reads
    them; run this where serve runs (a relative data dir is taken from this directory).
    """
    from dockyard import bootstrap
    from dockyard.cli import nginx

    settings = _settings(config, data_dir=data_dir)
    if settings.storage:
        raise fail(
            "X-Accel-Redirect needs filesystem storage (nginx sends local files); "
            f"with {settings.storage} use DOCKYARD_S3_PRESIGN_REDIRECTS=true instead",
            2,
        )
    if settings.tls_cert:
        raise fail(
            "Dockyard's settings serve HTTPS (tls_cert), and this front speaks plain "
            "HTTP to it: let nginx terminate TLS (--tls-cert/--tls-key here) instead",
            2,
        )
    if bool(tls_cert) != bool(tls_key):
        raise fail("--tls-cert and --tls-key go together", 2)
    tls = (os.path.abspath(tls_cert), os.path.abspath(tls_key)) if tls_cert and tls_key else None
    blobs = nginx.blob_dir(bootstrap.filesystem_blobs_dir(settings))
    try:
        address = nginx.parse_listen(listen or ("443" if tls else "80"))
        target = (
            nginx.parse_upstream(upstream)
            if upstream
            else nginx.parse_upstream(settings.listen, what="Dockyard's listen setting")
        )
        text = nginx.render_nginx_config(
            listen=address, upstream=target, blobs=blobs, server_names=server_name, tls=tls
        )
    except nginx.NginxConfigError as exc:
        raise fail(str(exc), 2) from exc
    if output is None:
        typer.echo(text, nl=False)
    else:
        try:
            output.write_text(text)
        except OSError as exc:
            typer.echo(f"error: cannot write {output}: {exc.strerror}", err=True)
            raise typer.Exit(1) from exc
    # Reminders on stderr: the configuration itself goes to stdout or the file.
    if not settings.data_dir.is_absolute():
        typer.echo(
            f"note: the data dir {settings.data_dir} is relative: taken from {os.getcwd()}; "
            "`dockyard serve` must run from this directory too",
            err=True,
        )
    if not os.path.isdir(blobs):
        typer.echo(f"note: {blobs} does not exist yet (Dockyard creates it)", err=True)
    reminder = nginx.trust_reminder(target, settings.trusted_proxies)
    if reminder:
        typer.echo(f"note: {reminder}", err=True)


@app.command()
def version() -> None:
    """Print the version."""
    typer.echo(__version__)


def main() -> None:
    app()
