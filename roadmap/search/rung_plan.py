"""The plan of a search's trainings: the one place that knows which rungs exist, how many steps
one training trains at each, and how many trainings each phase plans in all and has left.

Phases, in the order `roadmap.search.scheduler` runs them (``n_0 = budget + references``):

*Screening* fidelity (``screen_iterations > 0``):

====================  =====  ==============================================================
phase                 rung   trainings (steps of one training)
====================  =====  ==============================================================
``base``              1      the seed through the whole chain, main and second random seed:
                             2 (``rungs[-1]``, from scratch)
``rung 0``            0      the screens: ``n_0`` (``screen_iterations``, from the seed's weights)
``rung 1``            1      the promoted but the seed (whose run is the base's): ``n_1 - 1``
                             (``rungs[-1]``, from scratch)
``replicate``         1      the knee's confirmations with the second random seed (``rungs[-1]``);
                             with ``top_seeds`` 2 every candidate of rung 1
====================  =====  ==============================================================

*Screens as the top rung* (``front_on_screens``): ``base`` (rung 1, the seed's two runs through
the chain), then ``rung 0``, the screens, where the front is declared (``n_0``), then
``replicate``: the seed's and the knee's confirmations, screened from the second base run.

*Chain* fidelity: ``rung k`` for each rung of ``fidelity.rungs``, ``n_k`` trainings of
``rungs[k] - rungs[k - 1]`` steps (continued from rung ``k - 1``'s weights), then ``replicate``:
the seed and the knee's confirmations at the top rung with the second random seed, the whole
chain from scratch (that random seed left no lower-rung weights).

Counts. ``n_k = min(n_{k-1}, ceil(n_{k-1} / eta) + references)`` until the scheduler decides
the promotion to rung ``k`` (``promoted``: rung -> the trial numbers it chose); from then on
the count is exact. The estimate counts every reference point besides the best ``1 / eta``, so
it is high by the references that are among the best. Confirmations: the knee, and runners-up
in the slots a batch leaves free: ``min(MAX_CONFIRMATIONS, concurrency)`` (one slot less in the
chain plan, where the seed's replicate shares the batch), at least one; with more free slots
than `MAX_CONFIRMATIONS` (a cluster) at most one per free slot and top-rung candidate, as many as
the scheduler finds worth confirming in that round (high by the ones it leaves out); with
``top_seeds`` 2, every top-rung candidate but the seed (``n_top - 1``). A knee that moves once
confirmed adds one more (up to `MAX_CONFIRMATIONS`), which no plan can foresee. Trainings a
UNet++ sibling shares (`roadmap.search.trainings`) are planned like any other.
"""

from __future__ import annotations

import math
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

from roadmap.evaluation.fidelity import Fidelity

__all__ = ["RungPlan", "Phase", "MAX_CONFIRMATIONS"]

MAX_CONFIRMATIONS = 3  # candidates confirmed at the top rung with a second random seed, at most

Key = tuple[int, int, int]  # (trial number, search rung, random seed) of an evaluation


@dataclass(frozen=True)
class Phase:
    """The trainings of one phase of the plan: ``total`` planned, ``done`` recorded, ``running``
    handed out and not recorded yet. ``known`` holds the trial numbers of the remaining
    trainings the plan can name (a decided promotion, the seed's own runs); the others are
    candidates not chosen yet, drawn from the candidates recorded at ``pool_rung`` (``None``:
    new candidates of the sampler)."""

    name: str
    rung: int  # the search rung its trainings are recorded at
    iterations: int  # steps one training of the phase trains
    total: int
    done: int
    running: int = 0
    known: tuple[int, ...] = ()
    pool_rung: int | None = None

    @property
    def remaining(self) -> int:
        """Trainings planned and neither recorded nor running."""
        return max(self.total - self.done - self.running, 0)


@dataclass(frozen=True)
class RungPlan:
    """The trainings a search of ``budget`` candidates plans (see the module docstring):
    ``references`` reference points trained besides the budget, ``concurrency`` jobs per batch
    (it sets how many runners-up are confirmed), ``random_seed`` the main random seed."""

    fidelity: Fidelity
    budget: int
    references: int = 3
    concurrency: int = 1
    random_seed: int = 0

    @classmethod
    def of(cls, settings: Any, references: int, concurrency: int, budget: int | None = None) -> RungPlan:
        """The plan of a search's `SearchSettings` (``budget``: candidates, when not the settings')."""
        return cls(
            settings.fidelity,
            settings.budget if budget is None else budget,
            references,
            concurrency,
            settings.random_seed,
        )

    @classmethod
    def of_fidelity(cls, fidelity: Fidelity, random_seed: int = 0) -> RungPlan:
        """The plan's rungs alone, no candidate counted: for what asks only which rungs exist and
        how each trains (a study's jobs, a job's steps, a finished study's top rung)."""
        return cls(fidelity, budget=0, random_seed=random_seed)

    @property
    def screening(self) -> bool:
        """Whether rung 0 is an inherited screen (else the rungs are the fidelity's chain)."""
        return self.fidelity.screens

    @property
    def top_rung(self) -> int:
        return self.fidelity.search_top_rung

    @property
    def base_rung(self) -> int:
        """Screening: the search rung the seed's base runs (the whole chain from scratch, whose
        weights start the screens) are recorded at."""
        return self.fidelity.base_rung

    @property
    def front_on_screens(self) -> bool:
        """Whether the front is declared on the screens (no candidate but the seed trains from
        scratch)."""
        return self.screening and self.top_rung == 0

    @property
    def base_is_top(self) -> bool:
        """Whether the seed's base run is its top-rung run (a screening plan that trains the
        promoted from scratch): then the seed has no top-rung training of its own."""
        return self.screening and self.fidelity.base_rung == self.top_rung

    @property
    def retimes_top(self) -> bool:
        """Whether the top rung's candidates are timed again side by side before the replicates:
        when the top rung comes after another phase (promotions, or the base of the screens)."""
        return self.top_rung >= 1 or self.screening

    def is_screen(self, rung: int) -> bool:
        """Whether a training at search rung ``rung`` is a screen (inherited weights, fine-tuned)."""
        return self.screening and rung == 0

    def chain(self, rung: int, resume: bool = False) -> tuple[int, int] | None:
        """The rungs ``(first, last)`` of ``fidelity.rungs`` a training at search rung ``rung``
        trains; ``None`` for a screen. Past a screen a training runs the whole chain from scratch;
        a chain plan's rung continues from rung ``rung - 1``'s weights when ``resume`` (they are
        there), else trains from scratch up to its end."""
        if self.screening:
            return None if rung == 0 else (0, len(self.fidelity.rung_iterations) - 1)
        return (rung if resume else 0, rung)

    def job_iterations(self, chain: tuple[int, int] | None) -> tuple[int, int]:
        """``(steps trained, steps the candidate has trained once done)`` of a training of
        ``chain`` (`chain`'s answer; ``None``: a screen, whose steps are its fine-tuning's)."""
        if chain is None:
            return self.fidelity.screen_iterations, self.fidelity.screen_iterations
        ends, (first, last) = self.fidelity.rung_iterations, chain
        return ends[last] - (ends[first - 1] if first else 0), ends[last]

    def iterations(self, rung: int) -> int:
        """Steps one training trains at search rung ``rung`` (a promotion of the chain plan
        continues from the rung below)."""
        return self.job_iterations(self.chain(rung, resume=True))[0]

    def trained_iterations(self, rung: int) -> int:
        """Steps in all behind a result at search rung ``rung``: a screen's count the seed's base
        training its weights come from."""
        ends = self.fidelity.rung_iterations
        if self.is_screen(rung):
            return ends[-1] + self.fidelity.screen_iterations
        return self.job_iterations(self.chain(rung))[1]

    def keeps_weights(self, rung: int) -> bool:
        """Whether a candidate's training at ``rung`` keeps its weights: in a chain plan, below the
        top, where the next rung continues from them (a screening plan keeps the base's alone)."""
        return not self.screening and rung < self.top_rung

    def base_seed(self, random_seed: int) -> int:
        """The random seed of the base run whose weights the screens of ``random_seed`` start
        from: their own when the front is on the screens (each random seed's screens replicate
        the whole path), else the main one."""
        return random_seed if self.front_on_screens else self.random_seed

    def keeps_base(self, random_seed: int) -> bool:
        """Whether the seed's base run with ``random_seed`` keeps its weights (screens start from them)."""
        return self.base_seed(random_seed) == random_seed

    def describe(self) -> str:
        """The plan in words, e.g. ``screen 150 iterations from the trained seed, 1/4 promoted to
        150+300+900 iterations from scratch`` (``, each with 2 random seeds`` when every top-rung
        candidate is replicated)."""
        return self._describe_rungs() + (", each with 2 random seeds" if self.replicates_all else "")

    def _describe_rungs(self) -> str:
        fid = self.fidelity
        chain = "+".join(str(b - a) for a, b in zip((0, *fid.rung_iterations), fid.rung_iterations, strict=False))
        if self.screening and not self.base_is_top:
            return (
                f"screen {fid.screen_iterations} iterations from the seed trained {chain} iterations; "
                "front on the screens"
            )
        if self.screening:
            return (
                f"screen {fid.screen_iterations} iterations from the trained seed, 1/{fid.eta} promoted to "
                f"{chain} iterations from scratch"
            )
        return f"rungs {'/'.join(map(str, fid.rung_iterations))} iterations, 1/{fid.eta} promoted"

    def counts(self, promoted: dict[int, list[int]] | None = None) -> list[int]:
        """Candidates trained at each search rung with the main random seed (``n_k``)."""
        promoted = promoted or {}
        counts = [self.budget + self.references]
        for rung in range(1, self.top_rung + 1):
            if rung in promoted:
                counts.append(len(promoted[rung]))
            else:
                counts.append(min(counts[-1], math.ceil(counts[-1] / self.fidelity.eta) + self.references))
        return counts

    @property
    def replicates_all(self) -> bool:
        """Whether every top-rung candidate trains with the second random seed (``top_seeds``
        2), not only the seed and the knee's confirmations."""
        return self.fidelity.top_seeds == 2

    def confirmations(self, promoted: dict[int, list[int]] | None = None) -> int:
        """Candidates (not the seed) the plan confirms at the top rung with the second seed: all
        of them when it :attr:`replicates_all`; on more free slots than `MAX_CONFIRMATIONS`, at
        most one per slot and top-rung candidate."""
        others = self.counts(promoted)[self.top_rung] - 1
        if self.replicates_all:
            return others
        free = self.concurrency - (0 if self.base_is_top else 1)  # the seed's own replicate takes a slot
        if free > MAX_CONFIRMATIONS:
            return max(1, min(free, others))
        return max(free, 1)

    def phases(
        self,
        done: Iterable[Key] = (),
        seed_number: int | None = None,
        promoted: dict[int, list[int]] | None = None,
        running: Iterable[Key] = (),
    ) -> list[Phase]:
        """Every phase, in order, with what ``done`` (the recorded evaluations' keys) and
        ``running`` (jobs handed out) leave of it; ``seed_number`` is the seed's trial."""
        done, running, promoted = set(done), set(running), promoted or {}
        main, top = self.random_seed, self.top_rung
        phases = [self._base(done, running, seed_number)] if self.screening else []
        for rung, count in enumerate(self.counts(promoted)):
            skip = seed_number if self.base_is_top and rung == top else None  # the base's run
            chosen = [n for n in promoted.get(rung, []) if n != skip]
            total = count - (1 if self.base_is_top and rung == top else 0)
            phases.append(
                self._phase(
                    f"rung {rung}", rung, total, done, running, main, skip, chosen, None if rung == 0 else rung - 1
                )
            )
        return [*phases, self._replicate(done, running, seed_number, self.confirmations(promoted))]

    def _phase(
        self,
        name: str,
        rung: int,
        total: int,
        done: set[Any],
        running: set[Any],
        seed: int,
        skip: int | None,
        chosen: list[int],
        pool_rung: int | None,
    ) -> Phase:
        def at(keys: set[Any]) -> set[int]:
            return {n for n, r, s in keys if r == rung and s == seed and n != skip}

        finished, busy = at(done), at(running)
        known = tuple(n for n in chosen if n not in finished and n not in busy)
        return Phase(name, rung, self.iterations(rung), total, len(finished), len(busy), known, pool_rung)

    def _base(self, done: set[Any], running: set[Any], seed_number: int | None) -> Phase:
        """Screening: the seed's two runs through the whole chain, before any screen."""
        base = self.fidelity.base_rung
        keys = {(seed_number, base, s) for s in (self.random_seed, self.random_seed + 1)}
        left = [k for k in keys if k not in done and k not in running]
        known = tuple(seed_number for _ in left) if seed_number is not None else ()
        return Phase("base", base, self.iterations(base), 2, len(keys & done), len(keys & running), known, base)

    def _replicate(self, done: set[Any], running: set[Any], seed_number: int | None, confirmations: int) -> Phase:
        """The top rung with the second random seed: ``confirmations`` candidates (and the seed's
        replicate, unless the base's run is it)."""
        top, second = self.top_rung, self.random_seed + 1
        seed_key = (seed_number, top, second)
        own_seed = not self.base_is_top
        finished = {n for n, r, s in done if r == top and s == second and (own_seed or n != seed_number)}
        busy = {n for n, r, s in running if r == top and s == second and (own_seed or n != seed_number)}
        known = (seed_number,) if own_seed and seed_number is not None and seed_key not in done | running else ()
        iterations = self.job_iterations(self.chain(top))[0]  # from scratch: that random seed left no weights
        return Phase("replicate", top, iterations, confirmations + own_seed, len(finished), len(busy), known, top)
