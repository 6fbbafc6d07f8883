"""The ``oslo-metrics-middleware`` command."""

from __future__ import annotations

import argparse
from collections.abc import Sequence
import sys


def _collector(args: argparse.Namespace, extra: list[str]) -> int:
    from oslo_metrics_middleware.collector import daemon

    daemon.run(extra)
    return 0


def _demo(args: argparse.Namespace, extra: list[str]) -> int:
    from oslo_metrics_middleware.demo import driver

    return driver.run(
        requests=args.requests, concurrency=args.concurrency, serve=args.serve
    )


def _report(args: argparse.Namespace, extra: list[str]) -> int:
    from oslo_metrics_middleware.report import cli

    return cli.main(extra)


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="oslo-metrics-middleware",
        description="API request metrics for OpenStack services.",
    )
    commands = parser.add_subparsers(dest="command", required=True)

    collector = commands.add_parser(
        "collector",
        help="run the oslo.metrics daemon with the API metrics loaded",
        description="Run the upstream oslo.metrics daemon with this "
        "project's metric definitions. Every other argument goes to the "
        "daemon, e.g. --config-file with an [oslo_metrics] section.",
    )
    collector.set_defaults(handler=_collector, passthrough=True)

    demo = commands.add_parser(
        "demo",
        help="measure a sample API end to end and print a per-endpoint table",
    )
    demo.add_argument(
        "--requests",
        type=_positive,
        default=3000,
        help="requests to send (default: %(default)s)",
    )
    demo.add_argument(
        "--concurrency",
        type=_positive,
        default=8,
        help="parallel clients (default: %(default)s)",
    )
    demo.add_argument(
        "--serve",
        action="store_true",
        help="keep the API and collector running afterwards",
    )
    demo.set_defaults(handler=_demo, passthrough=False)

    report = commands.add_parser(
        "report",
        add_help=False,
        help="per-endpoint latency and capacity report from Prometheus "
        "or from scrapes of the collectors",
        description="See 'oslo-metrics-middleware report --help'.",
    )
    report.set_defaults(handler=_report, passthrough=True)
    return parser


def _positive(text: str) -> int:
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"not a whole number: {text!r}") from None
    if value < 1:
        raise argparse.ArgumentTypeError(f"must be at least 1: {value}")
    return value


def main(argv: Sequence[str] | None = None) -> int:
    parser = build_parser()
    args, extra = parser.parse_known_args(argv)
    if extra and not args.passthrough:
        parser.error("unrecognized arguments: " + " ".join(extra))
    try:
        return int(args.handler(args, extra))
    except KeyboardInterrupt:
        return 130


if __name__ == "__main__":
    sys.exit(main())
