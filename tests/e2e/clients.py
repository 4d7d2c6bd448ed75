"""Recipes for driving real OCI clients against a registry in end-to-end tests.

Every helper here is parameterised by a registry address (``host:port``),
credentials and a per-test temporary directory, and keeps *all* client state
(auth files, registries.conf, image storage, daemon sockets) inside that
directory, so tests never read or write global configuration and never leak
storage into each other.

The binaries come from ``scripts/install-test-deps`` (Debian packages); the
Python clients (``oras``, ``python-dxf``) from the project's test extras.
Nothing here imports ``dockyard``: these helpers only speak the registry API,
which is the point of an end-to-end test.

Failures raise :class:`ClientError` with the command, exit code, stdout and
stderr; a missing tool raises :class:`MissingTool` (tests must fail, not skip:
CI counts skips as failures).

See CLIENTS.md next to this file for the recipes in prose and the caveats.
"""

from __future__ import annotations

import contextlib
import gzip
import hashlib
import io
import json
import os
import shutil
import signal
import socket
import subprocess
import tarfile
import tempfile
import time
import urllib.error
import urllib.parse
import urllib.request
import weakref
from base64 import b64encode
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

__all__ = [
    "HELM_CHART_MEDIA_TYPE",
    "HELM_CONFIG_MEDIA_TYPE",
    "OCI_CONFIG",
    "OCI_EMPTY_JSON",
    "OCI_INDEX",
    "OCI_LAYER_GZIP",
    "OCI_MANIFEST",
    "Blob",
    "Buildah",
    "ClientError",
    "Containerd",
    "ImageInfo",
    "LayoutInfo",
    "MissingTool",
    "Podman",
    "ReferenceRegistry",
    "Skopeo",
    "dxf_client",
    "free_port",
    "make_oci_archive",
    "make_oci_layout",
    "oras_client",
    "oras_pull",
    "oras_push_helm_chart",
    "push_referrer",
    "require",
    "run",
]

OCI_MANIFEST = "application/vnd.oci.image.manifest.v1+json"
OCI_INDEX = "application/vnd.oci.image.index.v1+json"
OCI_CONFIG = "application/vnd.oci.image.config.v1+json"
OCI_LAYER_GZIP = "application/vnd.oci.image.layer.v1.tar+gzip"
OCI_EMPTY_JSON = "application/vnd.oci.empty.v1+json"
HELM_CONFIG_MEDIA_TYPE = "application/vnd.cncf.helm.config.v1+json"
HELM_CHART_MEDIA_TYPE = "application/vnd.cncf.helm.chart.content.v1.tar+gzip"

DEFAULT_TIMEOUT = 180.0


# --------------------------------------------------------------------------
# process helpers
# --------------------------------------------------------------------------


class MissingTool(RuntimeError):
    """A client binary is not installed: run scripts/install-test-deps."""


class ClientError(RuntimeError):
    """A client command failed; carries everything needed to debug it."""

    def __init__(
        self, cmd: Sequence[str], returncode: int | None, stdout: str, stderr: str, note: str = ""
    ):
        self.cmd = list(cmd)
        self.returncode = returncode
        self.stdout = stdout
        self.stderr = stderr
        head = note or f"command failed with exit code {returncode}"
        super().__init__(
            f"{head}: {' '.join(self.cmd)}\n--- stdout ---\n{stdout[-4000:]}"
            f"\n--- stderr ---\n{stderr[-4000:]}"
        )


def require(tool: str) -> str:
    """Return the absolute path of ``tool`` or raise :class:`MissingTool`.

    Tests call this instead of skipping: a missing client is a broken test
    machine, and CI must say so loudly.
    """
    path = shutil.which(tool) or shutil.which(tool, path="/usr/sbin:/sbin:/usr/bin:/bin")
    if not path:
        raise MissingTool(
            f"required tool {tool!r} is not installed; run scripts/install-test-deps as root"
        )
    return path


def run(
    cmd: Sequence[str | os.PathLike[str]],
    *,
    env: Mapping[str, str] | None = None,
    timeout: float = DEFAULT_TIMEOUT,
    input: bytes | str | None = None,
    cwd: str | os.PathLike[str] | None = None,
) -> subprocess.CompletedProcess[str]:
    """Run a command with a timeout; raise :class:`ClientError` on failure.

    ``env`` is *added* to the current environment. Output is captured as text.
    """
    argv = [os.fspath(c) for c in cmd]
    full_env = dict(os.environ)
    if env:
        full_env.update(env)
    if isinstance(input, bytes):
        input = input.decode()
    try:
        proc = subprocess.run(
            argv,
            env=full_env,
            input=input,
            cwd=cwd,
            capture_output=True,
            text=True,
            timeout=timeout,
            stdin=None if input is not None else subprocess.DEVNULL,
        )
    except subprocess.TimeoutExpired as exc:
        out = (
            exc.stdout.decode(errors="replace")
            if isinstance(exc.stdout, bytes)
            else (exc.stdout or "")
        )
        err = (
            exc.stderr.decode(errors="replace")
            if isinstance(exc.stderr, bytes)
            else (exc.stderr or "")
        )
        raise ClientError(
            argv, None, out, err, note=f"command timed out after {timeout}s"
        ) from None
    if proc.returncode != 0:
        raise ClientError(argv, proc.returncode, proc.stdout, proc.stderr)
    return proc


def free_port() -> int:
    """Pick a free TCP port on 127.0.0.1 (racy but fine for tests)."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _sha256(data: bytes) -> str:
    return "sha256:" + hashlib.sha256(data).hexdigest()


def _canon(obj: Any) -> bytes:
    return json.dumps(obj, separators=(",", ":"), sort_keys=True).encode()


# --------------------------------------------------------------------------
# OCI image layout builder (pure Python)
# --------------------------------------------------------------------------


@dataclass
class Blob:
    digest: str
    size: int
    media_type: str

    def descriptor(self, **extra: Any) -> dict[str, Any]:
        return {"mediaType": self.media_type, "digest": self.digest, "size": self.size, **extra}


@dataclass
class ImageInfo:
    """One single-platform image written into a layout."""

    platform: str  # "linux/amd64"
    manifest: Blob
    config: Blob
    layers: list[Blob]
    diff_ids: list[str]
    manifest_bytes: bytes


@dataclass
class LayoutInfo:
    """What :func:`make_oci_layout` wrote.

    ``digest`` is the top-level object referenced by ``tag``: the manifest for
    a single-platform layout, the image index for a multi-platform one.
    """

    path: Path
    tag: str
    digest: str
    media_type: str
    size: int
    images: list[ImageInfo] = field(default_factory=list)
    index_bytes: bytes | None = None

    @property
    def oci_ref(self) -> str:
        """Reference for skopeo/podman: ``oci:/path:tag``."""
        return f"oci:{self.path}:{self.tag}"

    def blobs(self) -> list[Blob]:
        out: list[Blob] = []
        for im in self.images:
            out += [im.manifest, im.config, *im.layers]
        return out


def _write_blob(root: Path, data: bytes, media_type: str) -> Blob:
    digest = _sha256(data)
    p = root / "blobs" / "sha256" / digest.split(":", 1)[1]
    p.parent.mkdir(parents=True, exist_ok=True)
    p.write_bytes(data)
    return Blob(digest, len(data), media_type)


def _layer_tar(files: Mapping[str, bytes]) -> bytes:
    """A reproducible tar (fixed mtime/owner) holding ``files``."""
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w", format=tarfile.PAX_FORMAT) as tf:
        for name, content in files.items():
            ti = tarfile.TarInfo(name)
            ti.size = len(content)
            ti.mode = 0o644
            ti.mtime = 1700000000
            tf.addfile(ti, io.BytesIO(content))
    return buf.getvalue()


def make_oci_layout(
    path: str | os.PathLike[str],
    *,
    platforms: Sequence[str] | None = None,
    layer_size: int = 1024,
    layers: int = 1,
    tag: str = "latest",
    seed: bytes | None = None,
) -> LayoutInfo:
    """Write a tiny OCI image layout directory at ``path`` and describe it.

    - ``platforms=None``: one ``linux/<host arch>`` image manifest tagged ``tag``.
    - ``platforms=["linux/amd64", "linux/arm64"]``: one image per platform plus
      an image index (stored as a blob) tagged ``tag`` in ``index.json``; copy
      it with ``skopeo copy --all``.

    Layers hold ``layer_size`` random bytes (so digests are unique per call
    unless ``seed`` is given) in a gzip'd tar; configs have proper ``diff_ids``
    so podman/buildah/containerd accept the image. No runtime is needed.
    """
    root = Path(path)
    root.mkdir(parents=True, exist_ok=True)
    (root / "oci-layout").write_text(json.dumps({"imageLayoutVersion": "1.0.0"}))
    multi = platforms is not None
    plats = list(platforms) if platforms is not None else [f"linux/{_host_goarch()}"]
    rnd_state = hashlib.sha256(seed).digest() if seed is not None else None

    def rnd(n: int, label: str) -> bytes:
        if rnd_state is None:
            return os.urandom(n)
        out, i = b"", 0
        while len(out) < n:
            out += hashlib.sha256(rnd_state + label.encode() + i.to_bytes(8, "big")).digest()
            i += 1
        return out[:n]

    images: list[ImageInfo] = []
    for plat in plats:
        os_, arch, *variant = plat.split("/")
        layer_blobs: list[Blob] = []
        diff_ids: list[str] = []
        for n in range(layers):
            tar = _layer_tar({f"data/{arch}-{n}.bin": rnd(layer_size, f"{plat}/{n}")})
            diff_ids.append(_sha256(tar))
            gz = gzip.compress(tar, compresslevel=1, mtime=0)
            layer_blobs.append(_write_blob(root, gz, OCI_LAYER_GZIP))
        config_obj: dict[str, Any] = {
            "architecture": arch,
            "os": os_,
            "created": "2024-01-01T00:00:00Z",
            "config": {"Cmd": ["/data"]},
            "rootfs": {"type": "layers", "diff_ids": diff_ids},
            "history": [{"created": "2024-01-01T00:00:00Z", "created_by": "dockyard tests"}]
            * layers,
        }
        if variant:
            config_obj["variant"] = variant[0]
        config = _write_blob(root, _canon(config_obj), OCI_CONFIG)
        manifest_obj = {
            "schemaVersion": 2,
            "mediaType": OCI_MANIFEST,
            "config": config.descriptor(),
            "layers": [b.descriptor() for b in layer_blobs],
        }
        mbytes = _canon(manifest_obj)
        manifest = _write_blob(root, mbytes, OCI_MANIFEST)
        images.append(ImageInfo(plat, manifest, config, layer_blobs, diff_ids, mbytes))

    ref_ann = {"org.opencontainers.image.ref.name": tag}
    if multi:
        entries = []
        for im in images:
            os_, arch, *variant = im.platform.split("/")
            p: dict[str, str] = {"architecture": arch, "os": os_}
            if variant:
                p["variant"] = variant[0]
            entries.append(im.manifest.descriptor(platform=p))
        ibytes = _canon({"schemaVersion": 2, "mediaType": OCI_INDEX, "manifests": entries})
        top = _write_blob(root, ibytes, OCI_INDEX)
        info = LayoutInfo(root, tag, top.digest, OCI_INDEX, top.size, images, ibytes)
    else:
        top = images[0].manifest
        info = LayoutInfo(root, tag, top.digest, OCI_MANIFEST, top.size, images, None)
    (root / "index.json").write_text(
        json.dumps(
            {
                "schemaVersion": 2,
                "mediaType": OCI_INDEX,
                "manifests": [top.descriptor(annotations=ref_ann)],
            }
        )
    )
    return info


def make_oci_archive(
    layout: LayoutInfo | str | os.PathLike[str], archive: str | os.PathLike[str]
) -> Path:
    """Tar an OCI layout dir into an ``oci-archive:`` file (podman load / skopeo)."""
    src = layout.path if isinstance(layout, LayoutInfo) else Path(layout)
    out = Path(archive)
    with tarfile.open(out, "w") as tf:
        for p in sorted(src.rglob("*")):
            tf.add(p, arcname=str(p.relative_to(src)), recursive=False)
    return out


def _host_goarch() -> str:
    m = os.uname().machine
    return {"x86_64": "amd64", "aarch64": "arm64", "armv7l": "arm", "i686": "386"}.get(m, m)


# --------------------------------------------------------------------------
# containers/image based tools: shared isolated config
# --------------------------------------------------------------------------


class _ContainersConfig:
    """Per-test containers.conf / registries.conf / policy.json / auth file.

    podman, buildah and skopeo all read global files under /etc/containers
    and ~/.config; the env vars set here point each of them at temp files so
    nothing global is read or written. Registries are listed as
    ``insecure = true`` too, as a belt to the ``--tls-verify=false`` braces.
    """

    def __init__(self, workdir: str | os.PathLike[str], insecure_registries: Sequence[str] = ()):
        self.dir = Path(workdir)
        self.dir.mkdir(parents=True, exist_ok=True)
        self.tmp = self.dir / "tmp"
        self.tmp.mkdir(exist_ok=True)
        self.authfile = self.dir / "auth.json"
        self.policy = self.dir / "policy.json"
        self.registries_conf = self.dir / "registries.conf"
        self.containers_conf = self.dir / "containers.conf"
        self.storage_conf = self.dir / "storage.conf"
        # podman/buildah refuse an --authfile that does not exist yet.
        if not self.authfile.exists():
            self.authfile.write_text('{"auths": {}}')
        self.policy.write_text(json.dumps({"default": [{"type": "insecureAcceptAnything"}]}))
        regs = "".join(
            f'\n[[registry]]\nlocation = "{r}"\ninsecure = true\n' for r in insecure_registries
        )
        self.registries_conf.write_text("unqualified-search-registries = []\n" + regs)
        # cgroupfs: no systemd here; file events: no journald. For `podman
        # run` in this sandbox: crun rejects the hybrid cgroup v1/v2 layout, so
        # runc; and the default RLIMIT_NOFILE/NPROC podman asks for exceeds the
        # hard limits the sandbox allows, so ask for small ones.
        self.containers_conf.write_text(
            '[engine]\ncgroup_manager = "cgroupfs"\nevents_logger = "file"\nruntime = "runc"\n'
            f'events_logfile_path = "{self.dir / "events.log"}"\n'
            '[containers]\nnetns = "host"\n'
            'default_ulimits = ["nofile=1024:1024", "nproc=1024:1024"]\n'
            f'[network]\nnetwork_config_dir = "{self.dir / "networks"}"\n'
        )
        self.storage_conf.write_text(
            '[storage]\ndriver = "vfs"\n'
            f'graphroot = "{self.dir / "storage"}"\nrunroot = "{self.dir / "runroot"}"\n'
        )

    def cache_prefix(self) -> list[str]:
        """Command prefix giving the tool a private blob-info cache.

        As root, containers/image keeps a blob-info cache (digest -> repos it
        was seen in) at /var/lib/containers/cache, and skopeo, podman 4.3 push
        and buildah 1.28 all write it; no flag moves it. It makes later copies
        try cross-repo mounts / skip uploads, i.e. state leaks between tests.
        So run the tool in a private mount namespace with a per-test dir
        bind-mounted over it (non-root: $XDG_DATA_HOME, set in :meth:`env`).
        """
        if os.geteuid() != 0:
            return []
        cache = self.dir / "blob-info-cache"
        cache.mkdir(exist_ok=True)
        sys_cache = Path("/var/lib/containers/cache")
        sys_cache.mkdir(parents=True, exist_ok=True)
        return [
            require("unshare"),
            "--mount",
            "--propagation",
            "private",
            "--",
            "sh",
            "-c",
            f'mount --bind "$0" {sys_cache} && exec "$@"',
            str(cache),
        ]

    def env(self) -> dict[str, str]:
        return {
            "XDG_DATA_HOME": str(self.dir / "xdg-data"),
            "CONTAINERS_CONF": str(self.containers_conf),
            "CONTAINERS_REGISTRIES_CONF": str(self.registries_conf),
            "CONTAINERS_STORAGE_CONF": str(self.storage_conf),
            "REGISTRY_AUTH_FILE": str(self.authfile),
            # docker's config is a fallback auth source for containers/image
            "DOCKER_CONFIG": str(self.dir / "docker-config"),
            "TMPDIR": str(self.tmp),
        }


def _creds_args(flag: str, creds: tuple[str, str] | None) -> list[str]:
    return [flag, f"{creds[0]}:{creds[1]}"] if creds else []


# --------------------------------------------------------------------------
# skopeo
# --------------------------------------------------------------------------


class Skopeo:
    """skopeo with an isolated policy/registries.conf/auth file.

    Plain-HTTP registries need ``--{src,dest}-tls-verify=false`` (or
    ``--tls-verify=false`` for inspect/login); credentials via
    ``--{src,dest}-creds user:pass`` or a prior :meth:`login` (auth file).

    ``cert_dir``: an HTTPS registry whose CA is ``<cert_dir>/ca.crt``. Every command
    then passes ``--cert-dir`` (``--src-cert-dir``/``--dest-cert-dir``) instead of
    turning TLS verification off.
    """

    def __init__(
        self,
        workdir: str | os.PathLike[str],
        *,
        timeout: float = DEFAULT_TIMEOUT,
        isolate_cache: bool = True,
        cert_dir: str | os.PathLike[str] | None = None,
    ):
        self.bin = require("skopeo")
        self.cfg = _ContainersConfig(workdir)
        self.timeout = timeout
        self.prefix = self.cfg.cache_prefix() if isolate_cache else []
        self.cert_dir = os.fspath(cert_dir) if cert_dir is not None else None

    def _tls(self, side: str = "") -> list[str]:
        """``--tls-verify=false``, or ``--cert-dir DIR`` (``side``: ``src-``/``dest-``)."""
        if self.cert_dir is not None:
            return [f"--{side}cert-dir", self.cert_dir]
        return [f"--{side}tls-verify=false"]

    def _run(self, *args: str, input: str | None = None) -> subprocess.CompletedProcess[str]:
        cmd = [
            *self.prefix,
            self.bin,
            "--policy",
            str(self.cfg.policy),
            "--registries-conf",
            str(self.cfg.registries_conf),
            *args,
        ]
        return run(cmd, env=self.cfg.env(), timeout=self.timeout, input=input)

    def login(self, host: str, user: str, password: str) -> None:
        """``skopeo login`` (stores creds in the private auth file)."""
        self._run(
            "login",
            "--authfile",
            str(self.cfg.authfile),
            *self._tls(),
            "--username",
            user,
            "--password-stdin",
            host,
            input=password,
        )

    def logout(self, host: str) -> None:
        self._run("logout", "--authfile", str(self.cfg.authfile), host)

    def copy(
        self,
        src: str,
        dest: str,
        *,
        all: bool = False,
        src_creds: tuple[str, str] | None = None,
        dest_creds: tuple[str, str] | None = None,
        format: str | None = None,
        extra: Sequence[str] = (),
    ) -> str:
        """``skopeo copy``; returns the digest of what was written (``--digestfile``).

        Refs: ``oci:DIR:TAG``, ``oci-archive:FILE:TAG``, ``docker://H:P/repo:tag``.
        ``all=True`` copies a whole index (multi-platform) unchanged.
        """
        digestfile = Path(self.cfg.tmp) / f"digest-{time.monotonic_ns()}"
        args = ["copy", "--authfile", str(self.cfg.authfile), "--digestfile", str(digestfile)]
        if src.startswith("docker://"):
            args += self._tls("src-")
        if dest.startswith("docker://"):
            args += self._tls("dest-")
        if all:
            args.append("--all")
        if format:
            args += ["--format", format]
        args += _creds_args("--src-creds", src_creds) + _creds_args("--dest-creds", dest_creds)
        args += [*extra, src, dest]
        self._run(*args)
        return digestfile.read_text().strip()

    def inspect_raw(self, ref: str, *, creds: tuple[str, str] | None = None) -> bytes:
        """``skopeo inspect --raw`` -> the manifest bytes exactly as served."""
        args = ["inspect", "--raw", "--authfile", str(self.cfg.authfile)]
        if ref.startswith("docker://"):
            args += self._tls()
        out = self._run(*args, *_creds_args("--creds", creds), ref)
        return out.stdout.encode()

    def inspect(self, ref: str, *, creds: tuple[str, str] | None = None) -> dict[str, Any]:
        """``skopeo inspect`` (parsed JSON: Digest, RepoTags, Layers, ...)."""
        args = ["inspect", "--authfile", str(self.cfg.authfile)]
        if ref.startswith("docker://"):
            args += self._tls()
        return json.loads(self._run(*args, *_creds_args("--creds", creds), ref).stdout)

    def list_tags(self, repo_ref: str, *, creds: tuple[str, str] | None = None) -> list[str]:
        """``skopeo list-tags docker://H:P/repo``."""
        out = self._run(
            "list-tags",
            "--authfile",
            str(self.cfg.authfile),
            *self._tls(),
            *_creds_args("--creds", creds),
            repo_ref,
        )
        return list(json.loads(out.stdout)["Tags"])

    def delete(self, ref: str, *, creds: tuple[str, str] | None = None) -> None:
        """``skopeo delete docker://...`` (DELETE by digest)."""
        self._run(
            "delete",
            "--authfile",
            str(self.cfg.authfile),
            *self._tls(),
            *_creds_args("--creds", creds),
            ref,
        )


# --------------------------------------------------------------------------
# podman / buildah
# --------------------------------------------------------------------------


class Podman:
    """Root podman with private vfs storage under ``workdir``.

    Global flags: ``--root/--runroot/--tmpdir`` (storage and lock state are
    per test), ``--storage-driver vfs`` (no overlay/fuse needed),
    ``--cgroup-manager cgroupfs`` (no systemd), ``--events-backend file``
    (no journald). Only image commands are used; no container is run.

    ``cert_dir``: an HTTPS registry whose CA is ``<cert_dir>/ca.crt``; login, pull and
    push then pass ``--cert-dir`` instead of ``--tls-verify=false``.
    """

    def __init__(
        self,
        workdir: str | os.PathLike[str],
        *,
        timeout: float = DEFAULT_TIMEOUT,
        isolate_cache: bool = True,
        cert_dir: str | os.PathLike[str] | None = None,
    ):
        self.bin = require("podman")
        self.cfg = _ContainersConfig(workdir)
        self.timeout = timeout
        self.cert_dir = os.fspath(cert_dir) if cert_dir is not None else None
        d = self.cfg.dir
        # podman refuses a runroot longer than 50 characters (conmon socket
        # paths), so it lives in a short /tmp dir removed by close().
        self.runroot = Path(tempfile.mkdtemp(prefix="podrun-", dir="/tmp"))
        self._finalizer = weakref.finalize(self, shutil.rmtree, str(self.runroot), True)
        self.base = [
            *(self.cfg.cache_prefix() if isolate_cache else []),
            self.bin,
            "--root",
            str(d / "storage"),
            "--runroot",
            str(self.runroot),
            "--tmpdir",
            str(d / "libpod-tmp"),
            "--storage-driver",
            "vfs",
            "--cgroup-manager",
            "cgroupfs",
            "--events-backend",
            "file",
        ]

    def _run(self, *args: str, input: str | None = None) -> subprocess.CompletedProcess[str]:
        return run([*self.base, *args], env=self.cfg.env(), timeout=self.timeout, input=input)

    def _tls(self) -> list[str]:
        if self.cert_dir is not None:
            return ["--cert-dir", self.cert_dir]
        return ["--tls-verify=false"]

    def close(self) -> None:
        """Remove the short-path runroot (storage stays in ``workdir``)."""
        self._finalizer()

    def __enter__(self) -> Podman:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def login(self, host: str, user: str, password: str) -> None:
        self._run(
            "login",
            "--authfile",
            str(self.cfg.authfile),
            *self._tls(),
            "--username",
            user,
            "--password-stdin",
            host,
            input=password,
        )

    def logout(self, host: str) -> None:
        self._run("logout", "--authfile", str(self.cfg.authfile), host)

    def pull(
        self, ref: str, *, creds: tuple[str, str] | None = None, platform: str | None = None
    ) -> str:
        """``podman pull``; returns the local image ID.

        ``ref`` may be ``H:P/repo:tag`` (registry), ``oci:DIR:TAG`` or
        ``oci-archive:FILE``.
        """
        args = ["pull", "--quiet", "--authfile", str(self.cfg.authfile)]
        if not ref.startswith(("oci:", "oci-archive:", "docker-archive:", "dir:")):
            args += self._tls()
        if platform:
            args += ["--platform", platform]
        out = self._run(*args, *_creds_args("--creds", creds), ref)
        return out.stdout.strip().splitlines()[-1]

    def load(self, archive: str | os.PathLike[str]) -> str:
        """``podman load -i FILE`` (docker-archive or oci-archive); returns its output."""
        return self._run("load", "-i", os.fspath(archive)).stdout

    def tag(self, image: str, new: str) -> None:
        self._run("tag", image, new)

    def push(
        self,
        image: str,
        dest: str,
        *,
        creds: tuple[str, str] | None = None,
        format: str | None = None,
    ) -> str:
        """``podman push IMAGE docker://DEST``; returns the pushed manifest digest.

        ``format`` is ``oci`` or ``v2s2``; podman otherwise keeps the source
        format. Layers are pushed as stored (podman may recompress).
        """
        digestfile = self.cfg.tmp / f"digest-{time.monotonic_ns()}"
        args = [
            "push",
            "--quiet",
            "--authfile",
            str(self.cfg.authfile),
            *self._tls(),
            "--digestfile",
            str(digestfile),
        ]
        if format:
            args += ["--format", format]
        if not dest.startswith(("docker://", "oci:", "oci-archive:", "dir:", "docker-archive:")):
            dest = "docker://" + dest
        self._run(*args, *_creds_args("--creds", creds), image, dest)
        return digestfile.read_text().strip()

    def image_inspect(self, image: str) -> dict[str, Any]:
        return json.loads(self._run("image", "inspect", image).stdout)[0]

    def run_container(self, image: str, *cmd: str) -> str:
        """``podman run --rm --network none IMAGE CMD...`` -> stdout.

        Works here only with runc and small ulimits (see containers.conf in
        ``_ContainersConfig``); the image needs its own binaries (e.g.
        /bin/busybox from busybox-static) since there is no internet.
        """
        return self._run("run", "--rm", "--network", "none", image, *cmd).stdout

    def image_digest(self, image: str) -> str:
        """Manifest digest podman recorded for ``image`` (``.Digest``)."""
        return self._run("image", "inspect", "--format", "{{.Digest}}", image).stdout.strip()

    def image_id(self, image: str) -> str:
        return self._run("image", "inspect", "--format", "{{.Id}}", image).stdout.strip()

    def images(self) -> list[dict[str, Any]]:
        return json.loads(self._run("images", "--format", "json").stdout or "[]")

    def rmi(self, *images: str) -> None:
        self._run("rmi", "--force", *images)


class Buildah:
    """Root buildah with private vfs storage (same isolation as :class:`Podman`).

    ``FROM scratch`` + ``COPY`` needs no OCI runtime. ``RUN`` works with
    ``--isolation chroot`` (used for every build) given a base image that has
    the binaries, e.g. ``FROM scratch`` + ``COPY busybox /bin/busybox`` from
    the busybox-static package (no internet to pull a base image).
    """

    def __init__(
        self,
        workdir: str | os.PathLike[str],
        *,
        timeout: float = DEFAULT_TIMEOUT,
        isolate_cache: bool = True,
    ):
        self.bin = require("buildah")
        self.cfg = _ContainersConfig(workdir)
        self.timeout = timeout
        d = self.cfg.dir
        self.base = [
            *(self.cfg.cache_prefix() if isolate_cache else []),
            self.bin,
            "--root",
            str(d / "storage"),
            "--runroot",
            str(d / "runroot"),
            "--storage-driver",
            "vfs",
        ]

    def _run(
        self, *args: str, input: str | None = None, cwd: str | None = None
    ) -> subprocess.CompletedProcess[str]:
        env = {**self.cfg.env(), "BUILDAH_ISOLATION": "chroot"}
        return run([*self.base, *args], env=env, timeout=self.timeout, input=input, cwd=cwd)

    def build(
        self,
        context: str | os.PathLike[str],
        tag: str,
        *,
        containerfile: str | None = None,
        format: str = "oci",
        extra: Sequence[str] = (),
    ) -> str:
        """``buildah build`` (a.k.a. bud) -> image ID.

        ``containerfile`` is the file's *text*; it is written to the context.
        """
        ctx = Path(context)
        args = ["build", "--quiet", "--isolation", "chroot", "--format", format, "-t", tag]
        if containerfile is not None:
            (ctx / "Containerfile").write_text(containerfile)
            args += ["-f", str(ctx / "Containerfile")]
        iidfile = self.cfg.tmp / f"iid-{time.monotonic_ns()}"
        args += ["--iidfile", str(iidfile), *extra, str(ctx)]
        self._run(*args)
        return iidfile.read_text().strip()

    def login(self, host: str, user: str, password: str) -> None:
        self._run(
            "login",
            "--authfile",
            str(self.cfg.authfile),
            "--tls-verify=false",
            "--username",
            user,
            "--password-stdin",
            host,
            input=password,
        )

    def push(
        self,
        image: str,
        dest: str,
        *,
        creds: tuple[str, str] | None = None,
        format: str | None = None,
    ) -> str:
        """``buildah push --tls-verify=false [--creds] IMAGE docker://DEST`` -> digest."""
        digestfile = self.cfg.tmp / f"digest-{time.monotonic_ns()}"
        if not dest.startswith(("docker://", "oci:", "oci-archive:", "dir:", "docker-archive:")):
            dest = "docker://" + dest
        args = [
            "push",
            "--quiet",
            "--authfile",
            str(self.cfg.authfile),
            "--tls-verify=false",
            "--digestfile",
            str(digestfile),
        ]
        if format:
            args += ["--format", format]
        self._run(*args, *_creds_args("--creds", creds), image, dest)
        return digestfile.read_text().strip()

    def pull(self, ref: str, *, creds: tuple[str, str] | None = None) -> str:
        args = ["pull", "--quiet", "--authfile", str(self.cfg.authfile)]
        if not ref.startswith(("oci:", "oci-archive:", "docker-archive:", "dir:")):
            args.append("--tls-verify=false")
        return self._run(*args, *_creds_args("--creds", creds), ref).stdout.strip().splitlines()[-1]

    def images(self) -> list[dict[str, Any]]:
        return json.loads(self._run("images", "--json").stdout or "[]")


# --------------------------------------------------------------------------
# containerd
# --------------------------------------------------------------------------


class Containerd(contextlib.AbstractContextManager["Containerd"]):
    """A private containerd daemon (own root/state/socket) plus ``ctr`` recipes.

    Config: only the ``native`` snapshotter (plain copies: no overlayfs), CRI
    and other daemon-ish plugins disabled. The socket lives under ``/tmp``
    because unix socket paths are limited to 108 bytes. Use as a context
    manager; :meth:`stop` kills the daemon and removes the socket dir.
    """

    NAMESPACE = "e2e"

    def __init__(
        self,
        workdir: str | os.PathLike[str],
        *,
        timeout: float = DEFAULT_TIMEOUT,
        http_dump: bool = False,
    ):
        self.containerd = require("containerd")
        self.http_dump = http_dump  # ctr --http-dump: print every request/response
        self.ctr = require("ctr")
        self.dir = Path(workdir)
        self.timeout = timeout
        self.proc: subprocess.Popen[bytes] | None = None
        self.sockdir: Path | None = None
        self.address = ""

    # -- daemon lifecycle ---------------------------------------------------
    def start(self) -> Containerd:
        self.dir.mkdir(parents=True, exist_ok=True)
        self.sockdir = Path(tempfile.mkdtemp(prefix="ctrd-", dir="/tmp"))
        self.address = str(self.sockdir / "containerd.sock")
        root, state = self.dir / "root", self.dir / "state"
        config = self.dir / "config.toml"
        config.write_text(
            "version = 2\n"
            f'root = "{root}"\nstate = "{state}"\n'
            'disabled_plugins = ["io.containerd.grpc.v1.cri",'
            ' "io.containerd.snapshotter.v1.overlayfs",'
            ' "io.containerd.snapshotter.v1.btrfs", "io.containerd.snapshotter.v1.zfs",'
            ' "io.containerd.snapshotter.v1.devmapper", "io.containerd.snapshotter.v1.aufs",'
            ' "io.containerd.tracing.processor.v1.otlp", "io.containerd.internal.v1.tracing"]\n'
            f'[grpc]\n  address = "{self.address}"\n'
            f'[ttrpc]\n  address = "{self.address}.ttrpc"\n'
            '[debug]\n  address = ""\n'
            '[metrics]\n  address = ""\n'
            f'[plugins."io.containerd.internal.v1.opt"]\n  path = "{self.dir / "opt"}"\n'
            '[plugins."io.containerd.runtime.v1.linux"]\n  no_shim = true\n'
        )
        self.log = open(self.dir / "containerd.log", "wb")
        self.proc = subprocess.Popen(
            [self.containerd, "--config", str(config)],
            stdout=self.log,
            stderr=subprocess.STDOUT,
            stdin=subprocess.DEVNULL,
            start_new_session=True,
        )
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise ClientError(
                    [self.containerd],
                    self.proc.returncode,
                    "",
                    self._log_tail(),
                    note="containerd exited during start",
                )
            if os.path.exists(self.address):
                try:
                    self._ctr("version", timeout=5)
                    return self
                except ClientError:
                    pass
            time.sleep(0.1)
        self.stop()
        raise ClientError(
            [self.containerd], None, "", self._log_tail(), note="containerd did not start in 30s"
        )

    def _log_tail(self) -> str:
        try:
            return (self.dir / "containerd.log").read_text(errors="replace")[-4000:]
        except OSError:
            return ""

    def stop(self) -> None:
        if self.proc is not None and self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(10)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(10)
        self.proc = None
        if getattr(self, "log", None):
            self.log.close()
        if self.sockdir is not None:
            shutil.rmtree(self.sockdir, ignore_errors=True)
            self.sockdir = None

    def __enter__(self) -> Containerd:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    # -- ctr recipes -----------------------------------------------------------
    def _ctr(self, *args: str, timeout: float | None = None) -> subprocess.CompletedProcess[str]:
        return run(
            [self.ctr, "--address", self.address, "--namespace", self.NAMESPACE, *args],
            timeout=timeout or self.timeout,
        )

    def pull(
        self,
        ref: str,
        *,
        creds: tuple[str, str] | None = None,
        all_platforms: bool = False,
        platform: str | None = None,
    ) -> None:
        """``ctr images pull --plain-http --snapshotter native [--user u:p] H:P/repo:tag``.

        ctr 1.6 always unpacks the host platform after fetching, so the
        snapshotter must be ``native`` (the default overlayfs is disabled).
        ``all_platforms`` fetches every manifest of an index, which is needed
        to push the whole index back (else push fails on missing content).
        """
        args = [
            "images",
            "pull",
            "--plain-http",
            "--snapshotter",
            "native",
            *_creds_args("--user", creds),
        ]
        if all_platforms:
            args.append("--all-platforms")
        if platform:
            args += ["--platform", platform]
        if self.http_dump:
            args.append("--http-dump")
        self._ctr(*args, ref)

    def push(
        self,
        ref: str,
        local: str | None = None,
        *,
        creds: tuple[str, str] | None = None,
        platform: str | None = None,
    ) -> None:
        """``ctr images push --plain-http [--user u:p] REMOTE [LOCAL]``."""
        args = ["images", "push", "--plain-http", *_creds_args("--user", creds)]
        if self.http_dump:
            args.append("--http-dump")
        if platform:
            args += ["--platform", platform]
        self._ctr(*args, ref, *([local] if local else []))

    def import_archive(self, archive: str | os.PathLike[str], *, all_platforms: bool = True) -> str:
        """``ctr images import`` of an oci-archive (ref names from annotations)."""
        args = ["images", "import", "--snapshotter", "native", "--no-unpack"]
        if all_platforms:
            args.append("--all-platforms")
        return self._ctr(*args, os.fspath(archive)).stdout

    def tag(self, src: str, dst: str) -> None:
        self._ctr("images", "tag", "--force", src, dst)

    def image_digest(self, ref: str) -> str:
        """Top-level digest containerd recorded for ``ref`` (``ctr images ls``)."""
        out = self._ctr("images", "ls").stdout.splitlines()
        for line in out[1:]:
            cols = line.split()
            if cols and cols[0] == ref:
                return next(c for c in cols if c.startswith("sha256:"))
        raise ClientError(["ctr", "images", "ls"], 0, "\n".join(out), "", note=f"{ref} not listed")

    def content_ls(self) -> str:
        return self._ctr("content", "ls").stdout


# --------------------------------------------------------------------------
# reference registry (CNCF Distribution, Debian's docker-registry)
# --------------------------------------------------------------------------


class ReferenceRegistry(contextlib.AbstractContextManager["ReferenceRegistry"]):
    """Debian's ``docker-registry`` (Distribution 2.8) on 127.0.0.1, plain HTTP.

    With ``user``/``password`` it uses htpasswd (bcrypt, ``htpasswd -B``)
    Basic auth. Good as a known-good baseline for the client recipes and for
    benchmarks against Dockyard.
    """

    def __init__(
        self,
        workdir: str | os.PathLike[str],
        *,
        user: str | None = None,
        password: str | None = None,
        port: int | None = None,
    ):
        self.bin = require("docker-registry")
        self.dir = Path(workdir)
        self.user, self.password = user, password
        self.port = port or free_port()
        self.host = f"127.0.0.1:{self.port}"
        self.proc: subprocess.Popen[bytes] | None = None

    def start(self) -> ReferenceRegistry:
        self.dir.mkdir(parents=True, exist_ok=True)
        auth = ""
        if self.user is not None:
            htpasswd = self.dir / "htpasswd"
            out = run([require("htpasswd"), "-Bbn", self.user, self.password or ""]).stdout
            htpasswd.write_text(out.strip() + "\n")
            auth = f"auth:\n  htpasswd:\n    realm: dockyard-e2e\n    path: {htpasswd}\n"
        cfg = self.dir / "config.yml"
        cfg.write_text(
            "version: 0.1\nlog:\n  level: warn\n  accesslog:\n    disabled: true\n"
            f"storage:\n  filesystem:\n    rootdirectory: {self.dir / 'data'}\n"
            "  delete:\n    enabled: true\n"
            f"http:\n  addr: {self.host}\n" + auth
        )
        self.log = open(self.dir / "registry.log", "wb")
        self.proc = subprocess.Popen(
            [self.bin, "serve", str(cfg)],
            stdout=self.log,
            stderr=subprocess.STDOUT,
            stdin=subprocess.DEVNULL,
            start_new_session=True,
        )
        deadline = time.monotonic() + 15
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise ClientError(
                    [self.bin],
                    self.proc.returncode,
                    "",
                    (self.dir / "registry.log").read_text(errors="replace"),
                    note="docker-registry exited during start",
                )
            try:
                urllib.request.urlopen(f"http://{self.host}/v2/", timeout=1)
                return self
            except urllib.error.HTTPError:
                return self  # 401: up, auth enabled
            except OSError:
                time.sleep(0.05)
        self.stop()
        raise ClientError([self.bin], None, "", "", note="docker-registry did not start in 15s")

    def stop(self) -> None:
        if self.proc is not None and self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(10)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(10)
        self.proc = None
        if getattr(self, "log", None):
            self.log.close()

    @property
    def creds(self) -> tuple[str, str] | None:
        return (self.user, self.password or "") if self.user is not None else None

    def __enter__(self) -> ReferenceRegistry:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()


# --------------------------------------------------------------------------
# Python clients: oras, python-dxf
# --------------------------------------------------------------------------


def oras_client(
    host: str,
    user: str | None = None,
    password: str | None = None,
    *,
    workdir: str | os.PathLike[str] | None = None,
    auth_backend: str = "token",
) -> Any:
    """``oras.client.OrasClient`` for a plain-HTTP registry (``insecure=True``).

    ``auth_backend="token"`` (SDK default) answers a ``Bearer realm=...``
    challenge by GETting the realm with Basic credentials; it does NOT handle
    a plain ``Basic`` challenge (it treats the Basic realm as a token URL), so
    use ``auth_backend="basic"`` against the htpasswd reference registry.

    With ``workdir`` it calls ``client.login(config_path=...)``, which only
    writes a docker-style auth file there (no request is made); without it
    credentials are set in memory. Never lets the SDK write ~/.docker.
    Note the SDK still *reads* ~/.docker/config.json (absent here) on push/pull.
    """
    import oras.client

    client = oras.client.OrasClient(hostname=host, insecure=True, auth_backend=auth_backend)
    if user is not None:
        if workdir is not None:
            cfg = Path(workdir) / "oras-docker-config.json"
            cfg.parent.mkdir(parents=True, exist_ok=True)
            client.login(
                username=user, password=password or "", hostname=host, config_path=str(cfg)
            )
        else:
            client.auth.set_basic_auth(user, password or "")
    return client


def oras_push_helm_chart(
    client: Any,
    target: str,
    chart: str | os.PathLike[str],
    *,
    annotations: Mapping[str, str] | None = None,
    subject: Mapping[str, Any] | None = None,
) -> Any:
    """Push a Helm-chart shaped artifact (helm config + chart layer media types).

    ``target`` is ``host:port/ns/repo:tag``; ``chart`` any file (a .tgz).
    ``subject`` (descriptor dict) makes it an OCI 1.1 referrer: the SDK's
    ``push(subject=oras.oci.Subject(...))`` sets ``manifest.subject``. The SDK
    cannot set ``artifactType``; use :func:`push_referrer` for that.
    Returns the ``requests.Response`` of the manifest PUT (its
    ``Docker-Content-Digest`` header is the manifest digest).
    """
    import oras.oci

    chart = Path(chart)
    config = chart.parent / f"{chart.name}.helm-config.json"
    config.write_text(json.dumps({"name": chart.stem, "version": "0.1.0", "apiVersion": "v2"}))
    kwargs: dict[str, Any] = {}
    if subject is not None:
        kwargs["subject"] = oras.oci.Subject(
            subject["mediaType"], subject["digest"], int(subject["size"])
        )
    return client.push(
        target=target,
        files=[f"{chart}:{HELM_CHART_MEDIA_TYPE}"],
        manifest_config=f"{config}:{HELM_CONFIG_MEDIA_TYPE}",
        manifest_annotations=dict(annotations or {}),
        disable_path_validation=True,
        quiet=True,
        **kwargs,
    )


def oras_pull(client: Any, target: str, outdir: str | os.PathLike[str]) -> list[str]:
    """``client.pull`` into ``outdir``; returns the written file paths."""
    return list(client.pull(target=target, outdir=str(outdir)))


def _basic(user: str, password: str) -> str:
    return "Basic " + b64encode(f"{user}:{password}".encode()).decode()


def _http_with_auth(
    method: str,
    url: str,
    *,
    user: str | None,
    password: str | None,
    data: bytes | None = None,
    headers: Mapping[str, str] | None = None,
    timeout: float = 30,
) -> tuple[int, dict[str, str], bytes]:
    """Tiny registry HTTP client handling both Basic and Bearer-token challenges.

    Sends the request; on 401 reads ``WWW-Authenticate``: Basic -> retry with
    Basic credentials; Bearer -> GET realm?service=..&scope=.. with Basic
    credentials, take ``token``/``access_token``, retry with Bearer.
    """
    import re

    def do(hdrs: Mapping[str, str]) -> tuple[int, dict[str, str], bytes]:
        req = urllib.request.Request(url, data=data, method=method, headers=dict(hdrs))
        try:
            with urllib.request.urlopen(req, timeout=timeout) as r:
                return r.status, dict(r.headers.items()), r.read()
        except urllib.error.HTTPError as e:
            return e.code, dict(e.headers.items()), e.read()

    hdrs = dict(headers or {})
    status, rh, body = do(hdrs)
    if status != 401 or user is None:
        return status, rh, body
    chal = next((v for k, v in rh.items() if k.lower() == "www-authenticate"), "")
    if chal.lower().startswith("bearer"):
        params = dict(re.findall(r'(\w+)="([^"]*)"', chal))
        q = urllib.parse.urlencode({k: v for k, v in params.items() if k in ("service", "scope")})
        treq = urllib.request.Request(
            params["realm"] + ("?" + q if q else ""),
            headers={"Authorization": _basic(user, password or "")},
        )
        with urllib.request.urlopen(treq, timeout=timeout) as r:
            tok = json.loads(r.read())
        hdrs["Authorization"] = "Bearer " + (tok.get("token") or tok["access_token"])
    else:
        hdrs["Authorization"] = _basic(user, password or "")
    return do(hdrs)


def push_referrer(
    host: str,
    repo: str,
    subject: Mapping[str, Any],
    *,
    artifact_type: str = "application/vnd.dockyard.test.sbom.v1+json",
    payload: bytes = b'{"sbom": true}',
    annotations: Mapping[str, str] | None = None,
    user: str | None = None,
    password: str | None = None,
) -> dict[str, Any]:
    """Push an OCI 1.1 artifact whose manifest has ``subject`` (a referrer).

    The oras Python SDK (0.2.x) cannot set ``subject``, so this uploads the
    payload blob and the empty config ``{}`` by monolithic POST+PUT and PUTs
    the manifest by digest, handling Basic or Bearer auth itself.
    ``subject`` is a descriptor dict (mediaType, digest, size).
    Returns ``{"digest", "manifest", "headers"}``; ``headers`` of the manifest
    PUT include ``OCI-Subject`` on registries that support the referrers API.
    """
    base = f"http://{host}/v2/{repo}"

    def upload(blob: bytes) -> str:
        digest = _sha256(blob)
        st, h, body = _http_with_auth(
            "POST", f"{base}/blobs/uploads/", user=user, password=password, data=b""
        )
        if st != 202:
            raise ClientError(
                ["POST", base],
                st,
                body.decode(errors="replace"),
                str(h),
                note="upload start failed",
            )
        loc = next(v for k, v in h.items() if k.lower() == "location")
        if loc.startswith("/"):
            loc = f"http://{host}{loc}"
        sep = "&" if "?" in loc else "?"
        st, h, body = _http_with_auth(
            "PUT",
            f"{loc}{sep}digest={digest}",
            user=user,
            password=password,
            data=blob,
            headers={"Content-Type": "application/octet-stream"},
        )
        if st != 201:
            raise ClientError(
                ["PUT", loc], st, body.decode(errors="replace"), str(h), note="blob PUT failed"
            )
        return digest

    empty = b"{}"
    upload(empty)
    upload(payload)
    manifest = {
        "schemaVersion": 2,
        "mediaType": OCI_MANIFEST,
        "artifactType": artifact_type,
        "config": {"mediaType": OCI_EMPTY_JSON, "digest": _sha256(empty), "size": 2},
        "layers": [{"mediaType": artifact_type, "digest": _sha256(payload), "size": len(payload)}],
        "subject": {k: subject[k] for k in ("mediaType", "digest", "size")},
        "annotations": dict(
            annotations or {"org.opencontainers.image.created": "2024-01-01T00:00:00Z"}
        ),
    }
    mbytes = _canon(manifest)
    digest = _sha256(mbytes)
    st, h, body = _http_with_auth(
        "PUT",
        f"{base}/manifests/{digest}",
        user=user,
        password=password,
        data=mbytes,
        headers={"Content-Type": OCI_MANIFEST},
    )
    if st != 201:
        raise ClientError(
            ["PUT", f"{base}/manifests/{digest}"],
            st,
            body.decode(errors="replace"),
            str(h),
            note="manifest PUT failed",
        )
    return {"digest": digest, "manifest": manifest, "headers": h}


def dxf_client(host: str, repo: str, user: str | None = None, password: str | None = None) -> Any:
    """``dxf.DXF`` for a plain-HTTP registry (``insecure=True``) with working auth.

    python-dxf's own ``DXF.authenticate`` refuses to run when ``insecure=True``
    (``DXFAuthInsecureError: Auth requires HTTPS``) and forces the token realm
    to ``https``. So the ``auth`` callback given here does the challenge
    itself: ``Basic`` -> sets a Basic ``Authorization`` header; ``Bearer
    realm=..,service=..,scope=..`` -> GETs the realm (its own scheme kept)
    with Basic credentials and sets ``dxf.token`` (``token``/``access_token``).
    DXF retries the request once when the callback changed the headers.
    """
    import re

    from dxf import DXF

    def auth(d: Any, response: Any) -> None:
        chal = response.headers.get("www-authenticate", "")
        basic = _basic(user or "", password or "")
        if chal.lower().startswith("bearer"):
            params = dict(re.findall(r'(\w+)="([^"]*)"', chal))
            query = {k: params[k] for k in ("service", "scope") if k in params}
            r = d._sessions[0].get(
                params["realm"], params=query, headers={"Authorization": basic}, timeout=30
            )
            r.raise_for_status()
            body = r.json()
            d.token = body.get("access_token") or body["token"]
        else:
            d._headers = {"Authorization": basic}

    return DXF(host, repo, auth=auth if user is not None else None, insecure=True)
