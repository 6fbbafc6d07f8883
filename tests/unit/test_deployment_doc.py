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

"""The per-service table of ``deployment.rst`` against the releases' files.

Each paste row must name the file the release ships and exactly the
sections ``paste add`` edits in it, and its command must work on that file
as written; each wrapper row must name an entry point the release has and
match the uWSGI and mod_wsgi lines above it; the CI column must name the
tests that run the service, no more and no fewer.
"""

from __future__ import annotations

import ast
from pathlib import Path
import re
import shlex
import shutil

import pytest

from oslo_metrics_middleware import cmd
from oslo_metrics_middleware import paste_file
from tests.openstack import tier

REPO = Path(__file__).resolve().parents[2]
GUIDE = REPO / "doc/source/deployment.rst"
OPENSTACK = REPO / ".venv-openstack"
SERVICES = {
    "nova", "cinder", "glance", "neutron", "heat", "manila",
    "keystone", "placement", "ironic",
}
LITERAL = re.compile(r"``([^`]+)``")


def table() -> dict[str, list[str]]:
    """Service -> its cells, from the ``Per service`` list-table."""
    text = GUIDE.read_text()
    body = text.split(".. list-table:: Per service\n", 1)[1]
    body = body.split("\n\n", 2)[1]  # options, then the rows
    rows: dict[str, list[str]] = {}
    for row in body.split("   * - ")[2:]:  # the header row is first
        cells = [" ".join(cell.split()) for cell in row.split("\n     - ")]
        rows[cells[0]] = cells[1:]
    return rows


def shipped(path: str) -> Path:
    """Where the wheel of the service installed ``/etc/...``."""
    found = OPENSTACK / path.removeprefix("/")
    if not found.is_file():
        pytest.skip("no .venv-openstack: tools/test.sh makes it")
    return found


def literal(cell: str) -> str:
    """The text of a cell that is one literal."""
    found = LITERAL.fullmatch(cell)
    assert found, cell
    return found.group(1)


def module_source(module: str) -> Path:
    """The source file of ``module`` in the OpenStack venv."""
    relative = module.replace(".", "/")
    for site in sorted(OPENSTACK.glob("lib/python3*/site-packages")):
        for candidate in (site / f"{relative}.py", site / relative / "__init__.py"):
            if candidate.is_file():
                return candidate
    if not OPENSTACK.is_dir():
        pytest.skip("no .venv-openstack: tools/test.sh makes it")
    raise AssertionError(f"{module} is not installed in {OPENSTACK}")


def test_the_table_has_a_row_for_every_service() -> None:
    assert set(table()) == SERVICES
    assert all(len(cells) == 4 for cells in table().values())


PASTE_ROWS = sorted(name for name, cells in table().items()
                    if cells[0].startswith("``/etc/"))


def test_the_services_with_a_paste_file_are_the_six() -> None:
    assert PASTE_ROWS == ["cinder", "glance", "heat", "manila", "neutron", "nova"]


@pytest.mark.parametrize("service", PASTE_ROWS)
def test_paste_row_names_the_shipped_file_and_what_the_command_edits(
    service: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    where, command, label, _ = table()[service]
    path, *sections = LITERAL.findall(where)
    assert path.startswith(f"/etc/{service}/")
    original = shipped(path)
    edited = {f"[{p.section.name}]" for p in paste_file.read(original).pipelines()}
    assert set(sections) == edited
    assert len(sections) == len(edited)

    words = shlex.split(literal(command))
    assert words == ["oslo-metrics-middleware", "paste", "add", path,
                     "--service-name", literal(label)]
    copy = tmp_path / original.name
    shutil.copyfile(original, copy)
    assert cmd.main([*words[1:3], str(copy), *words[4:]]) == 0
    assert cmd.main(["paste", "check", str(copy)]) == 0
    capsys.readouterr()


WRAPPER_ROWS = sorted(SERVICES - set(PASTE_ROWS))


@pytest.mark.parametrize("service", WRAPPER_ROWS)
def test_wrapper_row_names_an_entry_point_and_the_lines_above(service: str) -> None:
    where, how, label, _ = table()[service]
    (entry,) = LITERAL.findall(where)
    module, attribute = entry.split(":")
    source = module_source(module)
    assigned = {
        target.id
        for node in ast.parse(source.read_text()).body
        if isinstance(node, ast.Assign)
        for target in node.targets
        if isinstance(target, ast.Name)
    }
    assert attribute in assigned
    assert "the wrapper" in how
    name = literal(label)
    guide = GUIDE.read_text()
    assert (f"    env = OSLO_METRICS_WRAP_APP={entry}\n"
            f"    env = OSLO_METRICS_SERVICE_NAME={name}\n") in guide
    assert (f"        SetEnv OSLO_METRICS_WRAP_APP {entry}\n"
            f"        SetEnv OSLO_METRICS_SERVICE_NAME {name}\n") in guide


def ci_runs() -> dict[str, set[str]]:
    """Test file -> the services it runs, read from the tests themselves."""
    functional = REPO / "tests/functional"
    services_test = (functional / "test_openstack_services.py").read_text()
    parametrized = services_test.split("@pytest.mark.parametrize(", 1)[1]
    parametrized = parametrized.split("]", 1)[0]
    wrapper_test = (functional / "test_wsgi_wrapper.py").read_text()
    return {
        "test_openstack_services.py": set(re.findall(r'"(\w+)"', parametrized))
        - {"service"},
        "test_api_tier.py": set(tier.services()),
        "test_wsgi_wrapper.py": set(re.findall(r'services\["(\w+)"\]', wrapper_test)),
        "test_placement.py": {"placement"},
        "test_ironic_wrapper.py": {"ironic"},
    }


@pytest.mark.parametrize("service", sorted(SERVICES))
def test_ci_column_names_the_tests_that_run_the_service(service: str) -> None:
    runs = ci_runs()
    named = {word for word in LITERAL.findall(table()[service][3])
             if word.endswith(".py")}
    assert named == {test for test, ran in runs.items() if service in ran}
