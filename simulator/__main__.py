"""`python -m simulator --port N`: the simulator as a standalone server."""

from __future__ import annotations

import argparse
import logging
import os
from collections.abc import Mapping, Sequence

from aiohttp import web

from simulator.app import create_simulator_app
from simulator.config import SimulatorConfig

KEY_VARIABLE = "VOICEFLOW_API_KEY"


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="python -m simulator", description="Simulator of Voiceflow's analytics API."
    )
    parser.add_argument("--port", type=int, required=True)
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument(
        "--api-key",
        action="append",
        default=[],
        metavar="KEY",
        help=f"accepted key, repeatable (default: ${KEY_VARIABLE})",
    )
    parser.add_argument(
        "--latency",
        type=float,
        default=0.0,
        metavar="MS",
        help="milliseconds added to each answered request",
    )
    parser.add_argument(
        "--rate",
        type=float,
        default=None,
        metavar="R",
        help="requests per second per API key (default: unlimited)",
    )
    parser.add_argument("--burst", type=int, default=10, metavar="B", help="bucket capacity")
    parser.add_argument(
        "--error-rate",
        type=float,
        default=0.0,
        metavar="X",
        help="share of requests answered 500/502/503",
    )
    parser.add_argument(
        "--timeout-rate",
        type=float,
        default=0.0,
        metavar="X",
        help="share of requests that hang --hang-s seconds",
    )
    parser.add_argument("--hang-s", type=float, default=30.0, metavar="S")
    parser.add_argument("--seed", type=int, default=0, help="seed of the fault RNG")
    return parser


def build_config(
    argv: Sequence[str] | None, environ: Mapping[str, str]
) -> tuple[argparse.Namespace, SimulatorConfig]:
    """Parsed arguments and the config they describe; exits 2 (argparse) when they are bad."""
    parser = _parser()
    args = parser.parse_args(argv)
    keys = tuple(args.api_key) or ((environ[KEY_VARIABLE],) if environ.get(KEY_VARIABLE) else ())
    if not keys:
        parser.error(f"no API key accepted: pass --api-key KEY or set {KEY_VARIABLE}")
    if args.rate is not None and args.rate <= 0:
        parser.error("--rate must be > 0")
    if args.burst < 1:
        parser.error("--burst must be >= 1")
    for flag, value in (("--error-rate", args.error_rate), ("--timeout-rate", args.timeout_rate)):
        if not 0.0 <= value <= 1.0:
            parser.error(f"{flag} must be from 0 to 1")
    if args.latency < 0 or args.hang_s < 0:
        parser.error("--latency and --hang-s must be >= 0")
    config = SimulatorConfig(
        api_keys=keys,
        latency_s=args.latency / 1000.0,
        rate_per_second=args.rate,
        burst=args.burst,
        error_rate=args.error_rate,
        timeout_rate=args.timeout_rate,
        hang_s=args.hang_s,
        seed=args.seed,
    )
    return args, config


def main(argv: Sequence[str] | None = None) -> None:
    args, config = build_config(argv, os.environ)
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(message)s")
    web.run_app(create_simulator_app(config), host=args.host, port=args.port)


if __name__ == "__main__":
    main()
