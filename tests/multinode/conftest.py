"""Two ``dockyard serve`` nodes as one registry: one PostgreSQL database, one S3 bucket.

:class:`Cluster` starts node A and node B (2 workers each, different ports) with nothing
shared but what production shares: the same ``--database-url``, the same S3 settings and
the same ``DOCKYARD_SECRET_KEY`` (base64 of 32 random bytes, set explicitly for both).
Each node has a data directory of its own (logs, nothing else). The nodes reach moto
through a :class:`~tests.s3server.TcpProxy`, so a test can take S3 away and give it back.

Fixtures:

* ``two_nodes`` — a cluster per test module, both nodes started at once.
* ``make_cluster`` — factory for clusters private to one test (each on a fresh database
  and bucket); every cluster it makes is stopped when the test ends.
"""

from __future__ import annotations

import base64
import secrets
import threading
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path

import pytest
from tests.conftest import DockyardServer
from tests.pgserver import PostgresServer
from tests.s3server import MotoServer, TcpProxy, dockyard_s3_env, moto_server  # noqa: F401


def new_secret_key() -> str:
    return base64.b64encode(secrets.token_bytes(32)).decode()


@dataclass
class Cluster:
    pg: PostgresServer
    database: str
    moto: MotoServer
    bucket: str
    s3: TcpProxy
    base_dir: Path
    secret_key: str = field(default_factory=new_secret_key)
    admin_password: str = field(default_factory=lambda: "pw-" + secrets.token_urlsafe(18))
    nodes: list[DockyardServer] = field(default_factory=list)
    #: Settings every node gets besides the shared ones (e.g. the webhook test settings).
    extra_env: dict[str, str] = field(default_factory=dict)

    @property
    def database_url(self) -> str:
        """As an operator writes it (libpq style); Dockyard picks asyncpg itself."""
        return self.pg.url(self.database, driver="postgresql")

    @property
    def env(self) -> dict[str, str]:
        return {
            **dockyard_s3_env(self.s3.endpoint_url, self.bucket, "registry"),
            "DOCKYARD_SECRET_KEY": self.secret_key,
            **self.extra_env,
        }

    def node(self, name: str, workers: int = 2) -> DockyardServer:
        """A node of this cluster (not started)."""
        server = DockyardServer(
            self.base_dir / f"node-{name}",
            workers=workers,
            admin_password=self.admin_password,
            env=self.env,
            extra_args=["--database-url", self.database_url],
        )
        self.nodes.append(server)
        return server

    @property
    def a(self) -> DockyardServer:
        return self.nodes[0]

    @property
    def b(self) -> DockyardServer:
        return self.nodes[1]

    @property
    def admin(self) -> tuple[str, str]:
        return ("admin", self.admin_password)

    def start_together(self, servers: list[DockyardServer]) -> None:
        """Start ``servers`` at the same moment (threads), raise the first failure."""
        errors: list[BaseException] = []
        barrier = threading.Barrier(len(servers))

        def run(server: DockyardServer) -> None:
            try:
                barrier.wait()
                server.start()
            except BaseException as exc:
                errors.append(exc)

        threads = [threading.Thread(target=run, args=(s,)) for s in servers]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
        if errors:
            raise errors[0]

    def stop(self) -> None:
        for server in reversed(self.nodes):
            server.stop()
        self.s3.down()


ClusterFactory = Callable[..., Cluster]


def _new_cluster(
    pg: PostgresServer,
    moto: MotoServer,
    base_dir: Path,
    *,
    nodes: int = 2,
    start: bool = True,
    env: dict[str, str] | None = None,
) -> Cluster:
    proxy = TcpProxy(moto.port)
    proxy.up()
    cluster = Cluster(
        pg=pg,
        database=pg.create_database("multinode"),
        moto=moto,
        bucket=moto.create_bucket(),
        s3=proxy,
        base_dir=base_dir,
        extra_env=dict(env or {}),
    )
    for name in "abcdefgh"[:nodes]:
        cluster.node(name)
    if start:
        try:
            cluster.start_together(cluster.nodes)
        except BaseException:
            cluster.stop()
            raise
    return cluster


@pytest.fixture(scope="module")
def two_nodes(
    postgres_server: PostgresServer,
    moto_server: MotoServer,  # noqa: F811
    tmp_path_factory: pytest.TempPathFactory,
) -> Iterator[Cluster]:
    """Node A and node B on one PostgreSQL database and one S3 bucket, started at once."""
    cluster = _new_cluster(postgres_server, moto_server, tmp_path_factory.mktemp("two-nodes"))
    try:
        yield cluster
    finally:
        cluster.stop()
        postgres_server.drop_database(cluster.database)


@pytest.fixture
def make_cluster(
    postgres_server: PostgresServer,
    moto_server: MotoServer,  # noqa: F811
    tmp_path_factory: pytest.TempPathFactory,
) -> Iterator[ClusterFactory]:
    """``make_cluster(nodes=2, start=True, env=None)`` -> a cluster on a fresh database and
    bucket; ``env``: settings for every node."""
    made: list[Cluster] = []

    def make(*, nodes: int = 2, start: bool = True, env: dict[str, str] | None = None) -> Cluster:
        cluster = _new_cluster(
            postgres_server,
            moto_server,
            tmp_path_factory.mktemp("cluster"),
            nodes=nodes,
            start=start,
            env=env,
        )
        made.append(cluster)
        return cluster

    yield make
    for cluster in reversed(made):
        cluster.stop()
        postgres_server.drop_database(cluster.database)
