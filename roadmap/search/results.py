"""What a study found: candidates, their evaluations per rung, the noise floor and the front.

Read by the search (promotions between rungs, its summary) and by the review (``pareto``,
``plot``, ``export``), so both agree on every figure.

The front is declared at the top rung only: a candidate's PSNR there is the mean of its runs
(one per random seed). The noise floor is the standard deviation of a single run, ``sigma``,
pooled from the fidelity's calibrated prior (`roadmap.evaluation.fidelity.NOISE_PRIORS`, counted
as its degrees of freedom of pseudo-observations) and the candidates trained at the top rung
with two or more random seeds (the search always runs the seed twice there), with
``dof = dof_prior + sum(n_i - 1)`` degrees of freedom. Two mean PSNRs over ``n_a`` and ``n_b``
runs differ beyond the noise when ``|delta| > t sigma sqrt(1/n_a + 1/n_b)``, ``t`` the two-sided
95 % quantile of Student's t with ``dof`` degrees of freedom (:func:`t_quantile`: sigma is an
estimate, not a known value); inside that band they tie (:func:`verdict`). Without any degree
of freedom there is no verdict (``unknown``). Latency ties within twice the combined spread of
the two measurements (``latency_cv``).
"""

from __future__ import annotations

import functools
import math
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

import numpy as np

from roadmap import pareto

if TYPE_CHECKING:
    from roadmap.evaluation.fidelity import NoisePrior

__all__ = [
    "Evaluation",
    "Candidate",
    "Noise",
    "Comparison",
    "StudyResults",
    "candidate_from",
    "load_candidates",
    "study_results",
    "compare",
    "compare_psnr",
    "verdict",
    "t_quantile",
    "noise_floor",
    "finite_or_none",
    "describe_versus_seed",
    "overall",
    "SCORE_KEYS",
    "LIMIT_FLAGS",
    "against_limits",
    "no_feasible_reason",
]

# The scores an evaluation records beside ``psnr`` (`roadmap.search.evaluator.TRAIN_KEYS`):
# the degraded input's PSNR (the baseline), the held-out test images' PSNR and their input's,
# and the RGB PSNR of a super-resolution task (whose ``psnr`` is the Y channel's).
SCORE_KEYS = ("input_psnr", "test_psnr", "test_input_psnr", "psnr_rgb")


@dataclass(frozen=True)
class Evaluation:
    """One training of a candidate, at ``rung`` with ``random_seed`` (the study record keeps
    the rest: iterations, seconds)."""

    rung: int
    random_seed: int
    status: str  # ok, diverged, failed
    psnr: float | None = None  # validation PSNR (dB) when ok
    ssim: float | None = None
    reason: str | None = None  # one line when not ok
    input_psnr: float | None = None  # the degraded validation input's own PSNR (the baseline)
    test_psnr: float | None = None  # the test images' (None when the data has no test split)
    test_input_psnr: float | None = None
    psnr_rgb: float | None = None  # sr: RGB PSNR beside the Y channel's ``psnr``

    @property
    def ok(self) -> bool:
        return self.status == "ok" and _finite(self.psnr)


@dataclass
class Candidate:
    """One Optuna trial: its steps, its measurements and every evaluation."""

    number: int
    state: str
    reference: str | None = None
    transforms: list[Any] = field(default_factory=list)
    spec_yaml: str | None = None
    metrics: dict[str, Any] = field(default_factory=dict)
    evaluations: list[Evaluation] = field(default_factory=list)
    failure_reason: str | None = None

    def runs(self, rung: int) -> list[Evaluation]:
        """The successful evaluations at ``rung``."""
        return [e for e in self.evaluations if e.rung == rung and e.ok]

    def psnr(self, rung: int) -> float | None:
        """The mean validation PSNR of the runs at ``rung`` (None without one)."""
        return self.score(rung, "psnr")

    def score(self, rung: int, key: str) -> float | None:
        """The mean of ``key`` (``psnr`` or one of :data:`SCORE_KEYS`) over the successful runs
        at ``rung`` that recorded it, as ``psnr`` is averaged; None when none did (an older
        study, data without a test split)."""
        values = [v for v in (getattr(e, key) for e in self.runs(rung)) if v is not None]
        return float(np.mean(values)) if values else None

    @property
    def highest_rung(self) -> int | None:
        rungs = [e.rung for e in self.evaluations if e.ok]
        return max(rungs) if rungs else None

    def failure_at(self, rung: int) -> str | None:
        """Why this candidate has no result at ``rung`` although it was trained there."""
        bad = [e for e in self.evaluations if e.rung == rung and not e.ok]
        return None if self.runs(rung) or not bad else f"{bad[0].status}: {bad[0].reason or bad[0].status}"

    @property
    def latency_ms(self) -> float | None:
        return finite_or_none(self.metrics.get("latency_ms"))

    @property
    def memory_bytes(self) -> float | None:
        return finite_or_none(self.metrics.get("peak_memory_measured_bytes"))

    @property
    def measured(self) -> bool:
        return _finite(self.latency_ms) and _finite(self.memory_bytes)


# The confidence of every PSNR band: a tie band, the band of a mean.
CONFIDENCE = 0.95


@functools.cache
def t_quantile(dof: int) -> float:
    """The two-sided :data:`CONFIDENCE` quantile of Student's t with ``dof`` degrees of freedom
    (12.71 at 1, 4.30 at 2, 2.07 at 22, 1.96 in the limit): the factor of a band whose sigma is
    an estimate from ``dof`` degrees of freedom."""
    if dof < 1:
        raise ValueError(f"dof: must be >= 1, got {dof}")
    from scipy.stats import t

    return float(t.ppf(0.5 + CONFIDENCE / 2, dof))


@dataclass(frozen=True)
class Noise:
    """The standard deviation ``sigma`` (dB) of one run's PSNR at the top rung, with its degrees
    of freedom ``dof`` and where it came from: ``kind`` is ``prior`` (the fidelity's calibrated
    prior alone), ``study`` (the study's replicated candidates alone), ``prior + study`` (pooled)
    or ``none``; ``source`` says it in words. ``pairs``: the study's candidates with two or more
    runs at the rung; ``runs``: all its runs there; ``study_sigma``: the study's own pooled sigma
    (None without a pair)."""

    sigma: float | None
    pairs: int
    runs: int
    dof: int = 0
    kind: str = "none"
    source: str = "none"
    prior: NoisePrior | None = None
    study_sigma: float | None = None

    @property
    def quantile(self) -> float | None:
        """Student's t quantile of the bands (None without a sigma or a degree of freedom)."""
        return t_quantile(self.dof) if self.sigma is not None and self.dof >= 1 else None

    def band(self, n_a: int, n_b: int) -> float | None:
        """Half-width of the tie band between means over ``n_a`` and ``n_b`` runs:
        ``t sigma sqrt(1/n_a + 1/n_b)``."""
        q, sigma = self.quantile, self.sigma  # q is None whenever sigma is
        return None if q is None or sigma is None else q * sigma * math.sqrt(1.0 / n_a + 1.0 / n_b)

    def mean_band(self, n: int) -> float | None:
        """Half-width of the 95 % band of a mean over ``n`` runs (``t sigma / sqrt(n)``)."""
        q, sigma = self.quantile, self.sigma  # q is None whenever sigma is
        return None if q is None or sigma is None else q * sigma / math.sqrt(n)

    def to_dict(self) -> dict[str, Any]:
        """``sigma_db``, ``source`` (words), ``kind``, ``dof``, ``t_quantile``, ``study_sigma_db``,
        ``prior`` (its figures and origin, or None), ``replicated_candidates``, ``runs``."""
        prior = (
            None
            if self.prior is None
            else {
                "fidelity": self.prior.fidelity,
                "task": self.prior.task,
                "sigma_db": self.prior.sigma_db,
                "dof": self.prior.dof,
                "source": self.prior.source,
            }
        )
        return {
            "sigma_db": self.sigma,
            "source": self.source,
            "kind": self.kind,
            "dof": self.dof,
            "t_quantile": self.quantile,
            "study_sigma_db": self.study_sigma,
            "prior": prior,
            "replicated_candidates": self.pairs,
            "runs": self.runs,
        }


@dataclass(frozen=True)
class Comparison:
    """``a - b`` in one objective, the band inside which it is a tie, and the verdict for ``a``
    (``better``, ``tie`` or ``worse``; ``unknown`` without a noise estimate)."""

    delta: float
    band: float | None
    verdict: str


def _at_least(value: float | None, limit: float) -> bool:
    """``value >= limit``; a missing value is not."""
    return value is not None and value >= limit


def finite_or_none(x: Any) -> float | None:
    """``x`` as a float when it is a finite number, else None."""
    try:
        v = float(x)
    except (TypeError, ValueError):
        return None
    return v if math.isfinite(v) else None


def _finite(x: Any) -> bool:
    return finite_or_none(x) is not None


def _scores(rec: dict[str, Any]) -> dict[str, float | None]:
    """The :data:`SCORE_KEYS` of a stored record; a study from before the tasks stored the
    noisy input's PSNR as ``noisy_psnr`` (it was always denoising): that is ``input_psnr``."""
    scores = {k: finite_or_none(rec.get(k)) for k in SCORE_KEYS}
    if scores["input_psnr"] is None:
        scores["input_psnr"] = finite_or_none(rec.get("noisy_psnr"))
    return scores


def _evaluation(rung: int, seed: int, rec: dict[str, Any]) -> Evaluation:
    return Evaluation(
        rung,
        seed,
        str(rec.get("status") or "failed"),
        finite_or_none(rec.get("psnr")),
        finite_or_none(rec.get("ssim")),
        rec.get("reason"),
        **_scores(rec),
    )


def candidate_from(
    number: int,
    state: str,
    attrs: dict[str, Any],
    values: list[float] | None,
    records: dict[tuple[int, int], dict[str, Any]],
    latency: dict[str, Any] | None = None,
    interrupted: Any = None,
) -> Candidate:
    """One trial as a `Candidate`: its state name, user attributes and values, its evaluation
    records (``(rung, random seed) -> record``), the latency it keeps after a second measurement
    and the note of its interruption. `load_candidates` and a running search's view
    (`roadmap.search.view`) both build candidates here."""
    reason = attrs.get("failure_reason") or interrupted
    # A PRUNED trial was never counted; a record it left (killed between storing its result and
    # telling Optuna) belongs to the re-queued copy, which trains again.
    evals = (
        []
        if state == "PRUNED"
        else sorted((_evaluation(r, s, rec) for (r, s), rec in records.items()), key=lambda e: (e.rung, e.random_seed))
    )
    if not evals and state == "COMPLETE" and values:  # a study from before rungs
        metrics = attrs.get("metrics") or {}
        evals = [
            Evaluation(
                0,
                0,
                str(metrics.get("status", "ok")),
                finite_or_none(values[0]),
                finite_or_none(metrics.get("ssim")),
                reason=metrics.get("reason"),
                **_scores(metrics),
            )
        ]
    return Candidate(
        number,
        state,
        attrs.get("reference"),
        list(attrs.get("transforms") or []),
        attrs.get("spec_yaml"),
        {**(attrs.get("metrics") or {}), **(latency or {})},
        evals,
        reason,
    )


def load_candidates(study: Any) -> list[Candidate]:
    """Every trial of ``study`` as a `Candidate` with its evaluations, by trial number."""
    from roadmap.search.study import split_study_attrs

    evaluations, latencies, interrupted = split_study_attrs(study.user_attrs)
    by_trial: dict[int, dict[tuple[int, int], dict[str, Any]]] = {}
    for (number, rung, seed), record in evaluations.items():
        by_trial.setdefault(number, {})[(rung, seed)] = record
    out = [
        candidate_from(
            t.number,
            t.state.name,
            t.user_attrs,
            t.values,
            by_trial.get(t.number, {}),
            latencies.get(t.number),
            interrupted.get(t.number),
        )
        for t in study.get_trials(deepcopy=False)
    ]
    return sorted(out, key=lambda c: c.number)


def noise_floor(candidates: list[Candidate], rung: int, prior: NoisePrior | None = None) -> Noise:
    """The single-run PSNR sigma at ``rung``: the candidates' replicated runs pooled with
    ``prior`` as ``prior.dof`` pseudo-observations of variance ``prior.sigma_db ** 2``:
    ``sigma**2 = (dof_0 s_0**2 + sum_i sum_j (x_ij - mean_i)**2) / (dof_0 + sum_i (n_i - 1))``,
    over that many degrees of freedom (see the module docstring)."""
    sum_sq, study_dof, pairs, runs = 0.0, 0, 0, 0
    for c in candidates:
        values = [e.psnr for e in c.runs(rung) if e.psnr is not None]  # every run has one
        runs += len(values)
        if len(values) >= 2:
            pairs += 1
            sum_sq += float(np.var(values, ddof=1)) * (len(values) - 1)
            study_dof += len(values) - 1
    prior_dof = prior.dof if prior is not None else 0
    dof = study_dof + prior_dof
    total = sum_sq + (prior_dof * prior.sigma_db**2 if prior is not None else 0.0)
    kind = " + ".join(k for k, present in (("prior", prior_dof), ("study", study_dof)) if present) or "none"
    return Noise(
        math.sqrt(total / dof) if dof else None,
        pairs,
        runs,
        dof,
        kind,
        _noise_source(kind, prior, pairs, study_dof),
        prior,
        math.sqrt(sum_sq / study_dof) if study_dof else None,
    )


def _noise_source(kind: str, prior: NoisePrior | None, pairs: int, study_dof: int) -> str:
    """``kind`` in words, naming the prior and the study's replicated candidates."""
    own = f"{pairs} candidate{'' if pairs == 1 else 's'} of this study trained twice at the top rung ({study_dof} dof)"
    if kind == "prior + study":
        assert prior is not None  # the kind names it
        return f"prior + study: {prior.label()} pooled with {own}"
    if kind == "prior":
        assert prior is not None  # the kind names it
        return f"prior: {prior.label()}; no candidate of this study was trained twice at the top rung"
    if kind == "study":
        return f"study: {own}; no calibrated prior for this fidelity and task"
    return "none: no calibrated prior for this fidelity and task, and no candidate trained twice at the top rung"


def verdict(delta: float, band: float | None, higher_is_better: bool) -> str:
    """The verdict for the side of a difference ``delta`` (``a - b``): ``tie`` inside ``band``
    (``|delta| <= band``), else ``better`` or ``worse``; ``unknown`` without a band. The one
    rule every comparison of the tool applies."""
    if band is None:
        return "unknown"
    if abs(delta) <= band:
        return "tie"
    return "better" if (delta > 0) == higher_is_better else "worse"


def compare_psnr(a: Candidate, b: Candidate, rung: int, noise: Noise) -> Comparison:
    """``a``'s mean PSNR at ``rung`` against ``b``'s, inside the tie band of their run counts."""
    n_a, n_b = len(a.runs(rung)), len(b.runs(rung))
    delta = (a.psnr(rung) or math.nan) - (b.psnr(rung) or math.nan)
    band = noise.band(n_a, n_b) if n_a and n_b else None
    return Comparison(delta, band, verdict(delta, band, True))


def compare(a: Candidate, b: Candidate, rung: int, noise: Noise) -> dict[str, Comparison]:
    """``a`` against ``b`` in every objective, each with its tie band."""
    la, lb = a.latency_ms or math.nan, b.latency_ms or math.nan
    # Latency's band is twice the timing spread of the two measurements: a heuristic of the
    # machine's jitter (the CV of a few timing rounds), not an estimate of PSNR noise.
    spread = math.hypot((a.metrics.get("latency_cv") or 0.0) * la, (b.metrics.get("latency_cv") or 0.0) * lb)
    d_mem = (a.memory_bytes or math.nan) - (b.memory_bytes or math.nan)
    return {
        "psnr": compare_psnr(a, b, rung, noise),
        "latency_ms": Comparison(la - lb, 2.0 * spread, verdict(la - lb, 2.0 * spread, False)),
        "peak_memory_bytes": Comparison(d_mem, 0.0, verdict(d_mem, 0.0, False)),
    }


def overall(comparisons: dict[str, Comparison]) -> str:
    """``dominates`` (nothing worse, something better beyond the noise), ``dominated``,
    ``tie`` (all ties) or ``trade-off``; ``unknown`` when a verdict is unknown."""
    verdicts = {c.verdict for c in comparisons.values()}
    if "unknown" in verdicts:
        return "unknown"
    if verdicts == {"tie"}:
        return "tie"
    if "worse" not in verdicts:
        return "dominates"
    if "better" not in verdicts:
        return "dominated"
    return "trade-off"


def _pct(x: float) -> str:
    x = abs(x)
    return f"{x:.0f} %" if x >= 1 else f"{x:.1f} %"


def _psnr_words(c: dict[str, Any]) -> str:
    d, band, verdict = c["delta"], c.get("band"), c["verdict"]
    if verdict == "tie":
        return f"ties with the seed in PSNR ({d:+.2f} dB, within ±{band:.2f} dB)"
    if verdict in ("better", "worse"):
        side = "above" if verdict == "better" else "below"
        return f"is {abs(d):.2f} dB {side} the seed in PSNR (beyond the noise band ±{band:.2f} dB)"
    return f"differs from the seed by {d:+.2f} dB in PSNR (no noise estimate to judge it)"


def _latency_words(c: dict[str, Any], seed_ms: float) -> str:
    pct = 100.0 * c["delta"] / seed_ms if seed_ms else 0.0
    if c["verdict"] == "tie":
        return f"ties with it in latency within the timing noise ({pct:+.1f} %)"
    return f"is {_pct(pct)} {'faster' if pct < 0 else 'slower'}"


def _memory_words(c: dict[str, Any], seed_bytes: float) -> str:
    pct = 100.0 * c["delta"] / seed_bytes if seed_bytes else 0.0
    if c["verdict"] == "tie":
        return "uses the same memory"
    return f"uses {_pct(pct)} {'less' if pct < 0 else 'more'} memory"


# Only the "dominates" verdict may use the word: the report must never claim more.
_OVERALL_WORDS = {
    "dominates": "it dominates the seed beyond the noise",
    "trade-off": "a trade-off against the seed, not an improvement in every objective",
    "tie": "it ties with the seed within the noise in every objective",
    "dominated": "it is worse than the seed beyond the noise and better in nothing (dominated by it)",
    "unknown": "no overall verdict against the seed without a noise estimate",
}


def describe_versus_seed(versus: dict[str, Any], seed_latency_ms: float, seed_memory_bytes: float) -> str:
    """``versus`` (``{"overall", "psnr": {delta, band, verdict}, "latency_ms": ..., "peak_memory_bytes":
    ...}``, `compare` in dict form) in words, e.g. ``ties with the seed in PSNR (-0.05 dB, within
    ±0.20 dB), is 38 % faster and uses 12 % less memory: it dominates the seed beyond the noise``.
    The word "dominates" appears only when the overall verdict is ``dominates``."""
    return (
        f"{_psnr_words(versus['psnr'])}, {_latency_words(versus['latency_ms'], seed_latency_ms)} and "
        f"{_memory_words(versus['peak_memory_bytes'], seed_memory_bytes)}: "
        f"{_OVERALL_WORDS.get(versus['overall'], versus['overall'])}"
    )


# Input PSNRs closer than this are one figure (a float64 mean whose summation order may differ
# with the thread count); the text shows two decimals.
INPUT_PSNR_TOLERANCE_DB = 1e-3


@dataclass
class StudyResults:
    """A study's candidates judged at its top rung: the front, the two recommendations (the
    knee, the fastest point that loses nothing against the seed), the noise."""

    candidates: list[Candidate]
    top_rung: int
    noise: Noise
    min_psnr: float | None = None

    def finished(self) -> list[Candidate]:
        """Candidates with a PSNR at the top rung and measured latency / memory."""
        return [c for c in self.candidates if c.runs(self.top_rung) and c.measured]

    def feasible(self) -> list[Candidate]:
        """Finished candidates within every limit (a reference point over a latency / memory
        limit is trained as an anchor but kept off the front)."""
        return [
            c
            for c in self.finished()
            if not c.metrics.get("violations")
            and (self.min_psnr is None or _at_least(c.psnr(self.top_rung), self.min_psnr))
        ]

    def loss(self, candidates: list[Candidate]) -> np.ndarray:
        """``(n, 3)`` loss vectors (PSNR negated) at the top rung."""
        rows = [(c.psnr(self.top_rung), c.latency_ms, c.memory_bytes) for c in candidates]
        return pareto.to_loss(rows, (True, False, False))

    def front(self) -> list[Candidate]:
        """The non-dominated feasible candidates, in trial order."""
        pool = self.feasible()
        return (
            [c for c, keep in zip(pool, pareto.is_non_dominated(self.loss(pool)), strict=False) if keep] if pool else []
        )

    def knee(self) -> Candidate | None:
        ranked = self.knee_ranked()
        return ranked[0] if ranked else None

    def knee_ranked(self) -> list[Candidate]:
        """The front, the knee first, then the next nearest the ideal point."""
        front = self.front()
        return [front[i] for i in pareto.knee_order(self.loss(front))] if front else []

    def reference(self, name: str) -> Candidate | None:
        return next((c for c in self.candidates if c.reference == name), None)

    def no_loss_ranked(self) -> list[Candidate]:
        """The feasible candidates that lose nothing against the seed, fastest first (measured
        latency; ties go to the lower trial number): their PSNR ties with or beats the seed's
        (`compare`, beyond the noise), their measured memory is not larger, and they are faster
        beyond the timing noise (a point no faster than the seed is no reason to leave it). The
        seed itself does not count; without a finished seed or a noise estimate nothing
        qualifies (a tie cannot be told from a loss)."""
        seed = self.reference("seed")
        if seed is None or not seed.runs(self.top_rung) or not seed.measured:
            return []

        def loses_nothing(c: Candidate) -> bool:
            v = compare(c, seed, self.top_rung, self.noise)
            return (
                v["psnr"].verdict in ("tie", "better")
                and v["peak_memory_bytes"].verdict in ("tie", "better")
                and v["latency_ms"].verdict == "better"
            )

        pool = [c for c in self.feasible() if c.reference != "seed" and loses_nothing(c)]
        return sorted(pool, key=lambda c: (c.latency_ms, c.number))

    def fastest_no_loss(self) -> Candidate | None:
        """The second recommendation beside the knee: the fastest candidate that ties with or
        beats the seed in PSNR and uses no more memory (:meth:`no_loss_ranked`), None when no
        candidate qualifies."""
        ranked = self.no_loss_ranked()
        return ranked[0] if ranked else None

    def input_psnr(self) -> float | None:
        """The degraded validation input's PSNR at the top rung when every finished candidate
        measured the same one (a study's validation set is fixed, so they do: the input is the
        baseline of every trial alike), else None (none recorded it, or they differ)."""
        values = [v for v in (c.score(self.top_rung, "input_psnr") for c in self.finished()) if v is not None]
        if not values or max(values) - min(values) > INPUT_PSNR_TOLERANCE_DB:
            return None
        return float(np.mean(values))

    def versus_seed(self, candidate: Candidate) -> dict[str, Comparison] | None:
        seed = self.reference("seed")
        if seed is None or not seed.runs(self.top_rung) or not candidate.runs(self.top_rung):
            return None
        return compare(candidate, seed, self.top_rung, self.noise)


LIMIT_FLAGS = {"max_latency_ms": "--max-latency-ms", "max_memory_mb": "--max-memory-mb", "min_psnr": "--min-psnr"}


def _memory_mb(c: Candidate) -> float | None:
    """Measured peak memory in MB, else the predicted one (a candidate rejected before it was
    measured has only that)."""
    memory = c.memory_bytes or finite_or_none(c.metrics.get("peak_memory_predicted_bytes"))
    return None if memory is None else memory / 2**20


def _best_against(limit: str, value: float, results: StudyResults) -> tuple[bool, str] | None:
    """(whether the best candidate breaks ``limit``, the best figure in words), None without one."""
    pool = results.candidates
    if limit == "min_psnr":
        psnrs = [p for p in (c.psnr(results.top_rung) for c in results.finished()) if p is not None]
        best = max(psnrs, default=None)
        return None if best is None else (best < value, f"the best PSNR is {best:.2f} dB, {value - best:.2f} dB short")
    if limit == "max_latency_ms":
        best = min((c.latency_ms for c in pool if c.latency_ms is not None), default=None)
        return (
            None
            if best is None
            else (best > value, f"the fastest candidate took {best:.1f} ms, {best / value:.1f}x the limit")
        )
    best = min((m for m in map(_memory_mb, pool) if m is not None), default=None)
    return (
        None
        if best is None
        else (best > value, f"the smallest candidate needs {best:.1f} MB, {best / value:.1f}x the limit")
    )


def against_limits(results: StudyResults, limits: dict[str, float | None]) -> list[tuple[bool, str]]:
    """For each limit set in ``limits`` (keys of :data:`LIMIT_FLAGS`) that some candidate has a
    figure for: (whether the best candidate breaks it, ``--max-latency-ms 15 (the fastest
    candidate took 183.2 ms, 12.2x the limit)``)."""
    out = []
    for key, flag in LIMIT_FLAGS.items():
        limit = limits.get(key)
        if limit is None:
            continue
        best = _best_against(key, float(limit), results)
        if best is not None:
            out.append((best[0], f"{flag} {limit:g} ({best[1]})"))
    return out


def no_feasible_reason(results: StudyResults, limits: dict[str, float | None]) -> str | None:
    """Why no finished candidate is feasible, naming each limit every candidate broke and by how
    much at best (``every trial breaks --min-psnr 50 (the best PSNR is 29.31 dB, 20.69 dB
    short)``); when each limit alone is met by someone, that no candidate meets them all at
    once. None when a candidate is feasible or none finished (nothing to judge)."""
    if results.feasible() or not results.finished():
        return None
    figures = against_limits(results, limits)
    broken = [text for is_broken, text in figures if is_broken]
    if broken:
        return "every trial breaks " + "; ".join(broken)
    return "no trial meets every limit at once: " + "; ".join(text for _, text in figures)


def study_results(
    study: Any,
    top_rung: int,
    min_psnr: float | None = None,
    prior: NoisePrior | None = None,
    candidates: list[Candidate] | None = None,
) -> StudyResults:
    """The `StudyResults` of an Optuna study written by ``roadmap search``; ``prior``: the noise
    prior of its fidelity and task (`roadmap.evaluation.fidelity.noise_prior`), pooled with its
    replicated candidates; ``candidates``: its candidates when the caller holds them already (a
    running search's view), else loaded."""
    candidates = load_candidates(study) if candidates is None else candidates
    return StudyResults(candidates, top_rung, noise_floor(candidates, top_rung, prior), min_psnr)
