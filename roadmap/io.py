"""The one way the tool reads a file a user can hand it: bounded, decoded, parsed, checked.

Every file ``roadmap`` reads (spec YAML, search spaces, roadmap files, fidelity files, a study's
``settings.json``, exported specs) goes through :func:`read_text` and :func:`parse_yaml` /
:func:`parse_json`, so any byte sequence becomes either plain data (dicts, lists, strings,
finite numbers, booleans, ``None``) or a one-line :class:`~roadmap.errors.RoadmapError` that
names the file and, where it can, the line::

    spec bad.yaml: not UTF-8 text (byte 0xff at line 1, column 7)
    spec deep.yaml: line 1: nested deeper than 50 levels
    search space bomb.yaml: line 9: aliases expand to more than 100000 values (a YAML bomb?)
    spec big.yaml: file is 5242880 bytes; the limit is 1048576

What is refused, and why before parsing where it matters:

* files that are not regular files (a FIFO would block), larger than ``max_bytes``, or not
  UTF-8;
* nesting deeper than :data:`MAX_DEPTH` -- checked on the parser's event stream, which is
  iterative, before PyYAML's composer (which is recursive) would hit a ``RecursionError``;
* aliases that expand to more than :data:`MAX_VALUES` values or alias their own enclosing
  collection (billion laughs, recursive data: code that walks the data would never end);
* values that are not plain data (dates, binary, sets, ordered maps), NaN / infinity, and
  integers beyond +-2**53 (no field of any file needs one, and Python turns a 10,000-digit
  literal into an exception of its own).

Schema errors (wrong types, unknown keys) are the loaders' own; :meth:`YamlDoc.error` adds
the line of the field they name.
"""

from __future__ import annotations

import json
import math
import re
from pathlib import Path
from typing import Any

import yaml

from roadmap.errors import RoadmapError

__all__ = [
    "MAX_BYTES",
    "MAX_DEPTH",
    "MAX_VALUES",
    "MAX_INT",
    "YamlDoc",
    "read_text",
    "parse_yaml",
    "load_yaml",
    "parse_json",
    "check_plain",
    "one_line",
    "field_lines",
]

MAX_BYTES = 1 << 20  # 1 MiB: the largest shipped YAML is ~3 KB
MAX_DEPTH = 50  # the deepest shipped file nests 6 levels; PyYAML recurses ~5 frames a level
MAX_VALUES = 100_000  # values after alias expansion; a spec has a few hundred
MAX_INT = 2**53  # integers a float holds exactly; widths and iterations are far below
_MAX_MESSAGE = 300


def one_line(text: object, limit: int = _MAX_MESSAGE) -> str:
    """``text`` as one printable line: control characters escaped, at most ``limit`` chars.

    Error messages quote what the user wrote; a quoted newline or escape sequence must not
    break the one-line contract or the terminal."""
    out = "".join(ch if ch.isprintable() else ch.encode("unicode_escape").decode("ascii") for ch in str(text))
    return out if len(out) <= limit else out[: limit - 3] + "..."


# --------------------------------------------------------------------------- bytes -> text


def read_text(path: str | Path, what: str, max_bytes: int = MAX_BYTES) -> str:
    """The UTF-8 text of ``path`` (a byte-order mark is dropped); errors start ``<what> <path>``."""
    path = Path(path)
    label = f"{what} {path}"
    try:
        if not path.exists():
            raise RoadmapError(f"{label}: no such file")
        if not path.is_file():
            raise RoadmapError(f"{label}: not a regular file")
        size = path.stat().st_size
        if size > max_bytes:
            raise RoadmapError(f"{label}: file is {size} bytes; the limit is {max_bytes}")
        with path.open("rb") as f:
            data = f.read(max_bytes + 1)  # bounded even if the file grows while we read
    except OSError as exc:
        raise RoadmapError(f"{label}: cannot read ({exc.strerror or type(exc).__name__})") from None
    if len(data) > max_bytes:
        raise RoadmapError(f"{label}: file is larger than the limit of {max_bytes} bytes")
    return decode(data, label)


def decode(data: bytes, label: str) -> str:
    """Bytes as UTF-8 text, or a RoadmapError naming the first bad byte's line and column."""
    try:
        return data.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        start = exc.start + (3 if data.startswith(b"\xef\xbb\xbf") else 0)
        line = data[:start].count(b"\n") + 1
        column = start - (data.rfind(b"\n", 0, start) + 1) + 1
        raise RoadmapError(
            f"{label}: not UTF-8 text (byte 0x{data[start]:02x} at line {line}, column {column})"
        ) from None


# --------------------------------------------------------------------------- YAML


def _mark_line(mark: Any) -> str:
    return f"line {mark.line + 1}: " if mark is not None else ""


def _yaml_problem(exc: yaml.YAMLError, text: str = "") -> str:
    """``at line L, column C: problem`` of a PyYAML error, on one line. A character YAML does
    not allow (NUL, other control characters) is a ``ReaderError``, which carries an offset
    into ``text`` instead of a mark."""
    if isinstance(exc, yaml.reader.ReaderError):
        line = text.count("\n", 0, exc.position) + 1
        column = exc.position - (text.rfind("\n", 0, exc.position) + 1) + 1
        code = exc.character if isinstance(exc.character, int) else ord(str(exc.character)[:1] or "\0")
        return (
            f"not valid YAML at line {line}, column {column}: the control character 0x{code:02x} is not "
            "allowed in YAML (binary data, or a file saved in another encoding?)"
        )
    mark = getattr(exc, "problem_mark", None) or getattr(exc, "context_mark", None)
    at = f" at line {mark.line + 1}, column {mark.column + 1}" if mark is not None else ""
    problem = getattr(exc, "problem", None) or getattr(exc, "context", None) or type(exc).__name__
    return f"not valid YAML{at}: {one_line(problem, 120)}"


class _Budget:
    """Depth and expanded-size bookkeeping over PyYAML's event stream (see :func:`check_events`)."""

    def __init__(self, label: str, max_depth: int, max_values: int):
        self.label, self.max_depth, self.max_values = label, max_depth, max_values
        self.open: list[list] = []  # [anchor, values, height] of each collection not yet closed
        self.anchors: dict[str, tuple[int, int]] = {}  # anchor -> (values, height)
        self.total = 0

    def fail(self, event: Any, message: str) -> RoadmapError:
        return RoadmapError(f"{self.label}: {_mark_line(event.start_mark)}{message}")

    def add(self, event: Any, values: int, height: int) -> None:
        """A finished node of ``values`` values and ``height`` levels, child of the open one."""
        self.total += values
        if self.total > self.max_values:
            raise self.fail(event, f"aliases expand to more than {self.max_values} values (a YAML bomb?)")
        if len(self.open) + height > self.max_depth:
            raise self.fail(event, f"nested deeper than {self.max_depth} levels")
        if self.open:
            self.open[-1][1] += values
            self.open[-1][2] = max(self.open[-1][2], height + 1)

    def feed(self, event: Any) -> None:
        if isinstance(event, (yaml.MappingStartEvent, yaml.SequenceStartEvent)):
            if len(self.open) >= self.max_depth:
                raise self.fail(event, f"nested deeper than {self.max_depth} levels")
            self.open.append([event.anchor, 0, 1])
        elif isinstance(event, (yaml.MappingEndEvent, yaml.SequenceEndEvent)):
            anchor, values, height = self.open.pop()
            self.total -= values  # counted again, with the collection itself, by add()
            if anchor is not None:
                self.anchors[anchor] = (values + 1, height)
            self.add(event, values + 1, height)
        elif isinstance(event, yaml.ScalarEvent):
            if event.anchor is not None:
                self.anchors[event.anchor] = (1, 0)
            self.add(event, 1, 0)
        elif isinstance(event, yaml.AliasEvent):
            if any(entry[0] == event.anchor for entry in self.open):
                raise self.fail(
                    event,
                    f"alias *{one_line(event.anchor, 40)} refers to a collection that contains it (recursive data)",
                )
            if event.anchor not in self.anchors:
                raise self.fail(event, f"alias *{one_line(event.anchor, 40)} is not defined before")
            self.add(event, *self.anchors[event.anchor])


def check_events(text: str, label: str, max_depth: int = MAX_DEPTH, max_values: int = MAX_VALUES) -> None:
    """Refuse deep nesting and alias bombs on the event stream, before anything is built.

    PyYAML's parser produces events without recursion, so this sees a 10,000-deep document
    without a ``RecursionError`` and stops at the first event past the limit."""
    budget = _Budget(label, max_depth, max_values)
    try:
        for event in yaml.parse(text, Loader=yaml.SafeLoader):
            budget.feed(event)
    except yaml.YAMLError as exc:
        raise RoadmapError(f"{label}: {_yaml_problem(exc, text)}") from None


def parse_yaml(text: str, label: str, *, free: tuple[str, ...] = ()) -> Any:
    """Plain data from YAML ``text`` (``yaml.safe_load`` after :func:`check_events`), checked
    with :func:`check_plain` (except under the top-level keys ``free``)."""
    check_events(text, label)
    try:
        data = yaml.safe_load(text)
    except yaml.YAMLError as exc:
        raise RoadmapError(f"{label}: {_yaml_problem(exc, text)}") from None
    except (ValueError, OverflowError, TypeError, RecursionError) as exc:
        # PyYAML's constructors call int() / float() / base64 on the text and let their
        # errors through (a 5,000-digit integer raises ValueError in Python >= 3.11).
        raise RoadmapError(f"{label}: cannot read a value ({one_line(exc, 120)})") from None
    check_plain(data, label, free=free, text=text)
    return data


def load_yaml(path: str | Path, what: str, *, max_bytes: int = MAX_BYTES, free: tuple[str, ...] = ()) -> YamlDoc:
    """Read and parse the YAML file ``path``; ``what`` names the kind of file in errors."""
    label = f"{what} {path}"
    text = read_text(path, what, max_bytes)
    return YamlDoc(text, label, parse_yaml(text, label, free=free))


class YamlDoc:
    """A parsed YAML document: ``data`` and what turns a loader's error into a located one."""

    def __init__(self, text: str, label: str, data: Any):
        self.text, self.label, self.data = text, label, data

    @classmethod
    def from_text(cls, text: str, label: str, *, free: tuple[str, ...] = ()) -> YamlDoc:
        return cls(text, label, parse_yaml(text, label, free=free))

    def error(self, message: str, cls: type = RoadmapError) -> RoadmapError:
        """``<label>: line N: <message>`` (the line of the field ``message`` starts with)."""
        message = str(message)
        if message.startswith(self.label + ": "):
            message = message[len(self.label) + 2 :]
        line = find_line(self.text, message)
        return cls(one_line(f"{self.label}: {'' if line is None else f'line {line}: '}{message}"))


# --------------------------------------------------------------------------- field -> line


_FIELD = re.compile(r"^([A-Za-z_][\w\-]*(?:\[[^\]\s]*\]|\.[\w\-]+)*)(?::|\s)")


def field_lines(text: str) -> dict[str, int]:
    """``{"encoder[2].conv.portion": 14, ...}``: the line of every key and list item of an
    already checked YAML ``text`` (composed, never constructed: no alias is expanded)."""
    try:
        root = yaml.compose(text, Loader=yaml.SafeLoader)
    except yaml.YAMLError:
        return {}
    lines: dict[str, int] = {}
    todo = [("", root)]
    while todo:  # iterative: the depth is bounded already, but a loop costs nothing
        path, node = todo.pop()
        if isinstance(node, yaml.MappingNode):
            for key, value in node.value:
                name = f"{path}.{key.value}" if path else str(key.value)
                lines.setdefault(name, key.start_mark.line + 1)
                todo.append((name, value))
        elif isinstance(node, yaml.SequenceNode):
            for i, item in enumerate(node.value):
                name = f"{path}[{i}]"
                lines.setdefault(name, item.start_mark.line + 1)
                todo.append((name, item))
    return lines


def find_line(text: str, message: str) -> int | None:
    """The line of the field a loader's ``message`` starts with (``encoder[2].width: ...``),
    or of its nearest parent that is in the file; ``None`` when no field is named."""
    match = _FIELD.match(message)
    if not match:
        return None
    lines = field_lines(text)
    parts = re.findall(r"\[[^\]]*\]|[^.\[]+", match.group(1))
    for start in range(len(parts)):  # "fidelity.lr" is "lr" in a fidelity file
        for end in range(len(parts), start, -1):  # a missing field: its parent's line
            name = "".join(p if p.startswith("[") or i == 0 else "." + p for i, p in enumerate(parts[start:end]))
            if name in lines:
                return lines[name]
    return None


# --------------------------------------------------------------------------- plain data


def _where(path: str) -> str:
    return f"{path}: " if path else ""


def check_plain(
    data: Any, label: str, *, free: tuple[str, ...] = (), text: str | None = None, max_depth: int = MAX_DEPTH + 2
) -> None:
    """Refuse what no file of the tool holds: non-plain values (dates, binary, sets, tuples),
    NaN / infinity, integers beyond +-2**53, non-scalar keys, nesting past ``max_depth``
    (JSON input has no event check). Top-level keys in ``free`` are not checked (a spec's
    ``provenance`` records measurements, which may be NaN)."""
    todo: list[tuple[str, Any, int]] = [("", data, 0)]
    while todo:
        path, value, depth = todo.pop()
        problem = _plain_problem(value, depth, max_depth)
        if problem is None and isinstance(value, dict):
            for key, item in value.items():
                if key in free and not path:
                    continue
                if not isinstance(key, (str, int)) or isinstance(key, bool):
                    problem = f"key {one_line(repr(key), 60)} is not text"
                    break
                todo.append((f"{path}.{key}" if path else str(key), item, depth + 1))
        elif problem is None and isinstance(value, list):
            todo.extend((f"{path}[{i}]", item, depth + 1) for i, item in enumerate(value))
        if problem is not None:
            doc = YamlDoc(text, label, None) if text is not None else None
            message = f"{path}: {problem}" if path else problem
            raise doc.error(message) if doc is not None else RoadmapError(one_line(f"{label}: {message}"))


def _plain_problem(value: Any, depth: int, max_depth: int) -> str | None:
    if depth > max_depth:
        return f"nested deeper than {max_depth} levels"
    if value is None or isinstance(value, (bool, str, list, dict)):
        return None
    if isinstance(value, int):
        return None if -MAX_INT <= value <= MAX_INT else f"integer {str(value)[:20]}... is too large"
    if isinstance(value, float):
        return None if math.isfinite(value) else f"must be a finite number, got {value}"
    kind = {
        "date": "a date",
        "datetime": "a date",
        "bytes": "binary data",
        "set": "a set",
        "tuple": "an ordered map",
    }.get(type(value).__name__, type(value).__name__)
    return f"unsupported value ({kind}); use a number, text, a list or a mapping"


# --------------------------------------------------------------------------- JSON


def _no_constant(name: str) -> None:
    raise ValueError(f"{name} is not a number")


def parse_json(text: str, label: str) -> Any:
    """Plain data from JSON ``text``; NaN / Infinity, deep nesting and huge integers refused."""
    try:
        data = json.loads(text, parse_constant=_no_constant)
    except json.JSONDecodeError as exc:
        raise RoadmapError(
            f"{label}: not valid JSON at line {exc.lineno}, column {exc.colno}: {one_line(exc.msg, 80)}"
        ) from None
    except RecursionError:
        raise RoadmapError(f"{label}: nested too deeply") from None
    except ValueError as exc:  # the NaN hook, or an integer of > 4,300 digits
        raise RoadmapError(f"{label}: {one_line(exc, 120)}") from None
    check_plain(data, label)
    return data


def check_known_fields(cls: type, data: dict, label: str) -> None:
    """Refuse keys of ``data`` that are not fields of the dataclass ``cls`` (they are typos),
    naming them: ``<label>: unknown field(s) a, b``."""
    import dataclasses

    unknown = sorted(set(data) - {f.name for f in dataclasses.fields(cls)})
    if unknown:
        raise RoadmapError(f"{label}: unknown field(s) {', '.join(map(str, unknown))}")
