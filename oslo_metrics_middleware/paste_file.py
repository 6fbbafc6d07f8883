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

"""Put the metrics filter first in every pipeline of an ``api-paste.ini``.

The file is edited as text, word by word, so that every comment, blank line,
layout and line ending of the operator's file stays as it was; a
configparser round trip would lose them.  The text is read the way
paste.deploy reads it (Python's ``configparser`` with its defaults), and
every edit is checked against that reading before anything is written.

Pipelines are the ``pipeline`` value of ``[pipeline:NAME]`` sections and
every value of a ``[composite:NAME]`` whose factory is a pipeline factory
(nova's ``pipeline_factory_v21``, glance's and heat's ``pipeline_factory``):
those pick one of their values, a pipeline string, by the service's
authentication strategy or flavor.
"""

from __future__ import annotations

import ast
import configparser
from dataclasses import dataclass
from dataclasses import field
import difflib
import os
from pathlib import Path
import re
import tempfile

FILTER = "metrics"
SECTION = f"filter:{FILTER}"
FACTORY = "oslo_metrics_middleware:MetricsMiddleware.factory"
# The same filter named by its entry point: use = egg:oslo-metrics-middleware#metrics
_EGG = re.compile(r"^egg:oslo[-_.]metrics[-_.]middleware(?:\[[^]]*\])?#metrics$", re.I)
_FACTORY_KEYS = ("use", "paste.composite_factory")
# A label value that paste's interpolation and the file's syntax keep as is.
_SERVICE_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.:-]*$")
_LINE = re.compile(r"[^\r\n]*(?:\r\n|\r|\n)?")
_WORD = re.compile(r"\S+")
_COMMENT_PREFIXES = ("#", ";")


class PasteFileError(ValueError):
    """The file cannot be read or edited; the message is one line."""


@dataclass(frozen=True)
class Word:
    line: int
    start: int
    end: int
    text: str


@dataclass
class Option:
    key: str
    line: int
    words: list[Word] = field(default_factory=list)
    last_line: int = 0


@dataclass
class Section:
    name: str
    line: int
    options: dict[str, Option] = field(default_factory=dict)

    @property
    def kind(self) -> str:
        """``pipeline`` for ``[pipeline:x]``; paste.deploy allows no space
        before the colon."""
        kind, colon, _ = self.name.partition(":")
        return kind if colon else ""

    @property
    def short_name(self) -> str:
        return self.name.partition(":")[2].strip()

    @property
    def last_line(self) -> int:
        """The last line holding one of its options, else its header."""
        return max([self.line, *(opt.last_line for opt in self.options.values())])

    def value(self, key: str) -> str:
        option = self.options.get(key)
        return " ".join(word.text for word in option.words) if option else ""


@dataclass(frozen=True)
class Pipeline:
    section: Section
    option: Option

    @property
    def label(self) -> str:
        if self.section.kind == "pipeline":
            return f"[{self.section.name}]"
        return f"[{self.section.name}] {self.option.key}"

    @property
    def names(self) -> list[str]:
        return [word.text for word in self.option.words]


class PasteFile:
    """The lines of a paste file and where its sections and options are."""

    def __init__(self, text: str, source: str) -> None:
        self.text = text
        self.source = source
        self.lines: list[str] = [line for line in _LINE.findall(text) if line]
        self.parser = _parse(self.lines, source)
        self.sections = _scan(self.lines)
        self._check_scan()

    def _check_scan(self) -> None:
        """Refuse a layout this scan reads otherwise than configparser."""
        for section in self.sections:
            for key, option in section.options.items():
                words = [word.text for word in option.words]
                try:
                    value = self.parser.get(section.name, key, raw=True)
                except (configparser.Error, TypeError):
                    value = None
                if value is None or words != value.split():
                    raise PasteFileError(
                        f"{self.source} line {option.line + 1}: cannot follow "
                        f"the layout of [{section.name}] {key}; edit it by hand"
                    )

    def pipelines(self) -> list[Pipeline]:
        found = []
        for section in self.sections:
            if section.kind == "pipeline" and "pipeline" in section.options:
                found.append(Pipeline(section, section.options["pipeline"]))
            elif section.kind == "composite" and _is_pipeline_factory(section):
                found.extend(
                    Pipeline(section, option)
                    for key, option in section.options.items()
                    if _is_local(key)
                )
        for pipeline in found:
            if pipeline.names[-1:] in ([], [FILTER]):
                raise PasteFileError(
                    f"{self.source} line {pipeline.option.line + 1}: "
                    f"{pipeline.label} " + (
                        f"ends with {FILTER}, which is a filter, not an app"
                        if pipeline.names else "is empty"
                    )
                )
        return found

    def unknown_composites(self) -> list[str]:
        """Composite values naming several objects under a factory not
        known as a pipeline factory: left alone, and said so."""
        return [
            f"[{section.name}] {key}: several names, but "
            f"{_factory(section) or 'no factory'} is not a pipeline factory; "
            "left as it is"
            for section in self.sections
            if section.kind == "composite" and not _is_pipeline_factory(section)
            for key, option in section.options.items()
            if _is_local(key) and len(option.words) > 1
        ]

    def filter_section(self) -> Section | None:
        """The ``[filter:metrics]`` section; an error if it is another
        filter's."""
        for section in self.sections:
            if section.kind == "filter" and section.short_name == FILTER:
                factory = section.value("paste.filter_factory")
                use = section.value("use")
                if factory == FACTORY or _EGG.match(use):
                    return section
                raise PasteFileError(
                    f"{self.source} line {section.line + 1}: [{section.name}] "
                    f"is another filter ({factory or use or 'no factory'}); "
                    "rename it first"
                )
        return None

    @property
    def newline(self) -> str:
        for line in self.lines:
            stripped = line.rstrip("\r\n")
            if stripped != line:
                return line[len(stripped):]
        return "\n"


def _factory(section: Section) -> str:
    return next(filter(None, map(section.value, _FACTORY_KEYS)), "")


def _is_pipeline_factory(section: Section) -> bool:
    return "pipeline" in re.split(r"[:.#]", _factory(section))[-1]


def _is_local(key: str) -> bool:
    """A key paste.deploy hands the factory (``set x`` and ``get x`` go to
    the global configuration)."""
    return key not in _FACTORY_KEYS and not key.startswith(("set ", "get "))


def _parse(lines: list[str], source: str) -> configparser.ConfigParser:
    """The file as paste.deploy reads it; its errors made one line."""
    parser = configparser.ConfigParser()
    parser.optionxform = str  # type: ignore[assignment,method-assign]
    try:
        parser.read_file(lines, source=source)
    except configparser.Error as exc:
        raise PasteFileError(_one_line(exc, source)) from None
    return parser


def _one_line(exc: configparser.Error, source: str) -> str:
    if isinstance(exc, configparser.MissingSectionHeaderError):
        return f"{source} line {exc.lineno}: an option before the first section"
    if isinstance(exc, configparser.ParsingError):
        # configparser keeps the repr of the line.
        lineno, line = exc.errors[0]
        text = str(ast.literal_eval(line)).strip()
        return (
            f"{source} line {lineno}: not a section, option or comment: {text!r}"
        )
    if isinstance(exc, configparser.DuplicateSectionError):
        return f"{source} line {exc.lineno}: section [{exc.section}] given twice"
    if isinstance(exc, configparser.DuplicateOptionError):
        return (
            f"{source} line {exc.lineno}: option {exc.option} given twice "
            f"in [{exc.section}]"
        )
    return f"{source}: " + " ".join(str(exc).split())


def _scan(lines: list[str]) -> list[Section]:
    """Sections and options with the position of every value word.

    Follows configparser's reading (``RawConfigParser._read`` with the
    defaults paste.deploy uses): comments and blank lines never end a
    value, a line indented deeper than its option's continues it.
    """
    sections: list[Section] = []
    option: Option | None = None
    indent_level = 0
    for number, line in enumerate(lines):
        stripped = line.strip()
        if not stripped or stripped.startswith(_COMMENT_PREFIXES):
            continue
        indent = len(line) - len(line.lstrip())
        if option is not None and indent > indent_level:
            option.words.extend(_words(line, number, indent))
            option.last_line = number
            continue
        indent_level = indent
        header = configparser.ConfigParser.SECTCRE.match(stripped)
        if header:
            sections.append(Section(header.group("header"), number))
            option = None
            continue
        match = configparser.ConfigParser.OPTCRE.match(stripped)
        if not sections or not match:
            continue  # already refused by the parser
        option = Option(match.group("option").rstrip(), number, last_line=number)
        option.words = _words(line, number, indent + match.start("value"))
        sections[-1].options[option.key] = option
    return sections


def _words(line: str, number: int, start: int) -> list[Word]:
    return [
        Word(number, start + found.start(), start + found.end(), found.group())
        for found in _WORD.finditer(line[start:])
    ]


# -- edits ---------------------------------------------------------------------


@dataclass(frozen=True)
class Edit:
    """Replace ``lines[line][start:end]`` by ``text``."""

    line: int
    start: int
    end: int
    text: str


def _apply(lines: list[str], edits: list[Edit]) -> list[str]:
    out = list(lines)
    for edit in sorted(edits, key=lambda e: (e.line, e.start), reverse=True):
        current = out[edit.line]
        out[edit.line] = current[: edit.start] + edit.text + current[edit.end :]
    return out


def _rewrite(lines: list[str], option: Option, first: bool) -> list[Edit]:
    """Edits that take the filter out of ``option`` and, when ``first``,
    put it back at its head.

    Each line changed keeps what comes before its first word and after its
    last; a word kept keeps the spaces before it (the first of a line
    takes the place of the line's first word).  So ``add`` then ``remove``
    gives back every byte.
    """
    words = option.words
    head = next((word for word in words if word.text != FILTER), None)
    edits = []
    for number in sorted({word.line for word in words}):
        on_line = [word for word in words if word.line == number]
        if all(word.text != FILTER for word in on_line) and not (
            first and head is not None and head.line == number
        ):
            continue
        line = lines[number]
        kept: list[str] = []
        previous_end = on_line[0].start
        for word in on_line:
            spaces = line[previous_end : word.start]
            previous_end = word.end
            if word.text == FILTER:
                continue
            if first and word is head:
                kept.append(FILTER)
                spaces = " "
            kept.append((spaces if kept else "") + word.text)
        start, end = on_line[0].start, on_line[-1].end
        if kept:
            edits.append(Edit(number, start, end, "".join(kept)))
        elif number != option.line:  # a continuation line of the filter only
            edits.append(Edit(number, 0, len(line), ""))
        else:
            edits.append(Edit(number, len(line[:start].rstrip()), end, ""))
    return edits


def _check_service_name(name: str) -> None:
    if not _SERVICE_NAME.match(name):
        raise PasteFileError(
            f"--service-name {name!r}: use letters, digits and '_.:-', "
            "starting with a letter or digit"
        )


def add(paste: PasteFile, service_name: str | None = None) -> tuple[str, list[str]]:
    """The text with the filter first in every pipeline and its section
    defined, and what changed, one line each."""
    if service_name is not None:
        _check_service_name(service_name)
    pipelines = _pipelines(paste)
    edits: list[Edit] = []
    changes: list[str] = []
    for pipeline in pipelines:
        if pipeline.names.count(FILTER) == 1 and pipeline.names[0] == FILTER:
            continue
        edits.extend(_rewrite(paste.lines, pipeline.option, first=True))
        changes.append(f"{pipeline.label}: {FILTER} put first")
    lines = _apply(paste.lines, edits)
    section = paste.filter_section()
    tail = ""
    newline = paste.newline
    if section is None:
        block = [f"[{SECTION}]", f"paste.filter_factory = {FACTORY}"]
        if service_name is not None:
            block.append(f"service_name = {service_name}")
        # One line end: a blank line before the section, or the end of a
        # last line that had none (remove() tells the two apart).
        tail = newline + newline.join(block) + newline
        changes.append(f"[{SECTION}] added")
    elif service_name is not None:
        lines, change = _set_service_name(paste, section, lines, service_name)
        changes.extend(change)
    text = "".join(lines) + tail
    edited = _checked(paste, text)
    if check(edited, service_name):
        raise PasteFileError(f"{paste.source}: the edit did not take; edit it by hand")
    return text, changes


def _set_service_name(
    paste: PasteFile, section: Section, lines: list[str], name: str
) -> tuple[list[str], list[str]]:
    option = section.options.get("service_name")
    if option is None:
        at = section.last_line + 1
        line = f"service_name = {name}" + paste.newline
        if not lines[at - 1].endswith(("\n", "\r")):
            lines[at - 1] += paste.newline
        return [*lines[:at], line, *lines[at:]], [f"[{SECTION}] service_name set"]
    if [word.text for word in option.words] == [name]:
        return lines, []
    if len({word.line for word in option.words}) > 1 or not option.words:
        raise PasteFileError(
            f"{paste.source} line {option.line + 1}: service_name spans "
            "several lines; edit it by hand"
        )
    first, last = option.words[0], option.words[-1]
    edited = _apply(lines, [Edit(first.line, first.start, last.end, name)])
    return edited, [f"[{SECTION}] service_name changed"]


def remove(paste: PasteFile) -> tuple[str, list[str]]:
    """The text without the filter in any pipeline nor its section."""
    edits: list[Edit] = []
    changes: list[str] = []
    for pipeline in _pipelines(paste):
        if FILTER in pipeline.names:
            edits.extend(_rewrite(paste.lines, pipeline.option, first=False))
            changes.append(f"{pipeline.label}: {FILTER} taken out")
    lines = _apply(paste.lines, edits)
    section = paste.filter_section()
    if section is not None:
        start, end = section.line, section.last_line + 1
        if start > 0 and lines[start - 1] in ("\n", "\r\n", "\r"):
            start -= 1  # the blank line add() put before it
        elif start > 0 and end == len(lines):
            # add() ended the last line of a file that had no line end.
            lines[start - 1] = lines[start - 1].rstrip("\r\n")
        lines = lines[:start] + lines[end:]
        changes.append(f"[{SECTION}] removed")
    text = "".join(lines)
    edited = _checked(paste, text)
    if any(FILTER in p.names for p in edited.pipelines()) or edited.filter_section():
        raise PasteFileError(f"{paste.source}: the edit did not take; edit it by hand")
    return text, changes


def _checked(paste: PasteFile, text: str) -> PasteFile:
    """The edited file, read again: every option but the filter's section
    and the filter's place in pipelines must read as before."""
    edited = PasteFile(text, paste.source)
    if _meaning(paste) != _meaning(edited):
        raise PasteFileError(
            f"{paste.source}: an edit would change more than the pipelines; "
            "file left as it was"
        )
    return edited


def _meaning(paste: PasteFile) -> dict[tuple[str, str], list[str]]:
    """Every option's words as paste reads them, the filter left out."""
    pipelines = {(p.section.name, p.option.key) for p in paste.pipelines()}
    meaning = {}
    for section in paste.parser.sections():
        kind, _, name = section.partition(":")
        if (kind, name.strip()) == ("filter", FILTER):
            continue
        for key in paste.parser.options(section):
            words = paste.parser.get(section, key, raw=True).split()
            if (section, key) in pipelines:
                words = [word for word in words if word != FILTER]
            meaning[(section, key)] = words
    return meaning


def check(paste: PasteFile, service_name: str | None = None) -> list[str]:
    """What keeps the filter from measuring every pipeline, one line each."""
    problems = []
    for pipeline in _pipelines(paste):
        if FILTER not in pipeline.names:
            problems.append(f"{pipeline.label}: no {FILTER} filter")
        elif pipeline.names[0] != FILTER:
            problems.append(f"{pipeline.label}: {FILTER} is not first")
    section = paste.filter_section()
    if section is None:
        problems.append(f"no [{SECTION}] section")
    elif service_name is not None and section.value("service_name") != service_name:
        found = section.value("service_name") or "unset"
        problems.append(f"[{SECTION}] service_name is {found}, not {service_name}")
    return problems


def _pipelines(paste: PasteFile) -> list[Pipeline]:
    pipelines = paste.pipelines()
    if not pipelines:
        raise PasteFileError(
            f"{paste.source}: no pipeline (no [pipeline:*] section and no "
            "[composite:*] with a pipeline factory)"
        )
    return pipelines


# -- files ---------------------------------------------------------------------


def read(path: Path) -> PasteFile:
    """The paste file at ``path``, parsed; any byte is kept as it is."""
    try:
        data = path.read_bytes()
    except OSError as exc:
        raise PasteFileError(f"{path}: {exc.strerror or exc}") from None
    return PasteFile(data.decode("utf-8", "surrogateescape"), str(path))


def write(path: Path, text: str) -> None:
    """Replace the file at once, keeping its mode and owner; a symbolic
    link keeps pointing at the edited file."""
    target = path.resolve()
    data = text.encode("utf-8", "surrogateescape")
    try:
        status = target.stat()
        handle, temporary = tempfile.mkstemp(
            dir=target.parent, prefix=f".{target.name}."
        )
        try:
            with os.fdopen(handle, "wb") as out:
                out.write(data)
            os.chmod(temporary, status.st_mode & 0o7777)
            if hasattr(os, "chown") and os.geteuid() == 0:
                os.chown(temporary, status.st_uid, status.st_gid)
            os.replace(temporary, target)
        except BaseException:
            os.unlink(temporary)
            raise
    except OSError as exc:
        raise PasteFileError(f"cannot write {path}: {exc.strerror or exc}") from None


def diff(old: str, new: str, path: Path) -> str:
    return "".join(
        difflib.unified_diff(
            old.splitlines(keepends=True),
            new.splitlines(keepends=True),
            fromfile=str(path),
            tofile=str(path),
        )
    )
