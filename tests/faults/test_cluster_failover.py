"""A Redis Cluster master SIGKILLed under load (REDIS_MODE=cluster): its replica is promoted
and the service goes back to the cluster by itself.

The master killed is the one holding the notification channel's slot, so the fault takes a
third of the keys and every process's pub/sub subscription at once. Held to the fault
matrix's contract (harness.violations, the reference's answers, a clean log); prints one
`FAULT` line with how long the failover and the service's recovery took.
"""

from __future__ import annotations

import asyncio
import time

import pytest

from service.store.fallback import PROBE_EVERY
from service.store.keys import Keys
from tests.faults.fleet import COLD, WARM, clean_log, fresh_sim, latencies, warm_up, web_env
from tests.faults.harness import (
    SLACK,
    Load,
    Reference,
    all_hit,
    not_degraded,
    report,
    seconds_until,
    seen_by_client,
    session,
    violations,
    wrong_answers,
)
from tests.processes import Process, start_service
from tests.redis_cluster import NODE_TIMEOUT_MS, ClusterNode, RedisCluster

CHANNEL = Keys("voiceflow").done_channel
# The others mark the master failed after the node timeout; its replica waits 0.5-1 s more
# before it asks to be elected; then the service's probe finds every master within a probe.
PROMOTED_WITHIN = 3 * NODE_TIMEOUT_MS / 1000 + SLACK
BACK_WITHIN = PROMOTED_WITHIN + PROBE_EVERY + SLACK
REFILL_WITHIN = BACK_WITHIN + 15  # what was fetched into memory meanwhile, stored again


def promoted(cluster: RedisCluster, replica: ClusterNode) -> bool:
    return replica in cluster.masters()


def subscribed_on_owner(cluster: RedisCluster) -> bool:
    """The web process's listener SSUBSCRIBEd on the channel's master as it is now."""
    client = cluster.owner(CHANNEL).client()
    try:
        return bool(client.pubsub_shardnumsub(CHANNEL) == [(CHANNEL.encode(), 1)])
    finally:
        client.close()


@pytest.mark.timeout(150)
async def test_cluster_master_sigkilled_and_its_replica_promoted(
    sim_proc: Process, reference: Reference, own_cluster: RedisCluster
) -> None:
    """A master SIGKILLed under load: no 500, none past its deadline, every answer the
    reference's; once its replica is promoted the process is back on the cluster (not
    degraded), the warm answers are HIT from it again, and notifications follow the shard."""
    fresh_sim(sim_proc)
    web = start_service(web_env(sim_proc, own_cluster.url, REDIS_MODE="cluster"))
    victim = own_cluster.owner(CHANNEL)
    replica = own_cluster.replica_of(victim)
    try:
        async with session() as http:
            await warm_up(http, web.url, WARM)
            async with Load(http, web.url, WARM, COLD, clients=8) as load:
                await asyncio.sleep(3)
                await asyncio.to_thread(victim.kill)
                killed = time.monotonic()
                failed_over = await seconds_until(
                    lambda: asyncio.to_thread(promoted, own_cluster, replica),
                    killed,
                    PROMOTED_WITHIN,
                )
                on_cluster = await seconds_until(
                    lambda: not_degraded(http, web.url), killed, BACK_WITHIN
                )
                asked = {s.question for s in load.between(0, killed + on_cluster)}
                sweep = [*WARM, *sorted(asked - set(WARM), key=str)]
                refilled, followed = await asyncio.gather(
                    seconds_until(lambda: all_hit(http, web.url, sweep), killed, REFILL_WITHIN),
                    seconds_until(
                        lambda: asyncio.to_thread(subscribed_on_owner, own_cluster),
                        killed,
                        REFILL_WITHIN,
                    ),
                )
                await asyncio.sleep(2)  # the load goes on, on the recovered cluster
                assert await not_degraded(http, web.url)
            await clean_log(web, answered=len(load.samples))
            bad = violations(load.samples)
            wrong = await wrong_answers(http, web.url, reference, load.answers)
    finally:
        web.stop()
    assert not bad, bad[:10]
    assert not wrong, wrong[:10]
    down = load.between(killed, killed + on_cluster)
    report(
        "Redis Cluster master SIGKILLed (its replica promoted)",
        seen_by_client(load.between(killed, killed + refilled)),
        on_cluster,
        f"replica promoted {failed_over:.1f} s after the kill (cluster-node-timeout "
        f"{own_cluster.node_timeout_ms / 1000:g} s); back on the cluster (not degraded) "
        f"{on_cluster:.1f} s after it; {len(sweep)} answers HIT from the cluster "
        f"{refilled:.1f} s after it; listener on the new master {followed:.1f} s after it; "
        f"until back {latencies(down)} over {len(down)} requests; {len(load.samples)} "
        f"requests in all, {len(load.answers.seen)} answers checked against the reference, "
        "0 wrong",
    )
