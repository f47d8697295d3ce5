"""A smoke search per restoration task with the real evaluator (3 training steps a candidate,
in process): the study binds its task, the trials are trained and scored on it (an SR seed gets
its up-sampling head), `pareto` names the task and its baseline, and a resume with another task
is refused naming both."""

import json

import pytest

from tests.search.helpers import pareto_json, run_cli, trials

pytestmark = pytest.mark.slow


@pytest.mark.parametrize(
    "options, name",
    [
        (["--task", "deblur", "--blur", "motion"], "deblur"),
        (["--task", "sr", "--scale", "2"], "sr"),
        (["--task", "jpeg", "--quality", "10:40"], "jpeg"),
    ],
)
def test_smoke_search_per_task(tmp_path, capsys, options, name):
    study = tmp_path / "study"
    code, _out, err = run_cli(
        capsys,
        "search",
        "--seed",
        "nafnet",
        "--budget",
        "2",
        "--fidelity",
        "smoke",
        "--backend",
        "local",
        "--study",
        str(study),
        "--quiet",
        *options,
    )
    assert code == 0, err
    stored = json.loads((study / "settings.json").read_text())
    assert stored["task"]["name"] == name
    seed = next(t for t in trials(study) if t.user_attrs.get("reference") == "seed")
    assert seed.state.name == "COMPLETE"
    metrics = seed.user_attrs["metrics"]
    assert metrics["input_psnr"] > 10 and metrics["psnr"] > 5
    assert ("head: {upscale: 2}" in seed.user_attrs["spec_yaml"]) == (name == "sr")
    # costs are counted at the input that gives a 256x256 output: 128x128 at x2
    assert metrics["macs"] == (279_013_888 if name == "sr" else 1_031_039_488)
    report = pareto_json(capsys, study)
    assert report["task"]["name"] == name and report["input_psnr"] == pytest.approx(metrics["input_psnr"])
    assert len(report["front"]) >= 1
    other = ["--task", "denoise"] if name != "denoise" else ["--task", "jpeg"]
    code, _, err = run_cli(capsys, "search", "--study", str(study), "--backend", "local", "--quiet", *other)
    assert code == 2 and "task: study has" in err and "command gives denoise (Gaussian noise sigma 25)" in err


def test_sr_search_on_inherited_screens_with_the_real_evaluator(tmp_path, capsys):
    """`inherited`'s plan in miniature (the real trainings: the seed's base from scratch, then
    screens carried from its weights, the front on them) on an SR seed."""
    fidelity = tmp_path / "screens.yaml"
    fidelity.write_text(
        "rungs: [2, 4]\nscreen_iterations: 2\nfront_on_screens: true\nbatch: 2\ncrop: 32\nval_crop: 32\nval_count: 2\n"
    )
    study = tmp_path / "study"
    code, _, err = run_cli(
        capsys,
        "search",
        "--seed",
        "nafnet",
        "--budget",
        "2",
        "--fidelity",
        str(fidelity),
        "--backend",
        "local",
        "--study",
        str(study),
        "--quiet",
        "--task",
        "sr",
        "--scale",
        "2",
    )
    assert code == 0, err
    done = [t for t in trials(study) if t.state.name == "COMPLETE"]
    assert len(done) == 5 and all(t.user_attrs["metrics"]["status"] == "ok" for t in done)
    report = pareto_json(capsys, study)
    assert report["top_rung"] == 0 and len(report["front"]) >= 1
