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

"""Start-up of the real collector: fail fast, in one line, harming nothing.

Every refusal happens before the socket path is touched: whatever was at
the path (nothing, a regular file, a stale or a live socket) is as it was.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
import shutil
import socket
import stat
import tempfile

import pytest

from oslo_metrics_middleware.collector.process import CollectorProcess
from oslo_metrics_middleware.collector.process import free_port
from tests.functional import collectors
from tests.functional import servers

# Not the collector's 0660, so a replaced file shows even if its inode is
# reused.
STALE_MODE = 0o600


def _stale_socket(path: Path) -> tuple[int, int, int]:
    """A socket file whose process is gone, as a killed collector leaves."""
    with socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM) as dead:
        dead.bind(str(path))
    path.chmod(STALE_MODE)
    return _identity(path)


def _identity(path: Path) -> tuple[int, int, int]:
    found = path.lstat()
    return found.st_ino, found.st_mode, found.st_ctime_ns


def _config_error(tmp_path: Path, text: str) -> list[str]:
    config = tmp_path / "collector.conf"
    config.write_text(text)
    result = collectors.run_with_config(config)
    assert result.returncode == 1
    assert result.stdout == ""
    return result.stderr.splitlines()


def test_missing_configuration_file(tmp_path: Path) -> None:
    missing = tmp_path / "missing.conf"
    result = collectors.run_with_config(missing)
    assert result.returncode == 1
    assert result.stderr.splitlines() == [
        f"{collectors.PROG}: error: configuration file not found: {missing}"
    ]


def test_configuration_path_is_a_directory(tmp_path: Path) -> None:
    result = collectors.run_with_config(tmp_path)
    assert result.returncode == 1
    assert result.stderr.splitlines() == [
        f"{collectors.PROG}: error: cannot read configuration {tmp_path}: "
        "Is a directory"
    ]


def test_unreadable_configuration_file(tmp_path: Path) -> None:
    tmp_path.chmod(0o755)  # the unprivileged collector may reach the file
    config = tmp_path / "secret.conf"
    config.write_text("[oslo_metrics]\n")
    config.chmod(0)
    result = collectors.run_with_config(config, unprivileged=True)
    assert result.returncode == 1
    assert result.stderr.splitlines() == [
        f"{collectors.PROG}: error: configuration file not readable: {config}"
    ]


def test_unparsable_configuration_file(tmp_path: Path) -> None:
    lines = _config_error(tmp_path, "[oslo_metrics\nprometheus_port = 1\n")
    assert len(lines) == 1
    assert lines[0].startswith(f"{collectors.PROG}: error: Failed to parse ")


@pytest.mark.parametrize(
    ("value", "reason"),
    [
        ("99999", "Should be less than or equal to 65535"),
        ("abc", "invalid literal for int() with base 10: 'abc'"),
        ("-1", "Should be greater than or equal to 0"),
    ],
)
def test_bad_port(tmp_path: Path, value: str, reason: str) -> None:
    socket_path = tmp_path / "metrics.sock"
    lines = _config_error(
        tmp_path,
        f"[oslo_metrics]\nmetrics_socket_file = {socket_path}\n"
        f"prometheus_port = {value}\n",
    )
    assert lines == [
        f"{collectors.PROG}: error: invalid value for [oslo_metrics] "
        f"prometheus_port: {reason}"
    ]
    assert not socket_path.exists()


def test_bad_cap(tmp_path: Path) -> None:
    lines = _config_error(tmp_path, "[collector]\nmax_routes = 0\n")
    assert lines == [
        f"{collectors.PROG}: error: invalid value for [collector] "
        "max_routes: Should be greater than or equal to 1"
    ]


def test_bad_host(tmp_path: Path) -> None:
    collector = CollectorProcess(
        workdir=tmp_path, host="no-such-host.invalid", port=free_port()
    )
    message = collectors.error(collector)
    assert message.startswith("cannot use prometheus_host 'no-such-host.invalid': ")
    assert not collector.socket_path.exists()


def test_port_in_use_names_it_and_leaves_the_socket_alone(tmp_path: Path) -> None:
    stale = _stale_socket(tmp_path / "metrics.sock")
    with socket.socket() as holder:
        holder.bind(("127.0.0.1", 0))
        holder.listen()
        port = holder.getsockname()[1]
        collector = CollectorProcess(workdir=tmp_path, port=port)
        assert collectors.error(collector) == (
            f"cannot listen on 127.0.0.1:{port}: Address already in use"
        )
    # Not even the stale socket file was replaced.
    assert _identity(collector.socket_path) == stale


def test_missing_socket_directory_is_named(tmp_path: Path) -> None:
    directory = tmp_path / "no" / "such"
    collector = CollectorProcess(workdir=tmp_path, socket_path=directory / "m.sock")
    assert collectors.error(collector) == (
        f"socket directory does not exist: {directory}"
    )


def test_regular_file_at_socket_path_is_refused_and_kept(tmp_path: Path) -> None:
    precious = tmp_path / "metrics.sock"
    precious.write_text("not a socket\n")
    collector = CollectorProcess(workdir=tmp_path, socket_path=precious)
    assert collectors.error(collector) == (
        f"{precious} exists and is not a socket; refusing to replace it"
    )
    assert precious.read_text() == "not a socket\n"


def test_live_collector_is_detected_and_keeps_working(tmp_path: Path) -> None:
    with CollectorProcess(workdir=tmp_path) as first:
        second = CollectorProcess(workdir=tmp_path, socket_path=first.socket_path)
        assert collectors.error(second) == (
            f"socket {first.socket_path} is in use by a running process "
            "(another collector?); refusing to take it over"
        )
        collectors.send(
            first.socket_path, *[collectors.batch([collectors.row()])] * 10
        )
        series = collectors.wait_datagrams(first, 10)
        assert collectors.DURATION_COUNT in {name for name, _ in series}
        assert servers.requests_counted(series) == 10
        assert first.process is not None and first.process.poll() is None


def test_stream_socket_of_another_program_is_refused(tmp_path: Path) -> None:
    path = tmp_path / "other.sock"
    with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as other:
        other.bind(str(path))
        other.listen()
        collector = CollectorProcess(workdir=tmp_path, socket_path=path)
        assert collectors.error(collector) == (
            f"socket {path} is in use by a running process (another "
            "collector?); refusing to take it over"
        )
        assert path.is_socket()


def test_stale_socket_is_replaced(tmp_path: Path) -> None:
    stale = _stale_socket(tmp_path / "metrics.sock")
    with CollectorProcess(workdir=tmp_path) as collector:
        assert stat.S_IMODE(collector.socket_path.lstat().st_mode) == 0o660
        assert _identity(collector.socket_path) != stale
        collectors.send(collector.socket_path, collectors.batch([collectors.row()]))
        series = collectors.wait_datagrams(collector, 1)
        assert servers.requests_counted(series) == 1
    assert not collector.socket_path.exists()



@pytest.mark.parametrize(
    ("text", "complaint"),
    [
        ("[oslo_metric]\nprometheus_port = 1\n",
         "unknown section [oslo_metric] in {config} (did you mean oslo_metrics?)"),
        ("[oslo_metrics]\nprometheus_prot = 1\n",
         "unknown option prometheus_prot in [oslo_metrics] of {config} "
         "(did you mean prometheus_port?)"),
        ("[collector]\nmax_route = 5\n",
         "unknown option max_route in [collector] of {config} "
         "(did you mean max_routes?)"),
        ("[DEFAULT]\nverbose_logging = true\n",
         "unknown option verbose_logging in [DEFAULT] of {config}"),
        ("[prometheus]\nport = 1\n", "unknown section [prometheus] in {config}"),
    ],
)
def test_unknown_section_or_option_is_named(
    tmp_path: Path, text: str, complaint: str
) -> None:
    config = tmp_path / "collector.conf"
    assert _config_error(tmp_path, text) == [
        f"{collectors.PROG}: error: " + complaint.format(config=config)
    ]


def test_unknown_name_in_a_config_dir_file_is_named(tmp_path: Path) -> None:
    directory = tmp_path / "conf.d"
    directory.mkdir()
    (directory / "10-caps.conf").write_text("[collector]\nmax_sevices = 3\n")
    empty = tmp_path / "empty.conf"
    empty.write_text("")
    result = collectors.run_with_config(empty, "--config-dir", str(directory))
    assert result.returncode == 1
    assert result.stderr.splitlines() == [
        f"{collectors.PROG}: error: unknown option max_sevices in [collector] "
        f"of {directory / '10-caps.conf'} (did you mean max_services?)"
    ]


@pytest.mark.parametrize(
    ("args", "complaint"),
    [
        (("--config-dir", "/nonexistent/conf.d"),
         "Failed to read config file directory: /nonexistent/conf.d"),
        (("--log-file", "/nonexistent/dir/collector.log"),
         "cannot set up logging: [Errno 2] No such file or directory: "
         "'/nonexistent/dir/collector.log'"),
        (("--log-config-append", "{empty}"),
         "cannot set up logging: Error loading logging config {empty}: "
         "{empty} is an empty file"),
    ],
)
def test_bad_command_line_values_are_one_line(
    tmp_path: Path, args: tuple[str, ...], complaint: str
) -> None:
    empty = tmp_path / "empty.conf"
    empty.write_text("")
    result = collectors.run_with_config(
        empty, *(arg.format(empty=empty) for arg in args)
    )
    assert result.returncode == 1
    assert result.stderr.splitlines() == [
        f"{collectors.PROG}: error: " + complaint.format(empty=empty)
    ]


def test_socket_path_too_long_is_one_line(tmp_path: Path) -> None:
    path = tmp_path / ("x" * 120)
    collector = CollectorProcess(workdir=tmp_path, socket_path=path)
    assert collectors.error(collector) == (
        f"cannot bind socket {path}: AF_UNIX path too long"
    )


@pytest.fixture
def public_dir() -> Iterator[Path]:
    """A directory outside root's private pytest tree, for nobody."""
    if not collectors.AS_NOBODY:
        pytest.skip("needs root to drop to nobody")
    directory = Path(tempfile.mkdtemp(prefix="omm-", dir="/tmp"))
    directory.chmod(0o755)
    yield directory
    shutil.rmtree(directory)


def test_privileged_port_as_an_unprivileged_user_is_one_line(
    public_dir: Path,
) -> None:
    public_dir.chmod(0o777)
    collector = CollectorProcess(
        workdir=public_dir, port=1, run_as=collectors.AS_NOBODY
    )
    assert collectors.error(collector) == (
        "cannot listen on 127.0.0.1:1: Permission denied"
    )


def test_socket_directory_not_writable_is_one_line(public_dir: Path) -> None:
    collector = CollectorProcess(workdir=public_dir, run_as=collectors.AS_NOBODY)
    assert collectors.error(collector) == (
        f"cannot bind socket {collector.socket_path}: Permission denied"
    )
