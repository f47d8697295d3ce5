"""PSNR with its noise band in `roadmap pareto`, `plot` and `export`: ties inside the band,
verdicts against the seed beyond it, and never a claim the verdicts do not support."""

from __future__ import annotations

import io
import json
import math

import pytest

from roadmap.cli import main
from roadmap.review.study import load_study_dir
from roadmap.review.summary import versus_seed_text
from tests.review.review_studies import SIGMA, T2, TRIALS

OBJECTIVE_KEYS = ("psnr", "latency_ms", "peak_memory_bytes")


def run_cli(capsys, *argv):
    code = main([str(a) for a in argv])
    out, err = capsys.readouterr()
    assert code == 0, err
    return out


@pytest.fixture(scope="module")
def data(study_dir):
    from contextlib import redirect_stdout

    buf = io.StringIO()
    with redirect_stdout(buf):
        assert main(["pareto", str(study_dir), "--json"]) == 0
    return json.loads(buf.getvalue())


def by_number(data):
    return {t["number"]: t for t in data["trials"]}


def test_noise_floor_is_the_pooled_sigma_of_the_two_pairs(data):
    pairs = [TRIALS[0][0], TRIALS[1][0]]  # the seed and trial 1 ran with random seeds 0 and 1
    sum_sq = sum((a - (a + b) / 2) ** 2 + (b - (a + b) / 2) ** 2 for a, b in pairs)  # 1 dof each
    sigma = math.sqrt(sum_sq / len(pairs))
    assert sigma == pytest.approx(SIGMA)
    # the smoke fidelity has no calibrated prior: the study's two pairs alone, 2 dof
    noise = data["noise"]
    assert {k: noise[k] for k in ("sigma_db", "replicated_candidates", "runs", "dof", "kind", "prior")} == {
        "sigma_db": pytest.approx(sigma),
        "replicated_candidates": 2,
        "runs": 10,
        "dof": 2,
        "kind": "study",
        "prior": None,
    }
    assert noise["t_quantile"] == pytest.approx(T2) and noise["study_sigma_db"] == pytest.approx(sigma)
    assert noise["source"].startswith("study: 2 candidates of this study trained twice at the top rung (2 dof)")
    assert data["top_rung"] == 0
    for t in data["trials"]:
        n = len(t["psnr_runs"])
        assert t["psnr_band_db"] == pytest.approx(T2 * sigma / math.sqrt(n))
        assert t["psnr"] == pytest.approx(sum(t["psnr_runs"]) / n)
    assert by_number(data)[0]["psnr_runs"] == [30.06, 29.94]


def test_psnr_inside_the_band_of_the_seed_is_a_tie(data):
    trials = by_number(data)
    one_vs_two = T2 * SIGMA * math.sqrt(1 / 1 + 1 / 2)  # a one-run trial against the seed's 2 runs
    expected = {
        3: ("tie", -0.2, one_vs_two),
        9: ("tie", 0.05, one_vs_two),
        8: ("better", 0.6, one_vs_two),
        1: ("worse", -0.4, T2 * SIGMA),
        2: ("worse", -0.8, one_vs_two),
        0: ("tie", 0.0, T2 * SIGMA),
    }
    for number, (verdict, delta, band) in expected.items():
        psnr = trials[number]["versus_seed"]["psnr"]
        assert (psnr["verdict"], psnr["delta"], psnr["band"]) == (verdict, pytest.approx(delta), pytest.approx(band))
    # trial 1 is 0.4 dB below the seed: beyond its band (0.37), though within trial 3's (0.45)
    assert T2 * SIGMA < 0.4 < one_vs_two


def test_dominates_only_when_nothing_is_worse_beyond_the_noise(data):
    overall = {n: t["versus_seed"]["overall"] for n, t in by_number(data).items()}
    assert overall == {
        0: "tie",
        1: "trade-off",
        2: "trade-off",
        3: "dominates",
        4: "dominated",
        6: "trade-off",
        8: "trade-off",
        9: "tie",
    }
    for t in data["trials"]:
        verdicts = {t["versus_seed"][k]["verdict"] for k in OBJECTIVE_KEYS}
        assert (t["versus_seed"]["overall"] == "dominates") == ("worse" not in verdicts and "better" in verdicts)


def test_verdict_words_never_overclaim(review):
    for t in review.trials:
        text = versus_seed_text(review, t)
        assert ("dominates" in text) == (t.versus_seed["overall"] == "dominates"), text
    assert versus_seed_text(review, review.trial(3)).startswith(
        "ties with the seed in PSNR (-0.20 dB, within ±0.45 dB)"
    )
    assert "0.40 dB below the seed in PSNR (beyond the noise band ±0.37 dB), is 45 % faster" in versus_seed_text(
        review, review.trial(1)
    )


def test_pareto_table_shows_bands_and_verdicts(study_dir, capsys):
    out = run_cli(capsys, "pareto", study_dir, "--all")
    rows = out.splitlines()
    header = next(i for i, line in enumerate(rows) if line.split()[:2] == ["trial", "front"])
    lines = {line.split()[0]: line for line in rows[header + 1 :] if line.startswith(" ")}
    assert "30.00 ±0.26 n=2" in lines["0"] and "seed" in lines["0"]
    assert "29.60 ±0.26 n=2" in lines["1"] and "-0.40 worse" in lines["1"] and "trade-off" in lines["1"]
    assert "29.80 ±0.37" in lines["3"] and "-0.20 tie" in lines["3"] and "dominates" in lines["3"]
    assert "+0.60 better" in lines["8"] and "+0.05 tie" in lines["9"] and "dominated" in lines["4"]
    assert "top rung (rung 0, 3 iterations)" in out
    assert (
        "noise floor: one run's PSNR sigma 0.085 dB, 2 degrees of freedom (study: 2 candidates of this study "
        "trained twice at the top rung (2 dof); no calibrated prior for this fidelity and task); ± = t sigma/"
        "sqrt(n runs) with t = 4.30 (Student's t, 95 %, 2 dof)"
    ) in out
    assert "0 candidates screened out at lower rungs" in out


def test_pareto_csv_has_the_same_columns_as_numbers(study_dir, capsys):
    import pandas as pd

    frame = pd.read_csv(io.StringIO(run_cli(capsys, "pareto", study_dir, "--csv"))).set_index("trial")
    assert frame.loc[1, "psnr_band_db"] == pytest.approx(T2 * SIGMA / math.sqrt(2), rel=1e-5)
    assert frame.loc[1, "psnr_runs"] == 2 and frame.loc[3, "psnr_runs"] == 1
    assert frame.loc[1, "vs_seed_psnr_db"] == pytest.approx(-0.4, rel=1e-5)
    assert frame.loc[1, "vs_seed_psnr_band_db"] == pytest.approx(T2 * SIGMA, rel=1e-5)
    assert (frame.loc[1, "vs_seed_psnr"], frame.loc[1, "vs_seed"]) == ("worse", "trade-off")
    assert (frame.loc[3, "vs_seed_psnr"], frame.loc[3, "vs_seed"]) == ("tie", "dominates")


def test_screened_out_candidates_are_listed_but_not_on_the_front(rung_study_dir, capsys):
    data = json.loads(run_cli(capsys, "pareto", rung_study_dir, "--json"))
    # trial 2 (40 ms, 80 MB) would dominate everything, but the search stopped it at rung 0
    assert data["screened_out"] == {"2": "screened out after rung 0 (PSNR 26.00 dB there)"}
    assert 2 not in data["front"] and 2 not in [t["number"] for t in data["trials"]]
    assert data["failures"] == {"3": "failed: CUDA out of memory"}
    assert (data["top_rung"], data["top_rung_iterations"]) == (1, 6)
    trial4 = by_number(data)[4]
    assert trial4["psnr"] == pytest.approx(29.9) and trial4["psnr_runs"] == [29.9]  # the top rung's, not 28.9
    out = run_cli(capsys, "pareto", rung_study_dir)
    assert "1 candidate screened out at lower rungs (not on the front: trial 2)" in out
    assert "1 failed (trial 3)" in out and "(rung 1, 6 iterations)" in out


def test_report_states_the_knee_runs_and_never_overclaims(review, rung_study_dir):
    from roadmap.review.report import build_report

    text = build_report(review, input_hw=(32, 32))
    rec = text[text.index('id="recommendation"') :]
    rec = rec[: rec.index("</p>")]
    assert "trial 1 (mofa)" in rec and "PSNR 29.60 ±0.26 dB (mean of 2 runs)" in rec
    assert "a trade-off against the seed" in rec and "dominates" not in rec
    fast = text[text.index('id="fastest-no-loss"') :]
    fast = fast[: fast.index("</p>")]
    # the second recommendation, trial 3, ties in PSNR and is faster and smaller: its verdict is
    # "dominates"; the knee is a trade-off, so nowhere else does the report say it
    assert "Fastest point with no loss against the seed: trial 3 (roadmap export --pick fastest-no-loss)" in fast
    assert "it dominates the seed beyond the noise" in fast
    assert "dominates the seed" not in text.replace(fast, "")
    assert "Failed trials: 2." in text and "diverged: loss became nan at iteration 12" in text
    assert "Screened out: 0 candidates" in text

    rungs = build_report(load_study_dir(rung_study_dir), input_hw=(32, 32))
    assert "trial 4, the knee" in rungs and "PSNR 29.90 ±0.37 dB (one run only" in rungs
    assert "ties with the seed in PSNR (-0.10 dB, within ±0.45 dB)" in rungs
    assert "it dominates the seed beyond the noise" in rungs  # its verdict is "dominates"
    assert "Screened out: 1 candidate stopped at a lower rung" in rungs
    assert "failed: CUDA out of memory" in rungs


def test_export_confirms_psnr_with_its_band(study_dir, tmp_path, capsys):
    out = run_cli(capsys, "export", study_dir, "--pick", "knee", "--out", tmp_path / "w.yaml")
    assert "trial 1 (mofa): PSNR 29.600 ±0.258 dB (2 runs; degraded input 20.200 dB, gain +9.400 dB), " in out
    assert "vs seed: PSNR -0.40 dB (worse), overall trade-off" in out
