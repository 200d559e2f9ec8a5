"""A simulator of Voiceflow's analytics API (`POST /v2/query/usage`), for tests and demos.

It follows the project's API contract (voiceflow-api.md): deterministic hourly data per
project, cursor pages, 400/401/429 exactly as documented, plus latency, a rate budget and fault
injection on demand: error statuses, hangs, and garbage 200s that break the contract in one
named way each (garbage.py). Nothing deviates unless asked; control.py lists the /_sim/ calls.
"""

from simulator.app import SIM_STATE, SimulatorConfig, SimulatorState, create_simulator_app

__all__ = ["SIM_STATE", "SimulatorConfig", "SimulatorState", "create_simulator_app"]
