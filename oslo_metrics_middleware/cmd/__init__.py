# Licensed under the Apache License, Version 2.0 (the "License"); you may
# not use this file except in compliance with the License. You may obtain
# a copy of the License at
#
#      http://www.apache.org/licenses/LICENSE-2.0
#
# Unless required by applicable law or agreed to in writing, software
# distributed under the License is distributed on an "AS IS" BASIS, WITHOUT
# WARRANTIES OR CONDITIONS OF ANY KIND, either express or implied. See the
# License for the specific language governing permissions and limitations
# under the License.

"""The ``oslo-metrics-middleware`` command."""

from __future__ import annotations

import argparse
from collections.abc import Sequence
from pathlib import Path
import sys
from typing import Any

from oslo_metrics_middleware import version

PROG = "oslo-metrics-middleware"


class _Parser(argparse.ArgumentParser):
    """Reports unknown arguments with the usage of the command that got them.

    argparse hands a subcommand's leftovers to the top-level parser, whose
    error then shows the wrong usage; here each level checks its own.  A
    passthrough command (``collector``, ``report``) keeps its leftovers for
    the program it hands them to.
    """

    def parse_known_args(  # type: ignore[override]
        self, args: Sequence[str] | None = None, namespace: Any = None
    ) -> tuple[argparse.Namespace, list[str]]:
        parsed, extras = super().parse_known_args(args, namespace)
        if extras and not getattr(parsed, "passthrough", False):
            self.error("unrecognized arguments: " + " ".join(extras))
        return parsed, extras


def _collector(args: argparse.Namespace, extra: list[str]) -> int:
    from oslo_metrics_middleware.collector import daemon

    return daemon.run(extra)


def _demo(args: argparse.Namespace, extra: list[str]) -> int:
    try:
        from oslo_metrics_middleware.demo import driver
    except ImportError as exc:
        return _fail(
            "demo",
            f"{exc.name} is not installed; the demo needs the demo extra: "
            "pip install 'oslo-metrics-middleware[demo]'",
        )
    return driver.run(
        requests=args.requests, concurrency=args.concurrency, serve=args.serve
    )


def _report(args: argparse.Namespace, extra: list[str]) -> int:
    from oslo_metrics_middleware.report import cli

    return cli.main(extra)


def _assets(args: argparse.Namespace, extra: list[str]) -> int:
    from oslo_metrics_middleware import assets

    try:
        if args.write is None:
            paths = [assets.path(name) for name in assets.names()]
        else:
            paths = assets.write(args.write, overwrite=args.force)
    except assets.AssetError as exc:
        return _fail("assets", str(exc))
    print("\n".join(str(path) for path in paths))
    return 0


def _paste(args: argparse.Namespace, extra: list[str]) -> int:
    from oslo_metrics_middleware import paste_file

    if args.service_name is not None and args.action == "remove":
        args.parser.error("--service-name applies to add and check, not remove")
    if args.dry_run and args.action == "check":
        args.parser.error("--dry-run applies to add and remove, not check")
    try:
        paste = paste_file.read(args.file)
        for note in paste.unknown_composites():
            sys.stderr.write(f"{PROG} paste: note: {args.file}: {note}\n")
        if args.action == "check":
            problems = paste_file.check(paste, args.service_name)
            for problem in problems:
                print(f"{args.file}: {problem}")
            if not problems:
                count = len(paste.pipelines())
                print(f"{args.file}: {paste_file.FILTER} is first in all "
                      f"{count} pipelines")
            return 1 if problems else 0
        if args.action == "add":
            text, changes = paste_file.add(paste, args.service_name)
        else:
            text, changes = paste_file.remove(paste)
        if args.dry_run:
            sys.stdout.write(paste_file.diff(paste.text, text, args.file))
            return 0
        if changes:
            paste_file.write(args.file, text)
    except paste_file.PasteFileError as exc:
        return _fail("paste", str(exc))
    for change in changes or ["unchanged"]:
        print(f"{args.file}: {change}")
    return 0


def _slo(args: argparse.Namespace, extra: list[str]) -> int:
    from oslo_metrics_middleware.slo import files

    try:
        paths, notes = files.write(args.objectives, args.output_dir,
                                   args.time_scale, args.all_tiers,
                                   args.force)
    except files.FilesError as exc:
        return _fail("slo", str(exc))
    for note in notes:
        sys.stderr.write(f"{PROG} slo: note: {note}\n")
    print("\n".join(str(path) for path in paths))
    return 0


def _fail(command: str, message: str) -> int:
    sys.stderr.write(f"{PROG} {command}: error: {message}\n")
    return 1


def build_parser() -> argparse.ArgumentParser:
    parser = _Parser(
        prog=PROG,
        description="API request metrics for OpenStack services.",
        allow_abbrev=False,
    )
    parser.add_argument(
        "--version", action="version", version=f"{PROG} {version.version_string()}"
    )
    commands = parser.add_subparsers(
        dest="command", metavar="COMMAND", title="commands"
    )
    _add_collector(commands)
    _add_demo(commands)
    _add_report(commands)
    _add_assets(commands)
    _add_paste(commands)
    _add_slo(commands)
    return parser


def _add_collector(commands: argparse._SubParsersAction[_Parser]) -> None:
    collector = commands.add_parser(
        "collector",
        allow_abbrev=False,
        usage="%(prog)s [-h] [--config-file FILE] [DAEMON-OPTION ...]",
        help="run the per-host collector that Prometheus scrapes",
        description="Receive the oslo.metrics datagrams of every API "
        "process on the host (and oslo.messaging's RPC metrics) over a unix "
        "socket, check and cap them, and serve them on /metrics. Every "
        "other argument is oslo.config's: --config-file with [oslo_metrics] "
        "and [collector] sections, --config-dir, --debug, --log-file.",
    )
    collector.set_defaults(handler=_collector, passthrough=True)


def _add_demo(commands: argparse._SubParsersAction[_Parser]) -> None:
    demo = commands.add_parser(
        "demo",
        allow_abbrev=False,
        help="measure a sample API end to end and print a per-endpoint table",
        description="Start a collector and a sample compute API (a paste "
        "pipeline with the metrics filter first) on loopback, send requests "
        "to it, and print the latency, errors and sizes per endpoint that "
        "the collector measured. Needs the demo extra: "
        "pip install 'oslo-metrics-middleware[demo]'.",
    )
    demo.add_argument(
        "--requests",
        type=positive,
        default=3000,
        help="requests to send (default: %(default)s)",
    )
    demo.add_argument(
        "--concurrency",
        type=positive,
        default=8,
        help="parallel clients (default: %(default)s)",
    )
    demo.add_argument(
        "--serve",
        action="store_true",
        help="keep the API and collector running until Ctrl-C or SIGTERM",
    )
    demo.set_defaults(handler=_demo, passthrough=False)


def _add_report(commands: argparse._SubParsersAction[_Parser]) -> None:
    # The report parses its own options (and --help) in report.cli.
    report = commands.add_parser(
        "report",
        add_help=False,
        allow_abbrev=False,
        help="per-endpoint latency and capacity report from Prometheus "
        "or from scrapes of the collectors",
    )
    report.set_defaults(handler=_report, passthrough=True)


def _add_assets(commands: argparse._SubParsersAction[_Parser]) -> None:
    assets = commands.add_parser(
        "assets",
        allow_abbrev=False,
        help="list or copy the operator files shipped in the package",
        description="Print the installed paths of the files operators "
        "deploy: sample paste pipeline and configurations, the collector's "
        "systemd unit, the Grafana dashboard and the Prometheus recording "
        "and alerting rules (with their promtool tests). With --write, "
        "copy them below a folder instead, keeping their layout.",
    )
    assets.add_argument(
        "--write",
        type=Path,
        metavar="DIR",
        help="copy every file below DIR and print the copies' paths; "
        "existing files are kept unless --force is given",
    )
    assets.add_argument(
        "--force",
        action="store_true",
        help="with --write, replace files that already exist",
    )
    assets.set_defaults(handler=_assets, passthrough=False)


def _add_paste(commands: argparse._SubParsersAction[_Parser]) -> None:
    paste = commands.add_parser(
        "paste",
        allow_abbrev=False,
        help="put the metrics filter in every pipeline of an api-paste.ini",
        description="add: put the metrics filter first in every pipeline of "
        "a paste file ([pipeline:*] sections, and each pipeline of a "
        "[composite:*] whose factory is a pipeline factory, as nova, "
        "cinder, glance, neutron, heat and manila use) and define its "
        "[filter:metrics] section; nothing else in the file changes, and "
        "adding twice changes nothing more. remove: take the filter out of "
        "every pipeline and remove its section, which gives back the file "
        "as it was before add. check: print each pipeline the filter is "
        "not first in and exit with status 1 if there is one.",
    )
    paste.add_argument(
        "action", choices=("add", "remove", "check"), metavar="{add,remove,check}",
        help="what to do",
    )
    paste.add_argument("file", type=Path, metavar="FILE", help="the paste file")
    paste.add_argument(
        "--service-name",
        metavar="NAME",
        help="add: the value of the service label, set in [filter:metrics]; "
        "check: also check that it is set to NAME (default: the filter "
        "finds the service's name itself, see the service_name option)",
    )
    paste.add_argument(
        "--dry-run",
        action="store_true",
        help="add, remove: print the change as a unified diff and leave the "
        "file as it is",
    )
    paste.set_defaults(handler=_paste, passthrough=False, parser=paste)


def _add_slo(commands: argparse._SubParsersAction[_Parser]) -> None:
    slo = commands.add_parser(
        "slo",
        allow_abbrev=False,
        help="Prometheus rules and burn-rate alerts for service level "
        "objectives",
        description="rules: read an objectives file and write, below DIR, "
        "Prometheus recording rules for the share of bad requests of each "
        "objective, multi-window burn-rate alerts on them (page on a 14.4x "
        "burn over 1h and 5m, ticket on 6x over 6h and 30m), and promtool "
        "unit tests that check each alert fires on a burn and stays silent "
        "without one: promtool test rules DIR/*.test.yaml.",
    )
    slo.add_argument("action", choices=("rules",), metavar="{rules}",
                     help="what to do")
    slo.add_argument("objectives", type=Path, metavar="OBJECTIVES",
                     help="the objectives file (INI, [objective:NAME] "
                     "sections)")
    slo.add_argument("--output-dir", type=Path, metavar="DIR",
                     required=True, help="folder for the rules and tests")
    slo.add_argument("--all-tiers", action="store_true",
                     help="also ticket on 3x over 1d and 2h and on 1x over "
                     "3d and 6h")
    slo.add_argument("--time-scale", type=_scale, default=1.0,
                     metavar="N",
                     help="divide every window and the evaluation interval "
                     "by N (1 to 300), to try the alerts in minutes on a "
                     "test Prometheus; never for production")
    slo.add_argument("--force", action="store_true",
                     help="replace files that already exist")
    slo.set_defaults(handler=_slo, passthrough=False)


def _scale(text: str) -> float:
    from oslo_metrics_middleware.slo import rules

    try:
        value = float(text)
        rules.check_time_scale(value)
    except ValueError as exc:
        raise argparse.ArgumentTypeError(
            str(exc) if isinstance(exc, rules.RulesError)
            else f"not a number: {text!r}") from None
    return value


def positive(text: str) -> int:
    """An argument that is a whole number of at least 1."""
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
    if args.command is None:
        parser.error(
            "a command is required: collector, demo, report, assets, paste or slo"
        )
    try:
        return int(args.handler(args, extra))
    except KeyboardInterrupt:
        return 130


if __name__ == "__main__":
    sys.exit(main())
