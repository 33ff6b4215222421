"""What a Slurm job runs: ``python -m phyneo_flows.cluster.worker fireworks --config F singleshot --fw_id N``.

A plain module entry point (no ``phyneo`` script needed on the compute nodes, only this package).
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m phyneo_flows.cluster.worker")
    sub = parser.add_subparsers(dest="route", required=True)
    fw = sub.add_parser("fireworks", help="run one reserved firework")
    fw.add_argument("--config", type=Path, required=True)
    fw.add_argument("mode", choices=["singleshot"])
    fw.add_argument("--fw_id", type=int, required=True)
    args = parser.parse_args(argv)
    from phyneo_flows.cluster.fireworks_route import run_reserved

    return 0 if run_reserved(args.config, args.fw_id) else 1


if __name__ == "__main__":
    sys.exit(main())
