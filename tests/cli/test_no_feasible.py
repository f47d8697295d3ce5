"""A study in which no trial is feasible is a normal outcome: the search exits 1 naming the limit
every trial broke and by how much at best; pareto (text, JSON, CSV, --failed) and plot show what
finished and say why nothing is feasible, exit 0; export refuses (exit 2) and says how to export
a trial anyway. The reference points are trained besides the budget, so candidates are tried."""

from __future__ import annotations

import json

import pytest

from roadmap.cli import main


def run(capsys, *argv):
    code = main([str(a) for a in argv])
    out, err = capsys.readouterr()
    return code, out, err


@pytest.fixture(scope="module")
def fake_cli():
    """``roadmap search`` trains with the FakeEvaluator (as tests/search/fake_cli.py does)."""
    import roadmap.search as search
    from roadmap.search.testing import FakeEvaluator

    real = search.run_search
    search.run_search = lambda settings, evaluator=None, progress=None: real(settings, FakeEvaluator(), progress)
    yield
    search.run_search = real


@pytest.fixture(scope="module")
def min_psnr_study(tmp_path_factory, fake_cli):
    """--min-psnr 50 with --budget 3: three candidates and the three reference points finish,
    none reaches 50 dB (the fake trains to about 26)."""
    import io
    import sys

    study = tmp_path_factory.mktemp("nofeasible") / "study"
    err, sys.stderr = sys.stderr, io.StringIO()
    try:
        code = main(
            [
                "search",
                "--backend",
                "local",
                "--fidelity",
                "smoke",
                "--budget",
                "3",
                "--min-psnr",
                "50",
                "--study",
                str(study),
                "--quiet",
            ]
        )
        stderr = sys.stderr.getvalue()
    finally:
        sys.stderr = err
    return study, code, stderr


def trials_json(capsys, study) -> dict:
    code, out, _ = run(capsys, "pareto", study, "--json")
    assert code == 0
    return json.loads(out)


def best_psnr(data: dict) -> float:
    return max(t["psnr"] for t in data["trials"])


def reason(data: dict) -> str:
    best = best_psnr(data)
    return f"every trial breaks --min-psnr 50 (the best PSNR is {best:.2f} dB, {50 - best:.2f} dB short)"


def test_the_search_exits_1_saying_which_limit_and_by_how_much(min_psnr_study, capsys):
    study, code, err = min_psnr_study
    data = trials_json(capsys, study)
    assert code == 1
    assert err.splitlines()[-1] == (
        f"roadmap search: no feasible trial: {reason(data)}; see `roadmap pareto {study} --failed`"
    )
    references = [t["reference"] for t in data["trials"] if t["reference"]]
    assert references == ["seed", "mofa", "unet--"] and len(data["trials"]) == 3 + 3  # candidates were tried


def test_pareto_prints_every_finished_trial_and_why_none_is_feasible(min_psnr_study, capsys):
    study, _, _ = min_psnr_study
    data = trials_json(capsys, study)
    code, out, err = run(capsys, "pareto", study)
    assert (code, err) == (0, "")
    lines = out.splitlines()
    assert (
        lines[0]
        == f"study {study}: 6 finished at the top rung (rung 0, 3 iterations), 0 failed (ignored), 0 on the front"
    )
    rows = [line for line in lines if line.startswith(" ") and line.split()[0].isdigit()]  # right-aligned
    assert len(rows) == 6 and all(row.split()[1] == "x" for row in rows)  # every trial, each over the limit
    assert f"no feasible trial: {reason(data)}; hypervolume n/a" in lines


def test_pareto_json_and_csv_say_no_feasible_trial(min_psnr_study, capsys):
    study, _, _ = min_psnr_study
    data = trials_json(capsys, study)
    assert data["front"] == [] and data["hypervolume"] is None and data["hypervolume_reference_point"] is None
    assert data["no_feasible"] == reason(data)
    assert dict(data["infeasible"].items()) == {
        str(t["number"]): f"PSNR {t['psnr']:.2f} dB < --min-psnr 50" for t in data["trials"]
    }
    assert all(t["feasible"] is False for t in data["trials"])
    code, out, _ = run(capsys, "pareto", study, "--csv")
    assert code == 0
    rows = out.splitlines()
    assert rows[0].startswith("trial,front,") and len(rows) == 1 + 6
    assert {row.split(",")[1] for row in rows[1:]} == {"x"}


def test_pareto_failed_lists_the_infeasible_trials(min_psnr_study, capsys):
    study, _, _ = min_psnr_study
    data = trials_json(capsys, study)
    code, out, _ = run(capsys, "pareto", study, "--failed")
    assert code == 0
    lines = out.splitlines()
    assert lines[0] == (f"study {study}: 0 failed, 6 infeasible (finished over a limit), 0 screened out at lower rungs")
    assert lines[1] == f"no feasible trial: {reason(data)}"
    assert lines[2:] == [
        f"  trial {t['number']:>4}  infeasible    PSNR {t['psnr']:.2f} dB < --min-psnr 50"
        for t in sorted(data["trials"], key=lambda t: t["number"])
    ]


def test_plot_writes_a_report_that_says_why(min_psnr_study, capsys, tmp_path):
    study, _, _ = min_psnr_study
    data = trials_json(capsys, study)
    out = tmp_path / "report.html"
    code, printed, err = run(capsys, "plot", study, "--out", out)
    assert (code, err) == (0, "") and printed.startswith(f"wrote {out} ")
    text = out.read_text()
    assert f'<p class="recommendation" id="no-feasible">No feasible trial: {reason(data)}. Nothing is ' in text
    assert "Pareto front</h2>" not in text


def test_export_refuses_and_says_how_to_export_a_trial_anyway(min_psnr_study, capsys, tmp_path):
    study, _, _ = min_psnr_study
    data = trials_json(capsys, study)
    code, _, err = run(capsys, "export", study, "--out", tmp_path / "w.yaml")
    assert (code, err) == (
        2,
        f"roadmap export: error: study {study}: no feasible trial: {reason(data)}; nothing "
        "to pick from. To export a trial anyway, name it: --pick trial:N (finished: 0-5)\n",
    )
    assert not (tmp_path / "w.yaml").exists()
    code, _out, _ = run(capsys, "export", study, "--pick", "trial:3", "--out", tmp_path / "w.yaml")
    assert code == 0 and (tmp_path / "w.yaml").exists()


def test_a_latency_limit_no_candidate_meets_ends_the_search_with_the_fastest(tmp_path, capsys, fake_cli):
    """Every candidate is rejected before training; after 100 in a row the search stops asking,
    finishes the reference points (trained over the limit as anchors) and says by how much the
    fastest candidate missed."""
    study = tmp_path / "study"
    code, out, err = run(
        capsys,
        "search",
        "--backend",
        "local",
        "--fidelity",
        "smoke",
        "--budget",
        "3",
        "--max-latency-ms",
        "5",
        "--study",
        study,
        "--quiet",
    )
    assert code == 1
    lines = err.splitlines()
    assert lines[-2].startswith(
        "roadmap search: stopped before the budget: 100 candidates in a row were rejected "
        "(constraints or duplicates): the constraints leave too little of the search space, "
        "or it is exhausted (best so far: --max-latency-ms 5 (the fastest candidate took "
    )
    assert lines[-1].startswith(
        "roadmap search: no feasible trial: every trial breaks --max-latency-ms 5 (the fastest candidate took "
    )
    assert lines[-1].endswith(f" the limit); see `roadmap pareto {study} --failed`")
    code, out, _ = run(capsys, "pareto", study, "--failed")
    assert code == 0
    assert out.splitlines()[0] == (
        f"study {study}: 0 failed, 3 infeasible (finished over a limit), 0 screened out "
        "at lower rungs, 100 rejected (not counted)"
    )
