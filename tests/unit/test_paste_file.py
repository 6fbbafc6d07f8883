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

"""``oslo-metrics-middleware paste``: the shipped api-paste.ini files of six
services, layouts an operator may have written, and generated files."""

from __future__ import annotations

import configparser
import difflib
import io
from pathlib import Path
import shutil

from hypothesis import given
from hypothesis import settings
from hypothesis import strategies as st
import pytest

from oslo_metrics_middleware import cmd
from oslo_metrics_middleware import paste_file

REPO = Path(__file__).resolve().parents[2]
SHIPPED_ROOT = REPO / ".venv-openstack" / "etc"
FACTORY_LINE = f"paste.filter_factory = {paste_file.FACTORY}"

# Every pipeline of each file as shipped, in file order.
SHIPPED = {
    "nova/api-paste.ini": [
        "[pipeline:meta]",
        "[composite:openstack_compute_api_v21] keystone",
        "[composite:openstack_compute_api_v21_legacy_v2_compatible] keystone",
        "[pipeline:oscomputeversions]",
        "[pipeline:oscomputeversion_v2]",
        "[pipeline:oscomputeversion_legacy_v2]",
    ],
    "cinder/api-paste.ini": [
        "[composite:openstack_volume_api_v3] noauth",
        "[composite:openstack_volume_api_v3] noauth_include_project_id",
        "[composite:openstack_volume_api_v3] keystone",
        "[composite:openstack_volume_api_v3] keystone_nolimit",
        "[pipeline:apiversions]",
        "[pipeline:healthcheck]",
    ],
    "glance/glance-api-paste.ini": [
        f"[composite:api] {key}"
        for key in ("default", "caching", "cachemanagement", "keystone",
                    "keystone+caching", "keystone+cachemanagement")
    ],
    "neutron/api-paste.ini": [
        "[composite:neutronapi_v2_0] noauth",
        "[composite:neutronapi_v2_0] keystone",
        "[composite:neutronversions_composite] noauth",
        "[composite:neutronversions_composite] keystone",
    ],
    "heat/api-paste.ini": [
        "[composite:api] default",
        "[composite:api] standalone",
        "[composite:api] custombackend",
        "[composite:api] noauth",
        "[composite:api-cfn] default",
        "[composite:api-cfn] standalone",
    ],
    "manila/api-paste.ini": [
        "[composite:openstack_share_api_v2] noauth",
        "[composite:openstack_share_api_v2] noauthv2",
        "[composite:openstack_share_api_v2] keystone",
        "[composite:openstack_share_api_v2] keystone_nolimit",
        "[pipeline:apiversions]",
    ],
}


def run(capsys: pytest.CaptureFixture[str], *argv: str) -> tuple[int, str, str]:
    try:
        status = cmd.main(["paste", *argv])
    except SystemExit as exc:
        status = int(exc.code or 0)
    out, err = capsys.readouterr()
    return status, out, err


@pytest.fixture(params=sorted(SHIPPED))
def shipped(request: pytest.FixtureRequest, tmp_path: Path) -> tuple[Path, Path]:
    """(the file as the release ships it, a copy to edit)."""
    original = SHIPPED_ROOT / request.param
    if not original.is_file():
        pytest.skip("no .venv-openstack: tools/test.sh makes it")
    copy = tmp_path / request.param
    copy.parent.mkdir(parents=True)
    shutil.copyfile(original, copy)
    return original, copy


def test_shipped_file_add_check_idempotence_and_remove(
    capsys: pytest.CaptureFixture[str], shipped: tuple[Path, Path]
) -> None:
    original, path = shipped
    labels = SHIPPED[f"{path.parent.name}/{path.name}"]
    status, out, err = run(capsys, "check", str(path))
    assert (status, err) == (1, "")
    assert out.splitlines() == [
        *(f"{path}: {label}: no metrics filter" for label in labels),
        f"{path}: no [filter:metrics] section",
    ]

    status, out, err = run(capsys, "add", str(path), "--service-name", "svc")
    assert (status, err) == (0, "")
    assert out.splitlines() == [
        *(f"{path}: {label}: metrics put first" for label in labels),
        f"{path}: [filter:metrics] added",
    ]
    added = path.read_bytes()
    _only_pipelines_changed(original.read_text(), added.decode(), len(labels))
    assert run(capsys, "check", str(path), "--service-name", "svc") == (
        0, f"{path}: metrics is first in all {len(labels)} pipelines\n", "")

    assert run(capsys, "add", str(path), "--service-name", "svc") == (
        0, f"{path}: unchanged\n", "")
    assert path.read_bytes() == added

    status, out, err = run(capsys, "remove", str(path))
    assert (status, err) == (0, "")
    assert len(out.splitlines()) == len(labels) + 1
    assert path.read_bytes() == original.read_bytes()


def _only_pipelines_changed(old: str, new: str, pipelines: int) -> None:
    """Every line kept but the pipelines, which only gained the filter;
    the section added at the end."""
    removed = [line for line in difflib.ndiff(old.splitlines(), new.splitlines())
               if line.startswith("- ")]
    added = [line for line in difflib.ndiff(old.splitlines(), new.splitlines())
             if line.startswith("+ ")]
    assert len(removed) == pipelines
    key_and_value = [line[2:].split("=", 1) for line in removed]
    expected = [f"+ {key}= metrics {value.lstrip()}" for key, value in key_and_value]
    assert added[: len(expected)] == expected
    assert added[len(expected):] == [
        "+ ", "+ [filter:metrics]", f"+ {FACTORY_LINE}", "+ service_name = svc"
    ]
    assert new.startswith(old.split("[", 1)[0])  # leading comments kept


def test_dry_run_prints_a_unified_diff_and_leaves_the_file(
    capsys: pytest.CaptureFixture[str], shipped: tuple[Path, Path]
) -> None:
    original, path = shipped
    status, out, err = run(capsys, "add", str(path), "--dry-run")
    assert (status, err) == (0, "")
    assert path.read_bytes() == original.read_bytes()
    assert out.startswith(f"--- {path}\n+++ {path}\n@@ ")
    text, _ = paste_file.add(paste_file.read(path))
    assert out == "".join(difflib.unified_diff(
        original.read_text().splitlines(keepends=True),
        text.splitlines(keepends=True), str(path), str(path)))
    assert run(capsys, "remove", str(path), "--dry-run") == (0, "", "")


LAYOUT = """\
# operator's notes
[DEFAULT]
debug = false

[pipeline:main]
# the API
pipeline =
    cors
    ; request ids
    request_id api

[composite:auth]
use = call:service.api:pipeline_factory
keystone = cors authtoken  api
noauth=cors api

[composite:root]
use = egg:Paste#urlmap
/: main
/v2 : auth

[app:api]
paste.app_factory = service.api:factory
"""


def test_layout_kept_word_by_word(
    capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    path = tmp_path / "api-paste.ini"
    path.write_bytes(LAYOUT.replace("\n", "\r\n").encode())
    assert run(capsys, "add", str(path))[0] == 0
    assert path.read_bytes().decode() == (
        LAYOUT.replace("    cors\n", "    metrics cors\n")
        .replace("= cors authtoken", "= metrics cors authtoken")
        .replace("noauth=cors", "noauth=metrics cors")
        + f"\n[filter:metrics]\n{FACTORY_LINE}\n"
    ).replace("\n", "\r\n")
    assert run(capsys, "remove", str(path))[0] == 0
    assert path.read_bytes() == LAYOUT.replace("\n", "\r\n").encode()


def test_filter_elsewhere_is_moved_first_and_repeats_dropped(
    capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    path = tmp_path / "api-paste.ini"
    path.write_text(
        "[pipeline:main]\npipeline = cors metrics\n  metrics api\n\n"
        f"[filter:metrics]\n{FACTORY_LINE}\nservice_name = old\n"
        "[app:api]\npaste.app_factory = x:y\n"
    )
    status, out, _ = run(capsys, "check", str(path), "--service-name", "new")
    assert status == 1
    assert out.splitlines() == [
        f"{path}: [pipeline:main]: metrics is not first",
        f"{path}: [filter:metrics] service_name is old, not new",
    ]
    assert run(capsys, "add", str(path), "--service-name", "new")[0] == 0
    assert path.read_text() == (
        "[pipeline:main]\npipeline = metrics cors\n  api\n\n"
        f"[filter:metrics]\n{FACTORY_LINE}\nservice_name = new\n"
        "[app:api]\npaste.app_factory = x:y\n"
    )


def test_service_name_is_added_to_an_existing_section(
    capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    path = tmp_path / "api-paste.ini"
    path.write_text(
        "[pipeline:main]\npipeline = metrics api\n\n[filter:metrics]\n"
        "use = egg:oslo-metrics-middleware#metrics\n\n[app:api]\nuse = x\n"
    )
    assert run(capsys, "add", str(path), "--service-name", "image") == (
        0, f"{path}: [filter:metrics] service_name set\n", "")
    assert path.read_text() == (
        "[pipeline:main]\npipeline = metrics api\n\n[filter:metrics]\n"
        "use = egg:oslo-metrics-middleware#metrics\nservice_name = image\n\n"
        "[app:api]\nuse = x\n"
    )


@pytest.mark.parametrize(
    ("argv", "content", "message"),
    [
        (["add", "{path}"], None, "{path}: No such file or directory"),
        (["check", "{dir}"], None, "{dir}: Is a directory"),
        (["add", "{path}"], "[app:main]\nuse = x\n",
         "{path}: no pipeline (no [pipeline:*] section and no [composite:*] "
         "with a pipeline factory)"),
        (["add", "{path}"], "pipeline = a b\n",
         "{path} line 1: an option before the first section"),
        (["remove", "{path}"], "[pipeline:main]\npipeline = a\n  b\nno value\n",
         "{path} line 4: not a section, option or comment: 'no value'"),
        (["add", "{path}"], "[pipeline:a]\npipeline = a\n[pipeline:a]\n",
         "{path} line 3: section [pipeline:a] given twice"),
        (["check", "{path}"], "[pipeline:a]\npipeline = x\npipeline = y\n",
         "{path} line 3: option pipeline given twice in [pipeline:a]"),
        (["check", "{path}"], "[pipeline:a]\npipeline =\n",
         "{path} line 2: [pipeline:a] is empty"),
        (["add", "{path}"],
         "[pipeline:a]\npipeline = metrics x\n[filter:metrics]\nuse = egg:Other#m\n",
         "{path} line 3: [filter:metrics] is another filter (egg:Other#m); "
         "rename it first"),
        (["add", "{path}"], "[pipeline:a]\npipeline = cors metrics\n",
         "{path} line 2: [pipeline:a] ends with metrics, which is a filter, "
         "not an app"),
        (["add", "{path}", "--service-name", "two words"],
         "[pipeline:a]\npipeline = x\n",
         "--service-name 'two words': use letters, digits and '_.:-', starting "
         "with a letter or digit"),
    ],
)
def test_errors_are_one_line_and_leave_the_file(
    capsys: pytest.CaptureFixture[str], tmp_path: Path, argv: list[str],
    content: str | None, message: str,
) -> None:
    path = tmp_path / "api-paste.ini"
    if content is not None:
        path.write_text(content)
    names = {"path": str(path), "dir": str(tmp_path)}
    status, out, err = run(capsys, *(arg.format(**names) for arg in argv))
    assert (status, out) == (1, "")
    assert err == f"oslo-metrics-middleware paste: error: {message.format(**names)}\n"
    if content is not None:
        assert path.read_text() == content


@pytest.mark.parametrize(
    ("argv", "message"),
    [
        (["move", "f"], "argument {add,remove,check}: invalid choice: 'move' "
         "(choose from 'add', 'remove', 'check')"),
        (["remove", "f", "--service-name", "x"],
         "--service-name applies to add and check, not remove"),
        (["check", "f", "--dry-run"], "--dry-run applies to add and remove, not check"),
        (["add"], "the following arguments are required: FILE"),
    ],
)
def test_usage_errors(
    capsys: pytest.CaptureFixture[str], argv: list[str], message: str
) -> None:
    status, out, err = run(capsys, *argv)
    assert (status, out) == (2, "")
    assert err.splitlines()[0].startswith("usage: oslo-metrics-middleware paste ")
    assert err.splitlines()[-1] == f"oslo-metrics-middleware paste: error: {message}"


def test_what_paste_does_not_read_as_a_pipeline_is_left_and_said(
    capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    path = tmp_path / "api-paste.ini"
    text = (
        "[composite:main]\nuse = call:svc.api:pipeline_factory\n"
        "set debug = true\nkeystone = cors api\n\n"
        "[pipeline :other]\npipeline = cors api\n\n"
        "[composite:versions]\nuse = call:svc.api:version_factory\n"
        "/v1 = cors api\n"
    )
    path.write_text(text)
    status, out, err = run(capsys, "add", str(path))
    assert status == 0
    assert out.splitlines() == [
        f"{path}: [composite:main] keystone: metrics put first",
        f"{path}: [filter:metrics] added",
    ]
    assert err == (
        f"oslo-metrics-middleware paste: note: {path}: [composite:versions] "
        "/v1: several names, but call:svc.api:version_factory is not a "
        "pipeline factory; left as it is\n"
    )
    assert path.read_text() == text.replace(
        "keystone = cors", "keystone = metrics cors"
    ) + f"\n[filter:metrics]\n{FACTORY_LINE}\n"


def test_a_symbolic_link_keeps_pointing_at_the_edited_file(
    capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    target = tmp_path / "real.ini"
    target.write_text("[pipeline:main]\npipeline = api\n")
    target.chmod(0o640)
    link = tmp_path / "api-paste.ini"
    link.symlink_to(target)
    assert run(capsys, "add", str(link))[0] == 0
    assert link.is_symlink()
    assert target.read_text().startswith("[pipeline:main]\npipeline = metrics api\n")
    assert target.stat().st_mode & 0o777 == 0o640


# -- generated files -------------------------------------------------------------

_NAME = st.text("abcdefgh_-", min_size=1, max_size=6).filter(
    lambda name: name != paste_file.FILTER
)
_SPACE = st.sampled_from([" ", "  ", "\t"])
_FILLER = st.lists(
    st.sampled_from(["", "# note", "; note", "   # indented note", "#"]), max_size=2
)


@st.composite
def _value(draw: st.DrawFn, names: list[str], with_filter: bool) -> str:
    """A pipeline string, maybe over continuation lines with comments, and
    with the filter anywhere but at the end when ``with_filter``."""
    names = list(names)
    if with_filter:
        for _ in range(draw(st.integers(0, 2))):
            names.insert(draw(st.integers(0, len(names))), paste_file.FILTER)
    words = [*names, draw(_NAME)]
    text = ""
    for number, word in enumerate(words):
        if number and draw(st.booleans()):
            filler = "".join(f"{line}\n" for line in draw(_FILLER))
            text += "\n" + filler + draw(st.sampled_from(["  ", "    ", "\t"]))
        elif number:
            text += draw(_SPACE)
        text += word
    return text


@st.composite
def paste_files(draw: st.DrawFn, with_filter: bool = False) -> str:
    sections = []
    count = draw(st.integers(1, 4))
    for number in range(count):
        lines = [*draw(_FILLER)]
        names = draw(st.lists(_NAME, max_size=3))
        kind = draw(st.sampled_from(["pipeline", "factory", "urlmap", "app"]))
        if kind == "pipeline":
            delimiter = draw(st.sampled_from([" = ", "=", " =", " : "]))
            value = draw(_value(names, with_filter))
            lines += [f"[pipeline:p{number}]", f"pipeline{delimiter}{value}"]
        elif kind == "factory":
            lines += [f"[composite:c{number}]", "use = call:x.auth:pipeline_factory"]
            for key in draw(st.lists(_NAME, min_size=1, max_size=3, unique=True)):
                if key != "use":
                    lines.append(f"{key} = " + draw(_value(names, with_filter)))
        elif kind == "urlmap":
            lines += [f"[composite:u{number}]", "use = egg:Paste#urlmap", "/: a b"]
        else:
            lines += [f"[app:a{number}]", "paste.app_factory = x:y"]
        lines += draw(_FILLER)
        sections.append(lines)
    newline = draw(st.sampled_from(["\n", "\r\n", "\r"]))
    text = newline.join(line for lines in sections for line in lines)
    return text + draw(st.sampled_from(["", newline, newline * 2]))


def _words(text: str) -> dict[tuple[str, str], list[str]]:
    parser = configparser.ConfigParser()
    parser.optionxform = str  # type: ignore[assignment,method-assign]
    # Universal newlines, as paste.deploy's open() reads the file.
    parser.read_file(io.StringIO(text, newline=None))
    return {(section, key): parser.get(section, key, raw=True).split()
            for section in parser.sections() for key in parser.options(section)}


@settings(max_examples=300, deadline=None)
@given(paste_files())
def test_generated_files_add_then_remove_is_the_identity(text: str) -> None:
    paste = paste_file.PasteFile(text, "generated.ini")
    if not paste.pipelines():
        return
    added, _ = paste_file.add(paste, "svc")
    edited = paste_file.PasteFile(added, "generated.ini")
    assert paste_file.check(edited, "svc") == []
    assert paste_file.add(edited, "svc") == (added, [])
    before, after = _words(text), _words(added)
    for pipeline in paste.pipelines():
        key = (pipeline.section.name, pipeline.option.key)
        assert after[key] == ["metrics", *before[key]]
    assert paste_file.remove(edited)[0] == text


@settings(max_examples=200, deadline=None)
@given(paste_files(with_filter=True))
def test_generated_files_with_the_filter_anywhere(text: str) -> None:
    paste = paste_file.PasteFile(text, "generated.ini")
    if not paste.pipelines():
        return
    added, _ = paste_file.add(paste)
    edited = paste_file.PasteFile(added, "generated.ini")
    assert paste_file.check(edited) == []
    assert paste_file.add(edited) == (added, [])
    removed, _ = paste_file.remove(edited)
    before, after = _words(text), _words(removed)
    assert set(after) == set(before) - {
        key for key in before if key[0] == paste_file.SECTION
    }
    for key, words in after.items():
        assert words == [word for word in before[key] if word != paste_file.FILTER]
