"""No input can crash a loader: generated and mutated versions of every file the tool reads.

For each loader (spec, search space, roadmap, fidelity, a study's settings.json) hypothesis
breaks the shipped files in one way each (byte flips, truncation, random bytes, deep nesting,
alias bombs, huge numbers, NaN, wrong types, unknown keys, wrong roots): the loader returns a
value or raises one `RoadmapError` line naming the file, never another exception. The explicit
cases below are the corpus that found bugs (kept as regressions) and one of each attack.
"""

from __future__ import annotations

import pytest
from hypothesis import HealthCheck, given, settings

from roadmap.errors import RoadmapError
from tests.loaders.loader_corpus import KINDS, file_name, load, shipped
from tests.loaders.loader_mutations import malformed

FUZZ = settings(
    max_examples=50,
    deadline=None,
    derandomize=True,
    database=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
)
SEEN: dict[str, dict[str, int]] = {}  # kind -> {"value": n, "error": n}: what the examples gave


def check_loader(kind: str, folder, content: bytes) -> str:
    """Write ``content`` where the loader of ``kind`` reads it and load it; returns ``value`` or
    ``error`` (a one-line RoadmapError naming the file). Any other exception fails the test."""
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / file_name(kind)
    path.write_bytes(content)
    try:
        load(kind, path)
    except RoadmapError as exc:
        message = str(exc)
        assert message and all(ch.isprintable() for ch in message), repr(message)
        assert path.name in message, message
        return "error"
    return "value"


@pytest.mark.parametrize("kind", KINDS)
def test_shipped_files_load(kind, workdir):
    for k, content in enumerate(shipped(kind)):
        assert check_loader(kind, workdir / f"ok-{kind}-{k}", content) == "value"


@pytest.mark.parametrize("kind", KINDS)
def test_malformed_files_give_a_value_or_one_error_line(kind, workdir):
    counter = iter(range(10**6))

    @FUZZ
    @given(case=malformed(shipped(kind)))
    def run(case):
        _, content = case
        outcome = check_loader(kind, workdir / f"fuzz-{kind}-{next(counter)}", content)
        SEEN.setdefault(kind, {}).setdefault(outcome, 0)
        SEEN[kind][outcome] += 1

    run()
    assert SEEN[kind].get("error", 0) >= 30, SEEN[kind]  # most mutations really break the file


# --------------------------------------------------------------------------- explicit corpus

DEEP = b"x: " + b"[" * 5000 + b"]" * 5000 + b"\n"
BOMB = b"\n".join(
    [b"a0: &a0 [x, x, x, x, x, x, x, x, x, x]"]
    + [f"a{k}: &a{k} [{', '.join([f'*a{k - 1}'] * 10)}]".encode() for k in range(1, 7)]
)
ATTACKS = {
    "random bytes": (bytes(range(256)) * 16, "not UTF-8 text (byte 0x80 at line 2, column 118)"),
    "deep nesting": (DEEP, "line 1: nested deeper than 50 levels"),
    "alias bomb": (BOMB, "aliases expand to more than 100000 values"),
    "recursive alias": (b"a: &r [1, *r]\n", "refers to a collection that contains it"),
    "5000-digit integer": (b"a: " + b"9" * 5000 + b"\n", "cannot read a value"),
    "binary value": (b"a: !!binary aGVsbG8=\n", "a: unsupported value (binary data)"),
    "date value": (b"a: 2025-01-01\n", "a: unsupported value (a date)"),
    "python tag": (b"a: !!python/object/apply:os.system ['true']\n", "not valid YAML"),
    "two documents": (b"a: 1\n---\nb: 2\n", "not valid YAML"),
    "NUL byte": (b"a: \x00\n", "not valid YAML"),
    "empty": (b"", ""),
    "a list root": (b"- 1\n- 2\n", ""),
    "NaN": (b"a: .nan\n", ""),
}


@pytest.mark.parametrize("kind", [k for k in KINDS if k != "settings"])
@pytest.mark.parametrize("attack", sorted(ATTACKS))
def test_each_attack_is_one_line_naming_the_file(kind, attack, workdir):
    content, fragment = ATTACKS[attack]
    path = workdir / f"attack-{kind}-{attack.replace(' ', '-')}" / file_name(kind)
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(content)
    with pytest.raises(RoadmapError) as info:
        load(kind, path)
    assert str(path.name) in str(info.value) and fragment in str(info.value)
    assert "\n" not in str(info.value)


@pytest.mark.parametrize(
    "text,fragment",
    [
        ('{"budget": NaN}', "NaN is not a number"),
        ('{"budget": 1e999}', "budget: must be a finite number, got inf"),
        ('{"budget": "5"}', "budget: must be an integer, got '5'"),
        ('{"sampler": "nsga2", "bogus": 1}', "bogus: unknown field"),
        ("[1, 2]", "must be a JSON object, got list"),
        ('{"a": ' * 3000 + "1" + "}" * 3000, "nested too deeply"),
        ('{"min_psnr": true}', "min_psnr: must be a number or null, got True"),
        ('{"seed": "nafnet", ', "not valid JSON at line 1"),
        ('{"budget": ' + "9" * 5000 + "}", "Exceeds the limit"),
    ],
)
def test_settings_json_is_checked(text, fragment, workdir, tmp_path):
    (tmp_path / "settings.json").write_text(text)
    with pytest.raises(RoadmapError) as info:
        load("settings", tmp_path / "settings.json")
    assert fragment in str(info.value) and "settings.json" in str(info.value)


def test_large_file_and_not_a_file(tmp_path):
    from roadmap.spec import load_spec

    big = tmp_path / "big.yaml"
    big.write_bytes(b"# " + b"x" * (1 << 20) + b"\n")
    with pytest.raises(RoadmapError, match=r"big.yaml: file is 1048579 bytes; the limit is 1048576"):
        load_spec(big)
    folder = tmp_path / "dir.yaml"
    folder.mkdir()
    with pytest.raises(RoadmapError, match=r"dir.yaml: not a regular file"):
        load_spec(folder)


@pytest.mark.parametrize(
    "field,value,message",
    [
        ("width", 10**9, "encoder[0].width: must be at most 8192, got 1000000000"),
        ("depth", 10**6, "encoder[0].depth: must be at most 128, got 1000000"),
        ("kernel", 1001, "encoder[0].conv.kernel: must be at most 31, got 1001"),
    ],
)
def test_absurd_sizes_are_refused_before_anything_is_built(field, value, message, tmp_path):
    import yaml

    from roadmap.seeds import get_seed
    from roadmap.spec import load_spec

    data = get_seed("nafnet").to_dict()
    stage = data["encoder"][0]
    (stage.setdefault("conv", {"kind": "depthwise"}) if field == "kernel" else stage)[field] = value
    path = tmp_path / "absurd.yaml"
    path.write_text(yaml.safe_dump(data, sort_keys=False))
    with pytest.raises(RoadmapError) as info:
        load_spec(path)
    assert str(info.value).startswith(f"spec {path}: line ") and str(info.value).endswith(message)


def test_levels_and_middle_stages_are_bounded():
    from roadmap.seeds import get_seed
    from roadmap.spec import load_spec

    data = get_seed("nafnet").to_dict()
    data["middle"] = data["middle"] * 17
    with pytest.raises(RoadmapError, match=r"middle: needs 1 to 16 stages, got 17"):
        load_spec(data)


def test_an_error_names_the_line_of_the_field(tmp_path):
    from roadmap.seeds import get_seed
    from roadmap.spec import load_spec

    text = get_seed("nafnet").to_yaml()
    lines = text.splitlines()
    k = next(i for i, line in enumerate(lines) if "width: 32" in line)
    lines[k] = lines[k].replace("width: 32", "width: 33")
    path = tmp_path / "typo.yaml"
    path.write_text("\n".join(lines) + "\n")
    with pytest.raises(RoadmapError) as info:
        load_spec(path)
    assert str(info.value).startswith(f"spec {path}: line ")
    assert "add needs equal widths, skip has 33 and decoder 32" in str(info.value)


def test_exported_provenance_may_hold_nan(tmp_path):
    """A spec's provenance records measurements (a NaN latency CV, say): the rest is checked."""
    from roadmap.seeds import get_seed
    from roadmap.spec import load_spec

    spec = get_seed("nafnet")
    spec.provenance = {**spec.provenance, "metrics": {"latency_cv": float("nan")}}
    path = tmp_path / "exported.yaml"
    path.write_text(spec.to_yaml())
    assert load_spec(path).provenance["metrics"]["latency_cv"] != 0


# Found by the fuzzing above (kept as regressions).
def test_regression_stem_null_is_an_error_not_an_attribute_error(tmp_path):
    """A truncated seed file left ``stem:`` with no value: validation crashed on ``None.kernel``."""
    from roadmap.seeds import get_seed
    from roadmap.spec import load_spec

    path = tmp_path / "truncated.yaml"
    data = get_seed("nafnet").to_dict()
    data["stem"] = None
    path.write_text(yaml_dump(data))
    with pytest.raises(RoadmapError, match=r"truncated.yaml: line \d+: stem: must be a mapping, got NoneType"):
        load_spec(path)


def test_regression_an_address_index_of_5000_digits(tmp_path):
    """``int()`` of a 5000-digit index raised Python's ValueError (its digit limit) from the space."""
    from roadmap.search.space import load_space

    path = tmp_path / "space.yaml"
    path.write_text(
        yaml_dump(
            {
                "steps": [
                    {
                        "transform": "pconv",
                        "params": {"overrides": {"per": ["encoder[" + "9" * 5000 + "]"], "choice": [0.5]}},
                    }
                ]
            }
        )
    )
    with pytest.raises(
        RoadmapError,
        match=r"space.yaml: line \d+: steps\[0\].params.overrides.per: encoder\[9+"
        r"\.\.\.: the index is too large",
    ):
        load_space(path)


def yaml_dump(data) -> str:
    import yaml

    return yaml.safe_dump(data, sort_keys=False)


def test_every_setting_a_study_stores_has_a_type():
    """read_settings refuses unknown keys: a new binding setting needs its entry in SETTINGS_TYPES."""
    from roadmap.search.settings_file import BINDING_SETTINGS, SETTINGS_TYPES

    assert set(BINDING_SETTINGS) | {"budget", "created"} <= set(SETTINGS_TYPES)
