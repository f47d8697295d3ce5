"""benchmarks/verdicts.py on a small synthetic run cache: the tool's verdict rule applied to
every pair, verdicts the long reference reverses counted as contradicted, and the share of
clearly different pairs called different."""

from __future__ import annotations

import sys
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parents[2]))  # the benchmarks folder is not installed

from benchmarks import _common, verdicts
from benchmarks.proxy.methods import REFERENCE, for_task, on_device
from benchmarks.proxy.runs import RunCache
from benchmarks.proxy_fidelity import top_rung_run
from roadmap.evaluation.fidelity import NoisePrior
from roadmap.evaluation.tasks import DEFAULT_TASK
from roadmap.search import results

# label: (top-rung mean, reference mean). Top-rung runs repeat the mean (no spread); the two
# reference runs are the mean +- 0.05 (reference sigma 0.0707 dB over 5 dof: band 0.18 dB for
# two means of 2 runs). With the prior below, a replicated pair's tie band is 0.19 dB.
# c is 0.4 dB above a at the top rung but 0.4 dB below it in the reference: contradicted.
MEANS = {"seed": (30.0, 30.0), "a": (30.2, 30.5), "b": (29.0, 29.0), "c": (30.6, 30.1), "d": (30.05, 29.95)}
PRIOR = NoisePrior("default", "denoise", 0.1, 10, "a test")


def runs():
    top = {label: [t, t] for label, (t, _) in MEANS.items()}
    ref = {label: [r + 0.05, r - 0.05] for label, (_, r) in MEANS.items()}
    return top, ref


def test_the_benchmark_applies_the_tools_rule():
    assert verdicts.compare_psnr is results.compare_psnr and verdicts.noise_floor is results.noise_floor


def test_replicated_pairs_counted_against_the_reference():
    r = verdicts.judge_pairs(*runs(), PRIOR, "replicated")
    # 10 pairs; ties: seed-d (-0.05) and a-d (+0.15), inside the band; a-c reversed by the reference;
    # seed-c (-0.6) and c-d (+0.55) are reference ties, not contradictions
    assert (r["pairs"], r["called_different"], r["tie"], r["unknown"]) == (10, 8, 2, 0)
    assert r["contradicted"] == 1 and r["contradicted_share"] == pytest.approx(1 / 8)
    # 7 pairs differ by > 0.3 dB in the reference; a-d (0.55) is called a tie; a-c the wrong way
    assert (r["wide"], r["wide_called_different"], r["wide_called_right"]) == (7, 6, 5)
    assert r["power"] == pytest.approx(6 / 7) and r["meets_targets"] is False  # 12.5 % contradicted
    assert r["study_noise_dof"] == [12, 13]  # the prior's 10 + the seed's and the compared pairs
    assert r["reference_noise"]["dof"] == 5 and r["reference_noise"]["kind"] == "study"


def test_one_run_each_widens_the_band():
    r = verdicts.judge_pairs(*runs(), PRIOR, "one run")
    # one run each (the seed keeps its two): seed-a (-0.2) is a tie now; a-c is still reversed
    assert (r["called_different"], r["tie"], r["contradicted"]) == (7, 3, 1)
    assert (r["wide"], r["wide_called_different"]) == (7, 5)
    assert r["study_noise_dof"] == [11]


def test_without_any_degree_of_freedom_nothing_is_called():
    top, ref = runs()
    top = {label: v[:1] for label, v in top.items()}  # one run each, the seed too, and no prior
    r = verdicts.judge_pairs(top, ref, None, "replicated")
    assert (r["unknown"], r["called_different"], r["contradicted_share"], r["power"]) == (10, 0, None, 0.0)


def _cache(path: Path, device: str = "cpu") -> dict[str, list]:
    """A run cache with MEANS as proxy_fidelity.py (device_ranking.py on another device) keys
    its runs; the candidates' steps."""
    cands = {label: [] if label == "seed" else [{"transform": "test", "params": {"label": label}}] for label in MEANS}
    cache = RunCache(path)
    method, _ = top_rung_run("default")  # the default task's top rung: the `default` preset's rung 2
    rungs, reference = (on_device(for_task(m, DEFAULT_TASK), device) for m in (method, REFERENCE))
    top, ref = runs()
    for label, steps in cands.items():
        for seed in (0, 1):
            cache.put(
                rungs,
                steps,
                seed,
                {"status": "ok", "rungs": [{"psnr": 0.0}, {"psnr": 0.0}, {"psnr": top[label][seed]}]},
            )
            cache.put(reference, steps, seed, {"status": "ok", "psnr": ref[label][seed]})
    return cands


def test_main_reads_the_cache_prints_the_table_and_writes_json(tmp_path, monkeypatch, capsys):
    cands = _cache(tmp_path / "runs.json")
    monkeypatch.setattr(verdicts, "load_candidates", lambda: cands)
    monkeypatch.setattr(_common, "RESULTS", tmp_path / "results")
    assert verdicts.main(["--cache", str(tmp_path / "runs.json")]) == 0
    out = capsys.readouterr().out
    assert "prior: the default fidelity's denoise prior (0.091 dB, 22 dof)" in out
    row = next(line for line in out.splitlines() if line.startswith("replicated"))
    assert "1/8 (12.5 %)" in row and "6/7 (85.7 %)" in row and row.endswith("no")
    import json

    data = json.loads((tmp_path / "results" / "verdicts.json").read_text())
    assert data["scenarios"]["replicated"]["contradicted"] == 1 and data["prior"]["dof"] == 22


def test_an_empty_cache_says_what_to_run(tmp_path, capsys):
    assert verdicts.main(["--cache", str(tmp_path / "none.json"), "--task", "sr", "--scale", "2"]) == 1
    err = capsys.readouterr().err
    assert err.startswith("no calibration runs cached: run benchmarks/proxy_fidelity.py --task sr --scale 2 first")
    assert err.count("\n") == 1


def test_the_runs_of_another_device_are_judged_apart(tmp_path, monkeypatch, capsys):
    cands = _cache(tmp_path / "runs.json", device="cuda")
    monkeypatch.setattr(verdicts, "load_candidates", lambda: cands)
    monkeypatch.setattr(_common, "RESULTS", tmp_path / "results")
    assert verdicts.main(["--cache", str(tmp_path / "runs.json")]) == 1  # no CPU run cached
    assert "run benchmarks/proxy_fidelity.py --task denoise first" in capsys.readouterr().err
    assert verdicts.main(["--cache", str(tmp_path / "none.json"), "--device", "cuda"]) == 1
    err = capsys.readouterr().err
    assert err.startswith("no calibration runs cached: run benchmarks/device_ranking.py --device cuda --seeds 0 1")
    assert verdicts.main(["--cache", str(tmp_path / "runs.json"), "--device", "cuda"]) == 0
    row = next(line for line in capsys.readouterr().out.splitlines() if line.startswith("replicated"))
    assert "1/8 (12.5 %)" in row
    assert (tmp_path / "results" / "verdicts-cuda.json").is_file()
