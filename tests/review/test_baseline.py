"""Every review output shows the task and the baseline (the degraded input's PSNR); export
and its provenance add the test PSNR, which the pareto table and the report never show
(nothing is chosen by the test split). Old studies (``noisy_psnr``, no task) still load."""

from __future__ import annotations

import dataclasses
import io
import json

import pytest
import yaml

from roadmap.cli import main
from roadmap.evaluation.tasks import Task, gain_text, psnr_with_baseline, task_line
from roadmap.review.study import load_study_dir
from roadmap.review.summary import baseline_line, display_frame, pareto_summary, table_frame
from tests.review.review_studies import INPUT_PSNR, TEST_INPUT_PSNR, TEST_OFFSET, write_study

DENOISE_25 = "task denoise (Gaussian noise sigma 25); degraded input PSNR 20.20 dB on the validation images"


def run_cli(capsys, *argv) -> tuple[int, str, str]:
    code = main([str(a) for a in argv])
    out, err = capsys.readouterr()
    return code, out, err


@pytest.fixture(scope="module")
def legacy_dir(tmp_path_factory):
    """A study from before the tasks: evaluations with ``noisy_psnr``, no task in settings.json."""
    return write_study(tmp_path_factory.mktemp("legacy") / "nafnet-w16", with_files=False, legacy=True)


def test_formats():
    assert gain_text(28.41, 20.17) == "degraded input 20.17 dB, gain +8.24 dB"
    assert gain_text(None, 20.17) == "degraded input 20.17 dB, gain n/a" and gain_text(28.4, None) == ""
    assert psnr_with_baseline(28.41, 20.17, 1) == "28.4 dB (degraded input 20.2 dB, gain +8.2 dB)"
    assert psnr_with_baseline(28.41, None) == "28.41 dB" and psnr_with_baseline(None, None) == "n/a"
    assert task_line(Task(name="jpeg"), None) == "task jpeg (quality 20); degraded input PSNR not recorded"


def test_records_carry_the_top_rungs_baseline_and_test_scores(review, rung_study_dir):
    seed = review.trial(0)  # two runs, 30.06 and 29.94: the test PSNR is their mean too
    assert seed.input_psnr == pytest.approx(INPUT_PSNR) and seed.test_input_psnr == pytest.approx(TEST_INPUT_PSNR)
    assert seed.test_psnr == pytest.approx(30.0 + TEST_OFFSET) and seed.psnr_rgb is None
    assert review.input_psnr == pytest.approx(INPUT_PSNR) and review.task == Task()
    rungs = load_study_dir(rung_study_dir)  # trial 4: 28.9 at rung 0, 29.9 at the top rung
    assert rungs.trial(4).test_psnr == pytest.approx(29.9 + TEST_OFFSET)


def test_old_study_with_noisy_psnr_and_no_task_loads_as_denoise_sigma_25(legacy_dir, capsys):
    review = load_study_dir(legacy_dir)
    assert review.task == Task(name="denoise", sigma=(25.0, 25.0))
    assert review.trial(1).input_psnr == pytest.approx(INPUT_PSNR) and review.input_psnr == pytest.approx(INPUT_PSNR)
    assert review.trial(1).test_psnr is None and review.trial(1).test_input_psnr is None
    code, out, err = run_cli(capsys, "pareto", legacy_dir)
    assert code == 0, err
    assert DENOISE_25 in out.splitlines()[1]


def test_pareto_json_has_the_task_and_each_points_baseline(study_dir, capsys):
    code, out, err = run_cli(capsys, "pareto", study_dir, "--json")
    assert code == 0, err
    data = json.loads(out)
    assert data["task"] == {"name": "denoise", "sigma": [25.0, 25.0]}
    assert data["input_psnr"] == pytest.approx(INPUT_PSNR)
    for t in data["trials"]:
        assert t["input_psnr"] == pytest.approx(INPUT_PSNR)
        assert not {"test_psnr", "test_input_psnr"} & set(t)  # the test split chooses nothing


def test_pareto_table_names_the_task_and_the_baseline_once(study_dir, capsys):
    out = run_cli(capsys, "pareto", study_dir)[1]
    assert out.splitlines()[1].startswith(DENOISE_25)
    assert "input_psnr" not in out  # one baseline: the header, not a column
    assert "test_psnr" not in out and "test PSNR" not in out
    csv = run_cli(capsys, "pareto", study_dir, "--csv")[1]
    import pandas as pd

    frame = pd.read_csv(io.StringIO(csv))
    assert frame["input_psnr"].tolist() == pytest.approx([INPUT_PSNR] * len(frame))
    assert not [c for c in frame.columns if "test" in c]


def test_baselines_that_differ_get_a_column(review):
    summary = pareto_summary(review)
    frame = table_frame(summary)
    frame.loc[0, "input_psnr"] = 21.0
    assert "input_psnr" in display_frame(frame, None).columns
    assert "input_psnr" not in display_frame(frame, INPUT_PSNR).columns
    mixed = dataclasses.replace(review, input_psnr=None)
    assert baseline_line(mixed).endswith("degraded input PSNR differs between trials (column input_psnr)")


def test_report_shows_the_task_and_the_baseline_not_the_test_psnr(review):
    from roadmap.review import plots
    from roadmap.review.report import build_report

    text = build_report(review, input_hw=(32, 32))
    task = text[text.index('id="task"') :]
    assert task[: task.index("</p>")] == f'id="task">T{DENOISE_25[1:]} (the baseline).'
    rec = text[text.index('id="recommendation"') :]
    assert (
        "(mean of 2 runs) at the top rung (rung 0, 3 iterations); degraded input 20.20 dB, gain +9.40 dB;"
        in rec[: rec.index("</p>")]
    )
    assert "degraded input 20.200 dB, gain +9.400 dB" in plots.hover_text(review.trial(1))
    assert "test_psnr" not in text and "test PSNR" not in text


def _export(study, tmp_path, capsys) -> tuple[dict, str]:
    """``export --pick trial:1``: (the written spec's provenance, what the command printed)."""
    out = tmp_path / "w.yaml"
    code, stdout, err = run_cli(capsys, "export", study, "--pick", "trial:1", "--out", out)
    assert code == 0, err
    return yaml.safe_load(out.read_text())["provenance"], stdout


def test_export_records_the_task_and_the_test_psnr(study_dir, tmp_path, capsys):
    prov, stdout = _export(study_dir, tmp_path, capsys)
    assert prov["task"] == {"name": "denoise", "sigma": [25.0, 25.0]}
    m = prov["metrics"]
    assert m["psnr"] == pytest.approx(29.6) and m["input_psnr"] == pytest.approx(INPUT_PSNR)
    assert m["test_psnr"] == pytest.approx(29.6 + TEST_OFFSET) and m["test_input_psnr"] == pytest.approx(
        TEST_INPUT_PSNR
    )
    assert "psnr_rgb" not in m and "noisy_psnr" not in m
    assert (
        "PSNR 29.600 ±0.258 dB (2 runs; degraded input 20.200 dB, gain +9.400 dB), "
        "test PSNR 29.300 dB (degraded input 20.500 dB, gain +8.800 dB), 55 ms"
    ) in stdout


def test_export_of_an_old_study(legacy_dir, tmp_path, capsys):
    prov, stdout = _export(legacy_dir, tmp_path, capsys)
    assert prov["task"] == {"name": "denoise", "sigma": [25.0, 25.0]}
    assert prov["metrics"]["input_psnr"] == pytest.approx(INPUT_PSNR) and "noisy_psnr" not in prov["metrics"]
    assert prov["metrics"]["test_psnr"] is None
    assert "test PSNR n/a (no test images in this data)" in stdout


def test_another_task_is_named_everywhere(tmp_path, capsys):
    d = write_study(tmp_path / "s", with_files=False, task={"name": "jpeg", "quality": [10.0, 10.0]})
    assert "task jpeg (quality 10); degraded input PSNR 20.20 dB" in run_cli(capsys, "pareto", d)[1]
    assert json.loads(run_cli(capsys, "pareto", d, "--json")[1])["task"] == {"name": "jpeg", "quality": [10.0, 10.0]}


def test_a_damaged_task_is_one_line_and_exit_2(tmp_path, capsys):
    d = write_study(tmp_path / "s", with_files=False, task={"name": "paint"})
    for argv in (["pareto", d], ["export", d, "--out", tmp_path / "w.yaml"]):
        code, _, err = run_cli(capsys, *argv)
        assert code == 2 and len(err.strip().splitlines()) == 1, err
        assert "settings.json: task: " in err and "paint" in err
