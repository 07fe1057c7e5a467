"""Entry point of the `lco-reduce` command."""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence
from importlib.metadata import version


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="lco-reduce",
        description="Reduce raw LCO imaging frames (bias, dark, flat, science) into science products.",
    )
    parser.add_argument("--version", action="version", version=f"%(prog)s {version('lco-cli')}")
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    parser = build_parser()
    parser.parse_args(argv)
    parser.print_help()
    return 0


if __name__ == "__main__":
    sys.exit(main())
