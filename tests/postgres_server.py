"""A real PostgreSQL server for the tests, from Debian's `postgresql` package: a fresh cluster
in a temporary directory on a random free port, TLS on (a throwaway self-signed certificate,
so `sslmode=require` is tested as Supabase's connection strings use it), no durability.

PostgreSQL refuses to run as root; under root the server runs as the package's `postgres`
user. Tests reach it over TCP only.
"""

from __future__ import annotations

import glob
import os
import pwd
import shutil
import signal
import subprocess
import tempfile
import time
from pathlib import Path

from tests.redis_server import free_port

_SELF_SIGNED = ["openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "2"]
_SELF_SIGNED += ["-subj", "/CN=localhost"]


def _bin(name: str) -> str:
    found = sorted(glob.glob(f"/usr/lib/postgresql/*/bin/{name}"), key=_version)
    if not found:
        raise RuntimeError("PostgreSQL is not installed; `make test` installs it (postgresql)")
    return found[-1]


def _version(path: str) -> int:
    return int(Path(path).parts[4].split(".")[0])


class PostgresServer:
    def __init__(self, port: int | None = None) -> None:
        self.port = port or free_port()
        self.url = f"postgresql://postgres@127.0.0.1:{self.port}/postgres"
        self._dir = tempfile.TemporaryDirectory(prefix="vfac-postgres-")
        self._data = Path(self._dir.name) / "data"
        self._user = "postgres" if os.geteuid() == 0 else None
        self._proc: subprocess.Popen[bytes] | None = None
        self._initdb()

    def _initdb(self) -> None:
        root = Path(self._dir.name)
        run = {"user": self._user, "check": True, "stdout": subprocess.DEVNULL}
        if self._user is not None:
            entry = pwd.getpwnam(self._user)
            os.chown(root, entry.pw_uid, entry.pw_gid)
        subprocess.run(
            [_bin("initdb"), "-D", str(self._data), "-U", "postgres", "--auth=trust", "--no-sync"],
            stderr=subprocess.PIPE,
            **run,  # type: ignore[call-overload]
        )
        subprocess.run(
            [*_SELF_SIGNED, "-keyout", "server.key", "-out", "server.crt"],
            cwd=self._data,
            stderr=subprocess.DEVNULL,
            **run,  # type: ignore[call-overload]
        )
        (self._data / "server.key").chmod(0o600)

    def start(self) -> PostgresServer:
        settings = {
            "listen_addresses": "127.0.0.1",
            "unix_socket_directories": self._dir.name,
            "fsync": "off",
            "synchronous_commit": "off",
            "full_page_writes": "off",
            "max_connections": "400",
            "ssl": "on",
        }
        args = [f"--{name}={value}" for name, value in settings.items()]
        self._proc = subprocess.Popen(
            [_bin("postgres"), "-D", str(self._data), "-p", str(self.port), *args],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
            user=self._user,
        )
        deadline = time.monotonic() + 30
        while self.psql("SELECT 1", check=False).returncode != 0:
            if time.monotonic() > deadline or self._proc.poll() is not None:
                raise RuntimeError(f"postgres did not start on {self.port}")
            time.sleep(0.05)
        return self

    def psql(self, sql: str, check: bool = True) -> subprocess.CompletedProcess[str]:
        return self.psql_url(self.url, sql, check)

    @staticmethod
    def psql_url(url: str, sql: str, check: bool = True) -> subprocess.CompletedProcess[str]:
        """Run `sql` with psql on the database `url` names; its output, unaligned."""
        psql = shutil.which("psql") or _bin("psql")
        return subprocess.run(
            [psql, "-X", "-q", "-At", "-v", "ON_ERROR_STOP=1", "-d", url, "-c", sql],
            capture_output=True,
            text=True,
            check=check,
        )

    def flush(self) -> None:
        self.flush_url(self.url)

    @staticmethod
    def flush_url(url: str) -> None:
        """Empty the store's table (made by the first store that starts), if it is there."""
        PostgresServer.psql_url(
            url,
            "DO $$ BEGIN IF to_regclass('vfac_cache.entries') IS NOT NULL THEN "
            "TRUNCATE vfac_cache.entries; END IF; END $$",
        )

    def send_signal(self, sig: int) -> None:
        """SIGSTOP / SIGCONT pause and resume it; SIGKILL ends it (its data stay on disk, so
        `start()` brings it back with them, on this port)."""
        if self._proc is None:
            return
        self._proc.send_signal(sig)
        if sig == signal.SIGKILL:
            self._proc.wait(10)
            self._proc = None
            for pid_file in self._data.glob("postmaster.pid"):
                pid_file.unlink()  # a killed postmaster leaves it; its children are gone too

    def stop(self) -> None:
        if self._proc is not None:
            self._proc.send_signal(signal.SIGCONT)
            self._proc.send_signal(signal.SIGINT)  # fast shutdown: sessions are cut
            self._proc.wait(30)
            self._proc = None

    def close(self) -> None:
        self.stop()
        self._dir.cleanup()
