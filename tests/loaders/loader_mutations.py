"""Hypothesis strategies: malformed versions of a well-formed file (bytes in, bytes out).

Byte-level: flips, truncation, splices of random bytes, random files. Text-level: deep
nesting, alias bombs, huge integers, NaN / infinity. Data-level (parse, change, dump): a value
of the wrong type or size at a random place, an unknown key, a root that is not a mapping.
"""

from __future__ import annotations

import copy
import json
import re
from typing import Any

import yaml
from hypothesis import strategies as st

NASTY = [
    float("nan"),
    float("inf"),
    float("-inf"),
    10**9,
    10**30,
    -1,
    0,
    1.7,
    -0.5,
    "",
    "x" * 300,
    "encoder[99]",
    [],
    {},
    None,
    True,
    [1, "a", None],
    {"a": {"b": [1]}},
    "\u2028\x85",
    2**63,
]
MUTATIONS = ("flip", "truncate", "splice", "random", "deep", "alias", "huge_int", "nan", "value", "key", "root")


def _is_json(base: bytes) -> bool:
    return base.lstrip().startswith(b"{")


def _dump(data: Any, as_json: bool) -> bytes:
    if as_json:
        return json.dumps(data, indent=1).encode()  # NaN / Infinity tokens included on purpose
    return yaml.safe_dump(data, sort_keys=False, allow_unicode=True).encode()


def _containers(data: Any, out: list) -> list:
    """Every dict / list inside ``data`` (the places a value can be changed)."""
    if isinstance(data, (dict, list)):
        out.append(data)
        for value in data.values() if isinstance(data, dict) else data:
            _containers(value, out)
    return out


def _flip(draw, base: bytes) -> bytes:
    data = bytearray(base)
    for _ in range(draw(st.integers(1, 8))):
        data[draw(st.integers(0, len(data) - 1))] = draw(st.integers(0, 255))
    return bytes(data)


def _deep(draw, base: bytes) -> bytes:
    n = draw(st.sampled_from([49, 51, 300, 5000]))
    if _is_json(base):
        return base.replace(b"{", b'{"zz": ' + b"[" * n + b"]" * n + b",", 1)
    return base + f"\nzz: {'[' * n}{']' * n}\n".encode()


def _alias(draw, base: bytes) -> bytes:
    if _is_json(base):
        return _deep(draw, base)
    levels, width = draw(st.integers(3, 8)), draw(st.sampled_from([2, 10]))
    lines = [f"b0: &b0 [{', '.join(['x'] * width)}]"]
    lines += [f"b{k}: &b{k} [{', '.join([f'*b{k - 1}'] * width)}]" for k in range(1, levels)]
    return base + ("\n" + "\n".join(lines) + "\n").encode()


def _replace_number(draw, base: bytes, replacements: list[bytes]) -> bytes:
    numbers = list(re.finditer(rb"(?<![\w.])\d+(\.\d+)?(?![\w.])", base))
    if not numbers:
        return base + b"\n" + draw(st.sampled_from(replacements))
    m = draw(st.sampled_from(numbers))
    return base[: m.start()] + draw(st.sampled_from(replacements)) + base[m.end() :]


def _structured(draw, base: bytes, how: str) -> bytes:
    as_json = _is_json(base)
    data = json.loads(base) if as_json else yaml.safe_load(base)
    if how == "root":
        return _dump(draw(st.sampled_from([*NASTY, [data], "text"])), as_json)
    data = copy.deepcopy(data)
    places = _containers(data, [])
    place = draw(st.sampled_from(places))
    if how == "key" and isinstance(place, dict):
        place[draw(st.sampled_from(["bogus", "widht", "step", "1"]))] = draw(st.sampled_from(NASTY))
    elif isinstance(place, dict) and place:
        place[draw(st.sampled_from(sorted(place, key=str)))] = draw(st.sampled_from(NASTY))
    elif isinstance(place, list) and place:
        place[draw(st.integers(0, len(place) - 1))] = draw(st.sampled_from(NASTY))
    else:
        place_value = draw(st.sampled_from(NASTY))
        (place.append(place_value) if isinstance(place, list) else place.update(zz=place_value))
    return _dump(data, as_json)


@st.composite
def malformed(draw, bases: tuple[bytes, ...]) -> tuple[str, bytes]:
    """``(mutation, bytes)``: one of the bases, broken in one way (sometimes harmlessly)."""
    base = draw(st.sampled_from(bases))
    how = draw(st.sampled_from(MUTATIONS))
    if how == "flip":
        return how, _flip(draw, base)
    if how == "truncate":
        return how, base[: draw(st.integers(0, len(base) - 1))]
    if how == "splice":
        at = draw(st.integers(0, len(base)))
        return how, base[:at] + draw(st.binary(min_size=1, max_size=64)) + base[at:]
    if how == "random":
        return how, draw(st.binary(max_size=4096))
    if how == "deep":
        return how, _deep(draw, base)
    if how == "alias":
        return how, _alias(draw, base)
    if how == "huge_int":
        return how, _replace_number(draw, base, [b"1000000000", b"9" * 30, b"9" * 5000, b"-7"])
    if how == "nan":
        return how, _replace_number(draw, base, [b".nan", b".inf", b"-.inf", b"NaN", b"Infinity", b"1e999"])
    return how, _structured(draw, base, how)
