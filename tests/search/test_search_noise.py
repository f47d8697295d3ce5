"""The search's summary judges with the same noise as the review: the `default` fidelity's
calibrated prior pooled with the study's replicated candidates, and both recommendations."""

from tests.search.helpers import pareto_json, search


def test_the_summary_pools_the_prior_and_agrees_with_the_review(tmp_path, capsys):
    from roadmap.cli.search_cmd import _text

    study = tmp_path / "s"
    summary = search(study, budget=6, fidelity="default")  # the fake evaluator trains nothing
    noise = summary.noise
    assert noise["kind"] == "prior + study" and noise["replicated_candidates"] >= 1  # the seed at least
    assert noise["prior"]["sigma_db"] == 0.091 and noise["dof"] == 22 + noise["replicated_candidates"]
    data = pareto_json(capsys, study)
    assert data["noise"] == noise
    assert data["recommendations"] == {
        "knee": summary.knee["number"],
        "fastest_no_loss": (summary.fastest_no_loss or {}).get("number"),
    }
    line = next(row for row in _text(summary).splitlines() if row.startswith("noise floor"))
    assert (
        f"{noise['dof']} degrees of freedom (prior + study: the default fidelity's denoise prior "
        "(0.091 dB, 22 dof) pooled with" in line
    )
    assert f"Student's t = {noise['t_quantile']:.2f}" in line


def _point(number: int, psnr: float, latency_ms: float) -> dict:
    return {
        "number": number,
        "psnr": psnr,
        "psnr_band_db": 0.1,
        "runs": 2,
        "input_psnr": None,
        "latency_ms": latency_ms,
        "verdict": None,
    }


def test_the_summary_names_both_recommendations_or_why_the_second_is_missing():
    from types import SimpleNamespace

    from roadmap.cli.search_cmd import _recommendation_lines

    noise = {"t_quantile": 2.06}
    both = SimpleNamespace(knee=_point(3, 30.0, 50.0), fastest_no_loss=_point(7, 30.3, 80.0), noise=noise)
    assert _recommendation_lines(both) == [
        "recommended (knee): trial 3, PSNR 30.00 +/-0.10 dB over 2 run(s), 50.0 ms",
        "fastest with no loss against the seed: trial 7, PSNR 30.30 +/-0.10 dB over 2 run(s), 80.0 ms",
    ]
    same = SimpleNamespace(knee=_point(3, 30.0, 50.0), fastest_no_loss=_point(3, 30.0, 50.0), noise=noise)
    assert _recommendation_lines(same)[1:] == ["fastest with no loss against the seed: the knee itself (trial 3)"]
    none = SimpleNamespace(knee=_point(3, 30.0, 50.0), fastest_no_loss=None, noise=noise)
    assert _recommendation_lines(none)[1:] == [
        "fastest with no loss against the seed: none (no trial ties with or beats the seed in PSNR, uses no more "
        "memory and is faster)"
    ]


def test_a_replicated_fidelity_declares_the_front_on_two_runs_of_every_candidate(tmp_path):
    from roadmap.search.settings_file import read_settings
    from tests.search.helpers import RUNGS3, evaluations

    fidelity = tmp_path / "f.yaml"
    fidelity.write_text(RUNGS3 + "top_seeds: 2\n")
    study = tmp_path / "s"
    summary = search(study, budget=9, fidelity=str(fidelity))
    evals = evaluations(study)
    top = {n for (n, rung, seed) in evals if rung == 2 and seed == 0}
    assert len(top) >= 3 and top == {n for (n, rung, seed) in evals if rung == 2 and seed == 1}
    assert summary.noise["replicated_candidates"] == len(top)
    assert read_settings(study)["fidelity"]["top_seeds"] == 2
