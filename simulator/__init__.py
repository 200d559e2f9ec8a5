"""A simulator of Voiceflow's analytics API (`POST /v2/query/usage`), for tests and demos.

It follows the project's API contract (voiceflow-api.md): deterministic hourly data per
project, cursor pages, 400/401/429 exactly as documented, plus latency, a rate budget and fault
injection on demand.
"""

from simulator.app import SIM_STATE, SimulatorConfig, SimulatorState, create_simulator_app

__all__ = ["SIM_STATE", "SimulatorConfig", "SimulatorState", "create_simulator_app"]
