"""A real Redis Cluster for the tests: 3 masters and 3 replicas of Debian's redis-server on
free ports (client and bus), no persistence, created with `redis-cli --cluster create`."""

from __future__ import annotations

import shutil
import signal
import subprocess
import time
from collections.abc import Callable

import redis
from redis.crc import key_slot

from tests.redis_server import RedisServer, free_port

MASTERS = 3
# Ms a node may be unreachable before the others call it failed and its replica takes over.
# Redis's default is 15 s; a short one keeps the failover test short (it is reported).
NODE_TIMEOUT_MS = 2000


class ClusterNode(RedisServer):
    """One redis-server of the cluster; SIGKILL and `start()` again on the same ports (its
    nodes.conf, in the server's own directory, keeps its identity: it rejoins the cluster)."""

    def __init__(self, node_timeout_ms: int) -> None:
        bus_port = free_port()
        super().__init__(
            extra=[
                *("--cluster-port", str(bus_port)),
                *("--cluster-enabled", "yes", "--cluster-config-file", "nodes.conf"),
                *("--cluster-node-timeout", str(node_timeout_ms)),
                # A replica syncs at once (the default waits 5 s for others to share it).
                *("--repl-diskless-sync-delay", "0"),
            ]
        )

    @property
    def address(self) -> str:
        return f"127.0.0.1:{self.port}"

    def client(self) -> redis.Redis:
        return redis.Redis(host="127.0.0.1", port=self.port, socket_timeout=2)

    def kill(self) -> None:
        self.send_signal(signal.SIGKILL)

    @property
    def running(self) -> bool:
        return self._proc is not None


class RedisCluster:
    def __init__(self, masters: int = MASTERS, node_timeout_ms: int = NODE_TIMEOUT_MS) -> None:
        cli = shutil.which("redis-cli")
        if cli is None:
            raise RuntimeError("redis-cli is not installed; `make test` installs it")
        self.cli = cli
        self.node_timeout_ms = node_timeout_ms
        self.nodes = [ClusterNode(node_timeout_ms) for _ in range(masters * 2)]

    @property
    def url(self) -> str:
        """REDIS_URL for REDIS_MODE=cluster: every node as a seed, comma-separated."""
        return ",".join(f"redis://{node.address}" for node in self.nodes)

    def start(self) -> RedisCluster:
        try:
            for node in self.nodes:
                node.start()
            subprocess.run(
                [
                    self.cli,
                    "--cluster",
                    "create",
                    *(node.address for node in self.nodes),
                    *("--cluster-replicas", "1", "--cluster-yes"),
                ],
                check=True,
                capture_output=True,
                timeout=60,
            )
            self.wait_healthy()
        except BaseException:
            self.close()
            raise
        return self

    def wait_healthy(self, within: float = 30.0, replicated: bool = True) -> None:
        """Every running node says `cluster_state:ok` and sees the same masters; when
        `replicated`, every master also has an in-sync replica that every node knows of
        (a failover then has someone to promote, and the master accepts it)."""
        _wait(lambda: self._healthy(replicated), within, "a healthy cluster on every node")

    def _healthy(self, replicated: bool) -> bool:
        views = set()
        for node in self.nodes:
            if not node.running:
                continue
            client = node.client()
            try:
                if client.execute_command("CLUSTER INFO")["cluster_state"] != "ok":
                    return False
                masters, replicas = self._seen_by(client)
                views.add(frozenset(masters))
                info = client.info("replication")
                if info["role"] == "slave" and info.get("master_link_status") != "up":
                    return False
                if replicated and (replicas < len(masters) or not _synced(info)):
                    return False
            except redis.RedisError:
                return False
            finally:
                client.close()
        return len(views) == 1

    @staticmethod
    def _seen_by(client: redis.Redis) -> tuple[list[str], int]:
        """The masters holding slots, and the replicas of them, as one node sees them (none
        failed)."""
        nodes = client.execute_command("CLUSTER NODES")  # parsed: address -> fields
        live = {a: f for a, f in nodes.items() if "fail" not in f["flags"]}
        masters = {
            f["node_id"]: a for a, f in live.items() if "master" in f["flags"] and f["slots"]
        }
        replicas = sum("slave" in f["flags"] and f["master_id"] in masters for f in live.values())
        return [a.split("@")[0] for a in masters.values()], replicas

    def masters(self) -> list[ClusterNode]:
        """The running nodes that are masters now."""
        found = []
        for node in self.nodes:
            if not node.running:
                continue
            client = node.client()
            try:
                if client.info("replication")["role"] == "master":
                    found.append(node)
            finally:
                client.close()
        return found

    def owner(self, key: str) -> ClusterNode:
        """The master that holds `key`'s slot now."""
        slot = key_slot(key.encode())
        client = self.masters()[0].client()
        try:
            ranges = client.execute_command("CLUSTER SLOTS")
        finally:
            client.close()
        port = next(int(r[2][1]) for r in ranges if int(r[0]) <= slot <= int(r[1]))
        return next(node for node in self.nodes if node.port == port)

    def replica_of(self, master: ClusterNode) -> ClusterNode:
        client = master.client()
        try:
            port = int(client.info("replication")["slave0"]["port"])
        finally:
            client.close()
        return next(node for node in self.nodes if node.port == port)

    def fail_over(self, master: ClusterNode) -> ClusterNode:
        """`CLUSTER FAILOVER` on the master's replica (the graceful kind); the new master."""
        replica = self.replica_of(master)
        client = replica.client()
        try:
            client.execute_command("CLUSTER FAILOVER")
        finally:
            client.close()
        _wait(lambda: replica in self.masters(), 10, f"{replica.address} promoted")
        self.wait_healthy()
        return replica

    def flush(self) -> None:
        """FLUSHALL on each master (replicas follow)."""
        for node in self.masters():
            client = node.client()
            try:
                client.flushall()
            finally:
                client.close()

    def close(self) -> None:
        for node in self.nodes:
            node.close()


def _synced(info: dict[str, object]) -> bool:
    """A master has a replica online (a replica: nothing more to ask)."""
    return info["role"] != "master" or int(str(info.get("connected_slaves", 0))) >= 1


def _wait(condition: Callable[[], bool], within: float, what: str) -> None:
    deadline = time.monotonic() + within
    while True:
        if condition():
            return
        if time.monotonic() > deadline:
            raise RuntimeError(f"{what}: not within {within} s")
        time.sleep(0.05)
