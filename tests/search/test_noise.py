"""The noise floor and the verdicts built on it (`roadmap.search.results`): the fidelity's
calibrated prior pooled with a study's replicated candidates, Student-t bands for the degrees
of freedom available, and the fastest candidate that loses nothing against the seed."""

from __future__ import annotations

import math
from dataclasses import replace

import pytest

from roadmap.evaluation.fidelity import NOISE_PRIORS, PRESETS, NoisePrior, noise_prior
from roadmap.search.results import (
    Candidate,
    Evaluation,
    Noise,
    StudyResults,
    compare_psnr,
    noise_floor,
    t_quantile,
    verdict,
)

# Student's t, two-sided 95 %, from the tables: 1, 2, 22 and 24 degrees of freedom.
T1, T2, T22, T24 = 12.706204736174694, 4.302652729749462, 2.0738730679040254, 2.0638985616280245
PRIOR = NOISE_PRIORS[("default", "denoise")]
MB = 2**20


def candidate(
    number: int,
    runs: tuple[float, ...],
    latency_ms: float = 100.0,
    memory_mb: float = 200.0,
    reference: str | None = None,
) -> Candidate:
    """A finished candidate with ``runs`` (one PSNR per random seed) at rung 0."""
    evaluations = [Evaluation(0, seed, "ok", psnr) for seed, psnr in enumerate(runs)]
    metrics = {"latency_ms": latency_ms, "latency_cv": 0.01, "peak_memory_measured_bytes": memory_mb * MB}
    return Candidate(number, "COMPLETE", reference, metrics=metrics, evaluations=evaluations)


def test_t_quantiles_replace_the_factor_2():
    assert [t_quantile(d) for d in (1, 2, 22, 24)] == pytest.approx([T1, T2, T22, T24], rel=1e-12)
    assert t_quantile(10**6) == pytest.approx(1.959964, rel=1e-5)  # the normal quantile in the limit
    with pytest.raises(ValueError, match="dof: must be >= 1, got 0"):
        t_quantile(0)


def test_a_band_from_a_known_dof_is_the_t_quantile_times_sigma():
    noise = Noise(0.1, 2, 4, dof=2, kind="study")
    assert noise.quantile == pytest.approx(T2)
    assert noise.band(1, 1) == pytest.approx(T2 * 0.1 * math.sqrt(2))
    assert noise.band(2, 1) == pytest.approx(T2 * 0.1 * math.sqrt(1.5))
    assert noise.mean_band(2) == pytest.approx(T2 * 0.1 / math.sqrt(2))
    assert Noise(0.1, 0, 0, dof=0).band(1, 1) is None  # a sigma without a degree of freedom judges nothing


def test_the_prior_alone_when_no_candidate_ran_twice():
    noise = noise_floor([candidate(0, (30.0,)), candidate(1, (29.0,))], 0, PRIOR)
    assert (noise.sigma, noise.dof, noise.kind, noise.pairs, noise.runs) == (0.091, 22, "prior", 0, 2)
    assert noise.study_sigma is None and noise.prior is PRIOR
    assert noise.source == (
        "prior: the default fidelity's denoise prior (0.091 dB, 22 dof); no candidate of this "
        "study was trained twice at the top rung"
    )
    assert noise.band(1, 1) == pytest.approx(T22 * 0.091 * math.sqrt(2))


def test_the_study_alone_without_a_prior():
    noise = noise_floor([candidate(0, (30.1, 29.9)), candidate(1, (29.0, 29.2, 29.1)), candidate(2, (28.0,))], 0)
    sum_sq = 2 * 0.1**2 + 2 * 0.1**2  # squared deviations from each candidate's mean: 1 + 2 dof
    assert (noise.dof, noise.kind, noise.pairs, noise.runs) == (3, "study", 2, 6)
    assert noise.sigma == pytest.approx(math.sqrt(sum_sq / 3)) == noise.study_sigma
    assert noise.prior is None
    assert noise.source == (
        "study: 2 candidates of this study trained twice at the top rung (3 dof); no calibrated "
        "prior for this fidelity and task"
    )


def test_the_prior_is_pooled_with_the_study_as_pseudo_observations():
    noise = noise_floor([candidate(0, (30.1, 29.9)), candidate(1, (29.45, 29.75))], 0, PRIOR)
    sum_sq = 2 * 0.1**2 + 2 * 0.15**2
    assert (noise.dof, noise.kind, noise.pairs) == (24, "prior + study", 2)
    assert noise.sigma == pytest.approx(math.sqrt((22 * 0.091**2 + sum_sq) / 24))
    assert noise.study_sigma == pytest.approx(math.sqrt(sum_sq / 2))
    assert noise.source == (
        "prior + study: the default fidelity's denoise prior (0.091 dB, 22 dof) pooled with 2 "
        "candidates of this study trained twice at the top rung (2 dof)"
    )
    assert noise.band(2, 2) == pytest.approx(T24 * noise.sigma)
    assert noise.to_dict() == {
        "sigma_db": pytest.approx(noise.sigma),
        "source": noise.source,
        "kind": "prior + study",
        "dof": 24,
        "t_quantile": pytest.approx(T24),
        "study_sigma_db": pytest.approx(noise.study_sigma),
        "prior": {"fidelity": "default", "task": "denoise", "sigma_db": 0.091, "dof": 22, "source": PRIOR.source},
        "replicated_candidates": 2,
        "runs": 4,
    }


def test_no_degree_of_freedom_no_verdict():
    noise = noise_floor([candidate(0, (30.0,)), candidate(1, (25.0,))], 0)
    assert (noise.sigma, noise.dof, noise.kind, noise.quantile) == (None, 0, "none", None)
    assert noise.source.startswith("none: no calibrated prior for this fidelity and task")
    comparison = compare_psnr(candidate(1, (25.0,)), candidate(0, (30.0,)), 0, noise)
    assert (comparison.delta, comparison.band, comparison.verdict) == (-5.0, None, "unknown")


def test_the_verdict_rule():
    assert [verdict(d, 0.3, True) for d in (0.31, 0.3, -0.3, -0.31)] == ["better", "tie", "tie", "worse"]
    assert [verdict(d, 0.3, False) for d in (0.31, -0.31)] == ["worse", "better"]
    assert verdict(5.0, None, True) == "unknown"


def test_the_prior_table_holds_the_calibrated_value():
    assert (PRIOR.sigma_db, PRIOR.dof) == (0.091, 22)
    assert "benchmarks/proxy_fidelity.py" in PRIOR.source and "older 3-image" in PRIOR.source
    default = PRESETS["default"]
    assert noise_prior(default, "denoise") is PRIOR
    assert noise_prior(replace(default, threads=4), "denoise") is PRIOR  # --threads trains the same
    assert noise_prior(default, "jpeg") is None  # not measured: no entry
    deblur = noise_prior(default, "deblur")  # the deblurring calibration's top rung
    assert (deblur.fidelity, deblur.sigma_db, deblur.dof) == ("default", 0.156, 12) and "--task deblur" in deblur.source
    assert noise_prior(PRESETS["replicated"], "deblur") is deblur  # one run of it is one run of `default`
    assert noise_prior(replace(PRESETS["replicated"], name="default"), "deblur") is None  # not a preset
    assert noise_prior(replace(default, iterations=2700, rungs=(300, 900, 2700)), "denoise") is None
    assert noise_prior(replace(default, name="mine"), "denoise") is None  # a file is not the preset
    assert noise_prior(PRESETS["smoke"], "denoise") is None
    assert isinstance(PRIOR, NoisePrior)
    sr = noise_prior(PRESETS["inherited"], "sr")  # the SR default, measured on its own screens
    assert (sr.fidelity, sr.sigma_db, sr.dof) == ("inherited", 0.039, 12) and "--task sr" in sr.source
    assert noise_prior(PRESETS["inherited"], "denoise") is None


# --------------------------------------------------------------------------- fastest no loss


def results(*candidates: Candidate, prior: NoisePrior | None = PRIOR) -> StudyResults:
    cands = list(candidates)
    return StudyResults(cands, 0, noise_floor(cands, 0, prior))


SEED = candidate(0, (30.0, 30.0), latency_ms=100.0, memory_mb=200.0, reference="seed")
# with the prior and the seed's pair (23 dof, sigma ~0.089): a one-run candidate against the
# seed's two runs ties within ~0.22 dB


def test_fastest_no_loss_is_the_fastest_tie_that_uses_no_more_memory():
    tie = candidate(1, (29.9,), latency_ms=70.0, memory_mb=190.0)
    faster_tie = candidate(2, (30.1,), latency_ms=60.0, memory_mb=200.0)
    faster_loss = candidate(3, (29.0,), latency_ms=30.0, memory_mb=100.0)  # -1 dB: worse beyond the noise
    more_memory = candidate(4, (30.0,), latency_ms=40.0, memory_mb=201.0)
    slower_tie = candidate(5, (30.0,), latency_ms=150.0, memory_mb=100.0)  # no faster than the seed
    res = results(SEED, tie, faster_tie, faster_loss, more_memory, slower_tie)
    assert compare_psnr(faster_loss, SEED, 0, res.noise).verdict == "worse"
    assert [c.number for c in res.no_loss_ranked()] == [2, 1]
    assert res.fastest_no_loss() is faster_tie


def test_fastest_no_loss_takes_a_point_that_beats_the_seed():
    better = candidate(1, (31.0,), latency_ms=90.0, memory_mb=150.0)
    assert results(SEED, better).fastest_no_loss() is better


def test_fastest_no_loss_is_none_when_no_point_qualifies():
    loss = candidate(1, (29.0,), latency_ms=30.0, memory_mb=100.0)
    assert results(SEED, loss).fastest_no_loss() is None
    assert results(SEED).fastest_no_loss() is None  # the seed itself does not count
    tie = candidate(1, (30.0,), latency_ms=50.0, memory_mb=100.0)
    assert results(tie).fastest_no_loss() is None  # no seed to compare with
    no_noise = results(candidate(0, (30.0,), reference="seed"), tie, prior=None)
    assert no_noise.noise.quantile is None and no_noise.fastest_no_loss() is None  # a tie cannot be told


def test_fastest_no_loss_only_among_feasible_candidates():
    tie = candidate(1, (30.0,), latency_ms=50.0, memory_mb=100.0)
    tie.metrics["violations"] = ["latency 50 ms > --max-latency-ms 40"]
    other = candidate(2, (30.0,), latency_ms=60.0, memory_mb=100.0)
    assert results(SEED, tie, other).fastest_no_loss() is other
