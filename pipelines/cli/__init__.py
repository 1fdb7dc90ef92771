"""The `goodput` command line: parses arguments and calls the same functions the Dagster assets call. One module
per command group; the options they share and the way they print live in `options` and `output`."""

from __future__ import annotations

import argparse
import sys

from pipelines.cli import alerting, analysis, bench, monitoring, pipeline

DESCRIPTION = "goodput: how much of the GPU time a training platform pays for became useful training progress"
BUSY = 3  # the exit code of a writer that gave up waiting for another
GROUPS = (pipeline, analysis, alerting, monitoring, bench)


def main(argv: list[str] | None = None) -> int:
    args = parser().parse_args(argv)
    from pipelines.warehouse import WriterBusy

    try:
        return args.handler(args)
    except WriterBusy as error:
        print(f"goodput {args.command}: {error}", file=sys.stderr)
        return BUSY
    except (ValueError, RuntimeError, OSError) as error:  # our own errors carry a message a user can act on
        print(f"goodput {args.command}: {error}", file=sys.stderr)
        return 2


def parser() -> argparse.ArgumentParser:
    root = argparse.ArgumentParser(prog="goodput", description=DESCRIPTION)
    commands = root.add_subparsers(dest="command", required=True)
    for group in GROUPS:
        group.register(commands)
    return root
