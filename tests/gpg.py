"""Real GnuPG for the signing tests: a keyring in a temporary GNUPGHOME, keys made with
``gpg --batch --quick-gen-key``, and signatures made the guide's way
(``gpg --armor --sign`` over a file holding the image URL and a newline)."""

from __future__ import annotations

import os
import subprocess
from dataclasses import dataclass
from pathlib import Path


@dataclass(frozen=True)
class Key:
    fingerprint: str
    user_id: str


class Keyring:
    """Close it (or use it as a context manager): signing starts a gpg-agent for the home."""

    def __init__(self, home: Path) -> None:
        home.mkdir(mode=0o700, parents=True, exist_ok=True)
        self.home = home

    def __enter__(self) -> Keyring:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def close(self) -> None:
        """Stop the gpg-agent signing started for this home."""
        subprocess.run(
            ["gpgconf", "--kill", "gpg-agent"], env=self.env, capture_output=True, check=False
        )

    @property
    def env(self) -> dict[str, str]:
        return {**os.environ, "GNUPGHOME": str(self.home)}

    def gpg(self, *args: str, stdin: bytes | None = None) -> bytes:
        done = subprocess.run(
            ["gpg", "--batch", "--yes", "--pinentry-mode", "loopback", "--passphrase", "", *args],
            input=stdin,
            capture_output=True,
            env=self.env,
            timeout=120,
            check=False,
        )
        assert done.returncode == 0, done.stderr.decode(errors="replace")
        return done.stdout

    def generate(self, name: str, *, expire: str = "1y", at: str | None = None) -> Key:
        """A signing key; ``at`` (``YYYYMMDDThhmmss``) makes it at that time, so a key made
        in 2020 with ``expire="1d"`` has long expired."""
        user_id = f"{name} <{name}@example.com>"
        faked = ["--faked-system-time", at] if at else []
        self.gpg(*faked, "--quick-gen-key", user_id, "ed25519", "sign", expire)
        listing = self.gpg("--with-colons", "--list-keys", f"<{name}@example.com>").decode()
        fingerprint = next(
            line.split(":")[9] for line in listing.splitlines() if line.startswith("fpr:")
        )
        return Key(fingerprint, user_id)

    def export(self, key: Key) -> str:
        return self.gpg("--armor", "--export", key.fingerprint).decode()

    def sign(self, key: Key, text: str, *, at: str | None = None) -> str:
        """``gpg --armor --sign`` of a file holding ``text`` followed by a newline."""
        url_file = self.home / "image-url.txt"
        url_file.write_text(text + "\n")
        faked = ["--faked-system-time", at] if at else []
        out = self.home / "image-url.txt.asc"
        self.gpg(
            *faked,
            "--local-user",
            key.fingerprint,
            "--armor",
            "--sign",
            "-o",
            str(out),
            str(url_file),
        )
        return out.read_text()

    def revoke(self, key: Key) -> None:
        cert = self.home / "openpgp-revocs.d" / f"{key.fingerprint}.rev"
        text = cert.read_text().replace(
            ":-----BEGIN PGP PUBLIC KEY BLOCK", "-----BEGIN PGP PUBLIC KEY BLOCK"
        )
        self.gpg("--import", stdin=text.encode())
