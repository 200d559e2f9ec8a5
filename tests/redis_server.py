"""A real redis-server process for the tests: random free port, no persistence."""

from __future__ import annotations

import shutil
import signal
import socket
import subprocess
import tempfile
import time
from collections.abc import Sequence

import redis


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port: int = s.getsockname()[1]
        return port


class RedisServer:
    def __init__(self, port: int | None = None, extra: Sequence[str] = ()) -> None:
        """`extra`: more redis-server arguments (a cluster node's)."""
        binary = shutil.which("redis-server")
        if binary is None:
            raise RuntimeError("redis-server is not installed; `make test` installs it")
        self.binary = binary
        self.port = port or free_port()
        self.url = f"redis://127.0.0.1:{self.port}/0"
        self._dir = tempfile.TemporaryDirectory(prefix="vfac-redis-")
        self._extra = list(extra)
        self._proc: subprocess.Popen[bytes] | None = None

    def start(self) -> RedisServer:
        self._proc = subprocess.Popen(
            [
                self.binary,
                "--port",
                str(self.port),
                "--bind",
                "127.0.0.1",
                "--save",
                "",
                "--appendonly",
                "no",
                "--dir",
                self._dir.name,
                "--protected-mode",
                "no",
                *self._extra,
            ],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        client = redis.Redis.from_url(self.url)
        deadline = time.monotonic() + 10
        while True:
            try:
                client.ping()
                break
            except redis.ConnectionError:
                if time.monotonic() > deadline or self._proc.poll() is not None:
                    raise RuntimeError(f"redis-server did not start on {self.port}") from None
                time.sleep(0.02)
        client.close()
        return self

    def send_signal(self, sig: int) -> None:
        """Signal the server: SIGSTOP / SIGCONT pause and resume it; SIGKILL ends it, and
        its data with it (no persistence), so `start()` brings it back empty on this port."""
        if self._proc is None:
            return
        self._proc.send_signal(sig)
        if sig == signal.SIGKILL:
            self._proc.wait(10)
            self._proc = None

    def stop(self) -> None:
        if self._proc is not None:
            self._proc.send_signal(signal.SIGCONT)  # a paused server cannot act on SIGTERM
            self._proc.terminate()
            self._proc.wait(10)
            self._proc = None

    def flush(self) -> None:
        self.flush_url(self.url)

    @staticmethod
    def flush_url(url: str) -> None:
        client = redis.Redis.from_url(url)
        client.flushall()
        client.close()

    def close(self) -> None:
        self.stop()
        self._dir.cleanup()
