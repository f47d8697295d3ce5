"""What a study found: candidates, their evaluations per rung, the noise floor and the front.

Read by the search (promotions between rungs, its summary) and by the review (``pareto``,
``plot``, ``export``), so both agree on every figure.

The front is declared at the top rung only: a candidate's PSNR there is the mean of its runs
(one per random seed). The noise floor is the pooled standard deviation of a single run,
``sigma``, from the candidates trained at the top rung with two or more random seeds (the
search always runs the seed twice there). Two mean PSNRs over ``n_a`` and ``n_b`` runs differ
beyond the noise when ``|delta| > 2 sigma sqrt(1/n_a + 1/n_b)``; inside that band they tie.
Latency ties within twice the combined spread of the two measurements (``latency_cv``).
"""
from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from roadmap import pareto

__all__ = ["Evaluation", "Candidate", "Noise", "Comparison", "StudyResults", "load_candidates",
           "study_results", "compare", "noise_floor", "finite_or_none",
           "describe_versus_seed", "overall", "SCORE_KEYS", "LIMIT_FLAGS", "against_limits", "no_feasible_reason"]

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
    transforms: list = field(default_factory=list)
    spec_yaml: str | None = None
    metrics: dict = field(default_factory=dict)
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


@dataclass(frozen=True)
class Noise:
    """Pooled standard deviation of one run's PSNR (dB) and the evidence behind it."""

    sigma: float | None
    pairs: int  # candidates with two or more runs at the rung
    runs: int

    def band(self, n_a: int, n_b: int) -> float | None:
        """Half-width of the tie band between means over ``n_a`` and ``n_b`` runs."""
        if self.sigma is None:
            return None
        return 2.0 * self.sigma * math.sqrt(1.0 / n_a + 1.0 / n_b)

    def mean_band(self, n: int) -> float | None:
        """Half-width of the 95 % band of a mean over ``n`` runs (``2 sigma / sqrt(n)``)."""
        return None if self.sigma is None else 2.0 * self.sigma / math.sqrt(n)

    def to_dict(self) -> dict:
        return {"sigma_db": self.sigma, "replicated_candidates": self.pairs, "runs": self.runs}


@dataclass(frozen=True)
class Comparison:
    """``a - b`` in one objective, the band inside which it is a tie, and the verdict for ``a``
    (``better``, ``tie`` or ``worse``; ``unknown`` without a noise estimate)."""

    delta: float
    band: float | None
    verdict: str


def finite_or_none(x: Any) -> float | None:
    """``x`` as a float when it is a finite number, else None."""
    try:
        v = float(x)
    except (TypeError, ValueError):
        return None
    return v if math.isfinite(v) else None


def _finite(x: Any) -> bool:
    return finite_or_none(x) is not None


def _scores(rec: dict) -> dict[str, float | None]:
    """The :data:`SCORE_KEYS` of a stored record; a study from before the tasks stored the
    noisy input's PSNR as ``noisy_psnr`` (it was always denoising): that is ``input_psnr``."""
    scores = {k: finite_or_none(rec.get(k)) for k in SCORE_KEYS}
    if scores["input_psnr"] is None:
        scores["input_psnr"] = finite_or_none(rec.get("noisy_psnr"))
    return scores


def _evaluation(rung: int, seed: int, rec: dict) -> Evaluation:
    return Evaluation(rung, seed, str(rec.get("status") or "failed"), finite_or_none(rec.get("psnr")),
                      finite_or_none(rec.get("ssim")), rec.get("reason"), **_scores(rec))


def load_candidates(study: Any) -> list[Candidate]:
    """Every trial of ``study`` as a `Candidate` with its evaluations, by trial number."""
    from roadmap.search.study import INTERRUPTED_PREFIX, read_evaluations, read_latencies

    evaluations, latencies = read_evaluations(study), read_latencies(study)
    notes = study.user_attrs
    out = []
    for t in study.get_trials(deepcopy=False):
        attrs = t.user_attrs
        reason = attrs.get("failure_reason") or notes.get(f"{INTERRUPTED_PREFIX}{t.number}")
        # A PRUNED trial was never counted; a record it left (killed between storing its
        # result and telling Optuna) belongs to the re-queued copy, which trains again.
        evals = [] if t.state.name == "PRUNED" else sorted(
            (_evaluation(r, s, rec) for (n, r, s), rec in evaluations.items() if n == t.number),
            key=lambda e: (e.rung, e.random_seed))
        if not evals and t.state.name == "COMPLETE" and t.values:  # a study from before rungs
            metrics = attrs.get("metrics") or {}
            evals = [Evaluation(0, 0, str(metrics.get("status", "ok")), finite_or_none(t.values[0]),
                                finite_or_none(metrics.get("ssim")), reason=metrics.get("reason"),
                                **_scores(metrics))]
        out.append(Candidate(t.number, t.state.name, attrs.get("reference"), list(attrs.get("transforms") or []),
                             attrs.get("spec_yaml"), {**(attrs.get("metrics") or {}), **latencies.get(t.number, {})},
                             evals, reason))
    return sorted(out, key=lambda c: c.number)


def noise_floor(candidates: list[Candidate], rung: int) -> Noise:
    """Pooled single-run PSNR standard deviation at ``rung`` (see the module docstring)."""
    sum_sq, dof, pairs, runs = 0.0, 0, 0, 0
    for c in candidates:
        values = [e.psnr for e in c.runs(rung)]
        runs += len(values)
        if len(values) >= 2:
            pairs += 1
            sum_sq += float(np.var(values, ddof=1)) * (len(values) - 1)
            dof += len(values) - 1
    return Noise(math.sqrt(sum_sq / dof) if dof else None, pairs, runs)


def _verdict(delta: float, band: float | None, higher_is_better: bool) -> str:
    if band is None:
        return "unknown"
    if abs(delta) <= band:
        return "tie"
    return "better" if (delta > 0) == higher_is_better else "worse"


def compare(a: Candidate, b: Candidate, rung: int, noise: Noise) -> dict[str, Comparison]:
    """``a`` against ``b`` in every objective, each with its tie band."""
    n_a, n_b = len(a.runs(rung)), len(b.runs(rung))
    d_psnr = (a.psnr(rung) or math.nan) - (b.psnr(rung) or math.nan)
    psnr_band = noise.band(n_a, n_b) if n_a and n_b else None
    la, lb = a.latency_ms or math.nan, b.latency_ms or math.nan
    spread = math.hypot((a.metrics.get("latency_cv") or 0.0) * la, (b.metrics.get("latency_cv") or 0.0) * lb)
    d_mem = (a.memory_bytes or math.nan) - (b.memory_bytes or math.nan)
    return {
        "psnr": Comparison(d_psnr, psnr_band, _verdict(d_psnr, psnr_band, True)),
        "latency_ms": Comparison(la - lb, 2.0 * spread, _verdict(la - lb, 2.0 * spread, False)),
        "peak_memory_bytes": Comparison(d_mem, 0.0, _verdict(d_mem, 0.0, False)),
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


def describe_versus_seed(versus: dict, seed_latency_ms: float, seed_memory_bytes: float) -> str:
    """``versus`` (``{"overall", "psnr": {delta, band, verdict}, "latency_ms": ..., "peak_memory_bytes":
    ...}``, `compare` in dict form) in words, e.g. ``ties with the seed in PSNR (-0.05 dB, within
    ±0.20 dB), is 38 % faster and uses 12 % less memory: it dominates the seed beyond the noise``.
    The word "dominates" appears only when the overall verdict is ``dominates``."""
    return (f"{_psnr_words(versus['psnr'])}, {_latency_words(versus['latency_ms'], seed_latency_ms)} and "
            f"{_memory_words(versus['peak_memory_bytes'], seed_memory_bytes)}: "
            f"{_OVERALL_WORDS.get(versus['overall'], versus['overall'])}")


# Input PSNRs closer than this are one figure (a float64 mean whose summation order may differ
# with the thread count); the text shows two decimals.
INPUT_PSNR_TOLERANCE_DB = 1e-3


@dataclass
class StudyResults:
    """A study's candidates judged at its top rung: the front, the knee, the noise."""

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
        return [c for c in self.finished() if not c.metrics.get("violations")
                and (self.min_psnr is None or c.psnr(self.top_rung) >= self.min_psnr)]

    def loss(self, candidates: list[Candidate]) -> np.ndarray:
        """``(n, 3)`` loss vectors (PSNR negated) at the top rung."""
        rows = [(c.psnr(self.top_rung), c.latency_ms, c.memory_bytes) for c in candidates]
        return pareto.to_loss(rows, (True, False, False))

    def front(self) -> list[Candidate]:
        """The non-dominated feasible candidates, in trial order."""
        pool = self.feasible()
        return [c for c, keep in zip(pool, pareto.is_non_dominated(self.loss(pool))) if keep] if pool else []

    def knee(self) -> Candidate | None:
        ranked = self.knee_ranked()
        return ranked[0] if ranked else None

    def knee_ranked(self) -> list[Candidate]:
        """The front, the knee first, then the next nearest the ideal point."""
        front = self.front()
        return [front[i] for i in pareto.knee_order(self.loss(front))] if front else []

    def reference(self, name: str) -> Candidate | None:
        return next((c for c in self.candidates if c.reference == name), None)

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
        psnrs = [c.psnr(results.top_rung) for c in results.finished()]
        best = max(psnrs, default=None)
        return None if best is None else (best < value, f"the best PSNR is {best:.2f} dB, {value - best:.2f} dB short")
    if limit == "max_latency_ms":
        best = min((c.latency_ms for c in pool if c.latency_ms is not None), default=None)
        return None if best is None else (best > value, f"the fastest candidate took {best:.1f} ms, "
                                                        f"{best / value:.1f}x the limit")
    best = min((m for m in map(_memory_mb, pool) if m is not None), default=None)
    return None if best is None else (best > value, f"the smallest candidate needs {best:.1f} MB, "
                                                    f"{best / value:.1f}x the limit")


def against_limits(results: StudyResults, limits: dict[str, float | None]) -> list[tuple[bool, str]]:
    """For each limit set in ``limits`` (keys of :data:`LIMIT_FLAGS`) that some candidate has a
    figure for: (whether the best candidate breaks it, ``--max-latency-ms 15 (the fastest
    candidate took 183.2 ms, 12.2x the limit)``)."""
    out = []
    for key, flag in LIMIT_FLAGS.items():
        if limits.get(key) is None:
            continue
        best = _best_against(key, float(limits[key]), results)
        if best is not None:
            out.append((best[0], f"{flag} {limits[key]:g} ({best[1]})"))
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


def study_results(study: Any, top_rung: int, min_psnr: float | None = None) -> StudyResults:
    """The `StudyResults` of an Optuna study written by ``roadmap search``."""
    candidates = load_candidates(study)
    return StudyResults(candidates, top_rung, noise_floor(candidates, top_rung), min_psnr)
