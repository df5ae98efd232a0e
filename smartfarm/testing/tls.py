"""A throwaway certificate authority for tests, made with the openssl command."""

from __future__ import annotations

import shutil
import subprocess
from dataclasses import dataclass
from pathlib import Path


@dataclass(frozen=True, slots=True)
class LocalCa:
    """A CA, a server certificate for 127.0.0.1/localhost and a client certificate."""

    ca_cert: Path
    server_cert: Path
    server_key: Path
    client_cert: Path
    client_key: Path


def _openssl(*args: str, cwd: Path) -> None:
    binary = shutil.which("openssl")
    if binary is None:
        raise RuntimeError("openssl is not installed: apt-get install openssl")
    subprocess.run([binary, *args], cwd=cwd, check=True, capture_output=True, timeout=60)


def _new_key(workdir: Path, name: str) -> None:
    _openssl("ecparam", "-name", "prime256v1", "-genkey", "-noout", "-out", name, cwd=workdir)


def _issue(workdir: Path, name: str, subject: str, extensions: str) -> None:
    """A P-256 key and a certificate signed by ``ca`` in ``workdir``."""
    _openssl(
        "ecparam", "-name", "prime256v1", "-genkey", "-noout", "-out", f"{name}.key", cwd=workdir
    )
    _openssl(
        "req", "-new", "-key", f"{name}.key", "-subj", subject, "-out", f"{name}.csr", cwd=workdir
    )
    (workdir / f"{name}.ext").write_text(extensions, encoding="utf-8")
    _openssl(
        "x509", "-req", "-in", f"{name}.csr", "-CA", "ca.crt", "-CAkey", "ca.key",
        "-CAcreateserial", "-days", "2", "-sha256", "-extfile", f"{name}.ext",
        "-out", f"{name}.crt", cwd=workdir,
    )  # fmt: skip


def make_test_ca(workdir: Path) -> LocalCa:
    """Create the CA and both certificates under ``workdir`` (valid two days)."""
    workdir.mkdir(parents=True, exist_ok=True)
    _new_key(workdir, "ca.key")
    _openssl(
        "req", "-x509", "-new", "-key", "ca.key", "-sha256", "-days", "2",
        "-subj", "/CN=smartfarm test CA", "-out", "ca.crt",
        "-addext", "basicConstraints=critical,CA:TRUE",
        "-addext", "keyUsage=critical,keyCertSign,cRLSign", cwd=workdir,
    )  # fmt: skip
    _issue(
        workdir,
        "server",
        "/CN=localhost",
        "subjectAltName=IP:127.0.0.1,DNS:localhost\nextendedKeyUsage=serverAuth\n",
    )
    _issue(workdir, "client", "/CN=smartfarm-test-client", "extendedKeyUsage=clientAuth\n")
    return LocalCa(
        workdir / "ca.crt",
        workdir / "server.crt",
        workdir / "server.key",
        workdir / "client.crt",
        workdir / "client.key",
    )
