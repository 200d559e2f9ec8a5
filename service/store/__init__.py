"""The shared store: the Store protocol of primitives (base), Scripts and their twins
(script), the stores (redis, cluster, memory, fallback), leases, every key name (keys), and
opening the one a process runs on (connect)."""
