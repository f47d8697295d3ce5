"""Every refusal names the file and the field, shows a changed document as the fields that
differ, and says what to do; values that make no sense are refused, not stored."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest

from roadmap.cli import main


def run(capsys, *argv):
    code = main([str(a) for a in argv])
    out, err = capsys.readouterr()
    return code, out, err


@pytest.fixture(scope="module")
def user_study(tmp_path_factory) -> tuple[Path, Path]:
    """A study searched on a spec file (my.yaml, the unet seed) with the smoke fidelity."""
    import roadmap
    from roadmap.search import resolve_settings, run_search
    from roadmap.search.testing import FakeEvaluator

    root = tmp_path_factory.mktemp("refusals")
    spec = roadmap.save_spec(roadmap.get_seed("unet"), root / "my.yaml")
    study = root / "study"
    run_search(
        resolve_settings({"seed": str(spec), "budget": 1, "fidelity": "smoke", "backend": "local"}, study, None),
        FakeEvaluator(),
    )
    return study, spec


@pytest.fixture
def edited(user_study, tmp_path) -> tuple[Path, Path]:
    study, spec = user_study
    copy = tmp_path / "my.yaml"
    copy.write_text(spec.read_text().replace("width: 32", "width: 40"))
    shutil.copytree(study, tmp_path / "study")
    settings = json.loads((tmp_path / "study" / "settings.json").read_text())
    settings["seed"] = str(copy)
    (tmp_path / "study" / "settings.json").write_text(json.dumps(settings))
    return tmp_path / "study", copy


def test_an_edited_seed_spec_shows_the_fields_that_differ(edited, capsys):
    study, spec = edited
    code, _, err = run(capsys, "search", "--seed", spec, "--study", study, "--backend", "local", "--budget", "2")
    assert (code, err) == (
        2,
        (
            f"roadmap search: error: study {study} was created with other settings ({study}/settings.json: "
            "seed_spec.encoder[1].width: study has 32, command gives 40; seed_spec.decoder[1].width: study has 32, "
            "command gives 40); rerun with the study's settings or use another --study\n"
        ),
    )


def test_another_fidelity_shows_the_fields_that_differ(user_study, tmp_path, capsys):
    study, _spec = user_study
    fidelity = tmp_path / "f.yaml"
    fidelity.write_text("iterations: 5\nbatch: 2\ncrop: 32\nval_crop: 32\nval_count: 2\n")
    code, _, err = run(capsys, "search", "--study", study, "--fidelity", fidelity, "--backend", "local")
    assert (code, err) == (
        2,
        (
            f"roadmap search: error: study {study} was created with other settings ({study}/settings.json: "
            'fidelity.name: study has "smoke", command gives "f"; fidelity.iterations: study has 3, command gives 5; '
            "fidelity.eta: study has 3, command gives 4); rerun with the study's settings or use another --study\n"
        ),
    )


def test_another_seed_is_named_before_its_space_is_read(user_study, capsys):
    study, _ = user_study
    code, _, err = run(capsys, "search", "--seed", "nafnet", "--study", study, "--backend", "local")
    assert (code, err) == (
        2,
        (
            f"roadmap search: error: study {study} was created with other settings ({study}/settings.json: seed: study "
            f'has "{study.parent}/my.yaml", command gives "nafnet"); rerun with the study\'s settings or use another '
            "--study\n"
        ),
    )


def test_a_damaged_stored_space_names_settings_json(user_study, tmp_path, capsys):
    study = tmp_path / "study"
    shutil.copytree(user_study[0], study)
    settings = json.loads((study / "settings.json").read_text())
    settings["space"]["steps"][0]["transform"] = "bogus"
    (study / "settings.json").write_text(json.dumps(settings))
    code, _, err = run(capsys, "search", "--study", study, "--backend", "local")
    assert code == 2 and err.startswith(
        f"roadmap search: error: study settings {study}/settings.json: space: "
        "steps[0].transform: unknown transform 'bogus' (known: "
    )


def test_a_missing_fidelity_file_is_not_an_unknown_preset(capsys):
    code, _, err = run(capsys, "eval", "nafnet", "--fidelity", "configs/fast.yaml")
    assert (code, err) == (
        2,
        "roadmap eval: error: --fidelity configs/fast.yaml: no such file (a fidelity is a "
        "preset: smoke, quick, default, long, inherited, replicated, or a YAML/JSON file of fidelity fields)\n",
    )
    code, _, err = run(capsys, "eval", "nafnet", "--fidelity", "fastest")
    assert (code, err) == (
        2,
        "roadmap eval: error: fidelity: unknown preset 'fastest' (choose from smoke, quick, "
        "default, long, inherited, replicated)\n",
    )


@pytest.mark.parametrize("byte,column", [(b"\x00", 5), (b"\x07", 5), (b"\x1b", 5)])
def test_a_control_character_in_yaml_names_its_line_and_column(byte, column, tmp_path, capsys):
    bad = tmp_path / "bad.yaml"
    bad.write_bytes(b"name: x\nin: " + byte + b"3\n")
    code, _, err = run(capsys, "show", bad)
    assert (code, err) == (
        2,
        f"roadmap show: error: spec {bad}: not valid YAML at line 2, column {column}: the "
        f"control character 0x{byte[0]:02x} is not allowed in YAML (binary data, or a file "
        "saved in another encoding?)\n",
    )


@pytest.fixture(scope="module")
def review_study(tmp_path_factory):
    from tests.review.review_studies import write_study

    return write_study(tmp_path_factory.mktemp("hvref") / "study", with_files=False)


@pytest.mark.parametrize(
    "value,bad",
    [
        ("nan,100,200", "PSNR"),
        ("25,-inf,200", "LATENCY_MS"),
        ("25,100,inf", "MEMORY_MB"),
        ("nan,inf,nan", "PSNR, LATENCY_MS, MEMORY_MB"),
    ],
)
@pytest.mark.parametrize("command", ["pareto", "plot"])
def test_hv_ref_refuses_non_finite_values(review_study, command, value, bad, capsys, tmp_path):
    out = ["--out", tmp_path / "r.html"] if command == "plot" else []
    code, printed, err = run(capsys, command, review_study, "--hv-ref", value, *out)
    assert (code, printed, err) == (
        2,
        "",
        f"roadmap {command}: error: --hv-ref: {bad} must be a finite number, got '{value}'\n",
    )
    assert not (tmp_path / "r.html").exists()


def test_a_budget_beyond_the_bound_is_refused_before_the_study_exists(tmp_path, capsys):
    with pytest.raises(SystemExit) as info:
        main(["search", "--budget", "1000000000", "--study", str(tmp_path / "s")])
    assert info.value.code == 2 and not (tmp_path / "s").exists()
    assert capsys.readouterr().err.splitlines()[-1] == (
        "roadmap search: error: argument --budget: must be at most 10000, got 1000000000"
    )


def test_the_settings_refuse_what_the_flags_refuse(tmp_path):
    """The same bounds hold for a caller of `resolve_settings` (the API, a stored budget)."""
    from roadmap.errors import RoadmapError
    from roadmap.search import resolve_settings

    for options, message in (
        ({"budget": 10**9}, "--budget: must be in [1, 10000], got 1000000000"),
        ({"cpus_per_trial": 0}, "--cpus-per-trial: must be > 0, got 0"),
    ):
        with pytest.raises(RoadmapError) as info:
            resolve_settings({"fidelity": "smoke", **options}, tmp_path / "s", None)
        assert str(info.value) == message
