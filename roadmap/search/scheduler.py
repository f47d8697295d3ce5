"""What to train next: the search's phases, as batches of `TrainJob`s for an executor.

An executor asks for the next batch when nothing trains; one with slots side by side (Ray) also
asks whenever a slot frees (`next_batch` with jobs in flight), and gets what may start beside
the running jobs without waiting for their results: the rest of the base runs, candidates
already measured, the rest of the rung being promoted to. A decision that needs the running
results (a promotion, the knee) waits until they are in. New candidates are measured (latency,
memory) while nothing trains -- unless no trial can run on the machine that measures
(`measure_while_training`: a Ray head without CPUs for trials), where measuring beside the
trainings keeps the exploration's slots full. Phases:

0. **Base** (screening fidelities only, `roadmap.search.trainings`) -- the seed trains through
   every rung first, with its replicate beside it: every candidate's screen starts from the
   seed's trained weights.
1. **Explore** -- the reference points (seed, mofa, unet--; besides the budget), then new
   candidates from the sampler, trained at rung 0, until ``budget`` candidates are counted.
   Optuna is told each candidate's rung-0 values. Before the next phase, a candidate whose
   latency CV is over `REMEASURE_CV` is timed again on the idle machine, and the steadier
   latency is the one every later comparison uses.
2. **Promote** (MO-ASHA style successive halving) -- for each later rung ``k``: the best
   ``ceil(n / eta)`` of the ``n`` candidates with a rung ``k - 1`` result, by non-dominated
   sorting on (PSNR at rung ``k - 1``, latency, memory) and crowding distance, plus every
   reference point (seed, mofa, unet--), train to rung ``k`` (see `Trainings` for how),
   the costliest first (refilled slots then end a rung with its shortest jobs).
3. **Replicate** -- at the top rung, the seed and then the knee of the front are trained again
   with a second random seed: the seed pair measures the noise floor, the knee's pair confirms
   the PSNR the review recommends (re-done if the knee moves, at most `MAX_CONFIRMATIONS`).
   Before it, the top rung's candidates are timed again side by side (one interleaved run),
   so that the front's latencies compare. Slots the knee leaves free confirm the runners-up
   (the front points next nearest the ideal, where a knee usually moves once replicated) at the
   same time; on a cluster the slots still free then confirm the fastest candidates that lose
   nothing against the seed and the rest of the front, those no longer to train than the
   longest of the knee's round: more of the front confirmed, in no more wall time.

Everything a phase decides is recomputed from the stored evaluations (the study as the store
keeps it in memory, `roadmap.search.view`), so a study killed in the middle of a rung resumes
with the jobs it had not finished; no finished rung is lost.

Deep-supervised UNet++ candidates that differ only in their depth share one training
(`roadmap.search.trainings`): before a batch is handed out, a job whose network a sibling
already trained at the same rung and random seed is recorded from the sibling's scores instead,
and of two siblings in one batch only the first trains (the other is scored after it).
"""

from __future__ import annotations

import itertools
import math
import time
from collections.abc import Callable
from typing import Any

from roadmap import pareto
from roadmap.evaluation.fidelity import noise_prior
from roadmap.search import results as res
from roadmap.search import study as st
from roadmap.search.candidates import CandidateFactory, Proposal
from roadmap.search.evaluator import TRAIN_KEYS, TrainJob
from roadmap.search.rung_plan import MAX_CONFIRMATIONS, RungPlan
from roadmap.search.settings import SearchSettings
from roadmap.search.trainings import Trainings, score_at_depth, training_key

__all__ = ["Scheduler", "MAX_CONFIRMATIONS", "REMEASURE_CV"]

REMEASURE_CV = 0.05  # the clock aims at 3 %: above 5 % a candidate was timed on a busy machine
INTERRUPTED = "interrupted before it finished; queued again"


class Scheduler:
    """The executor's job source for one run of a search (see the module docstring)."""

    refills = True  # an executor may ask for jobs while others train (`next_batch`)

    def __init__(
        self,
        settings: SearchSettings,
        store: st.StudyStore,
        factory: CandidateFactory,
        concurrency: int = 1,
        progress: Any = None,
        measure_while_training: bool = False,
    ):
        self.settings, self.store, self.factory, self.progress = settings, store, factory, progress
        self.concurrency = concurrency
        # no training shares the machine that measures (a Ray head without CPUs for trials), so
        # new candidates may be measured while others train
        self.measure_while_training = measure_while_training
        self.in_flight: dict[tuple[int, int, int], TrainJob] = {}  # handed out, not finished
        self.trainings = Trainings(settings, store)
        self.pending: list[Proposal] = []  # asked and measured, rung-0 job not handed out yet
        self.stop_requested = False
        self.write_fault: str | None = None  # a job could not write its files: why the search stopped
        self.asked: dict[int, Any] = {}  # trial number -> Optuna trial trained at rung 0 now
        self.proposals: dict[int, Proposal] = {}
        self.batches = 0
        self.iterations_this_run = 0
        self.train_seconds = 0.0
        self.busy: list[tuple[float, float]] = []
        self.t0 = time.perf_counter()
        self.used_at_start = store.counts()["budget_used"]
        # what the progress line's ETA reads (`roadmap.search.rung_plan`): the trainings of earlier
        # runs, the promotions decided (rung -> trial numbers), the jobs training now (key -> start)
        self.done_at_start = set(store.evaluations())
        self.promoted: dict[int, list[int]] = {}
        self.running: dict[tuple[int, int, int], tuple[TrainJob, float]] = {}
        self._results: dict[int, tuple[int, res.StudyResults]] = {}  # rung -> (view version, results)
        self._kept: dict[
            tuple[Any, ...], tuple[tuple[int, ...], list[res.Candidate]]
        ] = {}  # `_since`: key -> (inputs, value)

    # ------------------------------------------------------------------ state

    @property
    def top_rung(self) -> int:
        return self.trainings.plan.top_rung

    def plan(self) -> RungPlan:
        """The trainings this search plans (`roadmap.search.rung_plan`)."""
        return RungPlan.of(self.settings, len(self.factory.references), self.concurrency)

    @property
    def replicate_seed(self) -> int:
        return self.settings.random_seed + 1

    def counts(self) -> dict[str, int]:
        return self.store.counts()

    def results(self, rung: int | None = None) -> res.StudyResults:
        """The study's candidates judged at ``rung`` (default the top rung), from the store's
        view; kept until the study changes (a batch asks for them several times). At the top
        rung the noise pools the fidelity's calibrated prior, so that the knee the search
        confirms is the one its summary and ``roadmap pareto`` name; the prior says nothing of
        lower rungs."""
        rung = self.top_rung if rung is None else rung
        version = self.store.view.version
        kept = self._results.get(rung)
        if kept is None or kept[0] != version:
            prior = noise_prior(self.settings.fidelity, self.settings.task.name) if rung == self.top_rung else None
            candidates = self.store.view.candidates()
            results = res.study_results(
                self.store.study, rung, self.settings.constraints.min_psnr, prior, candidates=candidates
            )
            kept = self._results[rung] = (version, results)
        return kept[1]

    def prepare(self, new_study: bool) -> None:
        """Queue again what a killed run left running; remember every candidate (duplicates);
        queue the reference points of a new study."""
        from optuna.trial import TrialState

        for t in self.store.study.get_trials(deepcopy=False, states=(TrialState.RUNNING,)):
            self._requeue(t.number, t.params, t.user_attrs)
        for t in self.store.study.get_trials(deepcopy=False, states=(TrialState.COMPLETE, TrialState.FAIL)):
            self.factory.remember(t.number, t.user_attrs.get("spec_yaml"))
            if t.user_attrs.get("reference") == "seed":
                self.trainings.seed_number = t.number
        if new_study:
            self.factory.enqueue_references()

    def _requeue(self, number: int, params: dict[str, Any], attrs: dict[str, Any]) -> None:
        """An interrupted rung-0 trial: PRUNED (never counted) and its candidate queued again."""
        from optuna.trial import TrialState

        self.store.note_interrupted(number, INTERRUPTED)
        self.store.tell(number, state=TrialState.PRUNED, skip_if_finished=True)
        extra = {"requeued_from": number, **({"reference": attrs["reference"]} if attrs.get("reference") else {})}
        self.store.enqueue(dict(params), extra)
        st.write_json_atomic(
            st.trial_dir(self.store.directory, number) / "metrics.json",
            {"status": "interrupted", "reason": INTERRUPTED},
        )

    # ------------------------------------------------------------------ batches

    def next_batch(self) -> list[TrainJob] | None:
        """Jobs to start now, at most the free slots (``concurrency`` less the jobs training).
        With nothing training: the next jobs of the search, ``None`` once it is done or stopped.
        With jobs training (an executor that keeps its slots full, `refills`): the jobs that may
        start beside them, maybe none (see the module docstring). Jobs a sibling's training
        already scores are recorded on the way."""
        while True:
            jobs = self._candidate_jobs()
            if self.stop_requested:
                self.abandon(jobs)
                return [] if self.in_flight else None
            trainable, recorded = self._share(jobs)
            if trainable or not recorded:  # all shared: their records move the phases on, ask again
                break
        self.in_flight.update((_key(j), j) for j in trainable)
        if trainable:
            self.batches += 1
        return trainable if trainable or self.in_flight else None

    def _candidate_jobs(self) -> list[TrainJob]:
        """The next jobs of the current phase, at most the free slots."""
        room = self.concurrency - len(self.in_flight)
        if self.stop_requested or room <= 0:
            return []
        jobs = [j for j in self._phase_jobs(room) if _key(j) not in self.in_flight][:room]
        if 0 < len(jobs) < room:  # a free slot: the seed's replicate needs nobody
            taken = {x.number for x in jobs}
            jobs += [j for j in self._seed_replicate() if j.number not in taken and _key(j) not in self.in_flight][:1]
        return jobs

    def _phase_jobs(self, room: int) -> list[TrainJob]:
        """The jobs of the current phase. Beside jobs still training, only what their results
        cannot change: the rest of the base runs, candidates of the exploration (new ones only
        when measuring may overlap trainings: `measure_while_training`), the rest of the rung
        being promoted to; every later decision waits for the rung below to finish."""
        busy = bool(self.in_flight)
        may_measure = not busy or self.measure_while_training
        jobs = self._base_jobs() or self._explore_batch(room, may_measure)
        if jobs or (busy and (self._remaining() > 0 or any(j.rung == 0 for j in self.in_flight.values()))):
            return jobs  # exploring: promotions wait for every rung-0 result
        if not self._steady_latencies(may_measure):
            return []  # a latency to time again first, while nothing trains
        jobs = self._promotion_jobs()
        if jobs or (busy and not self._replicating()):
            return jobs
        self._side_by_side_latencies()
        return self._replicate_jobs()

    def _replicating(self) -> bool:
        """Whether the replicate phase of a plan that replicates every top-rung candidate has
        begun (a candidate's replicate, not only the seed's, in flight; the top rung was timed
        side by side before it) and only replicates train: their results change no other
        replicate, so free slots take the next ones."""
        replicates = [
            j for j in self.in_flight.values() if j.rung == self.top_rung and j.random_seed == self.replicate_seed
        ]
        return (
            self.trainings.plan.replicates_all
            and len(replicates) == len(self.in_flight)
            and any(j.number != self.trainings.seed_number for j in replicates)
        )

    def _share(self, jobs: list[TrainJob]) -> tuple[list[TrainJob], int]:
        """``(the jobs that must train, how many were recorded)``: a job whose network a sibling
        already trained (same rung and random seed) is recorded now from the sibling's scores; of
        siblings in ``jobs`` or training only the first trains, the others wait for its result
        (see the module docstring)."""
        done = self.store.evaluations() if any(j.score_depth is not None for j in jobs) else {}
        training = {
            (training_key(j), j.rung, j.random_seed) for j in self.in_flight.values() if training_key(j) is not None
        }
        trainable, recorded = [], 0
        for job in jobs:
            key = training_key(job)
            shared = self.trainings.shared_result(job, done) if key is not None else None
            if shared is not None:
                self.finished(job, shared)
                recorded += 1
            elif key is not None and (key, job.rung, job.random_seed) in training:
                self._defer(job)
            else:
                training.add((key, job.rung, job.random_seed))
                trainable.append(job)
        return trainable, recorded

    def _defer(self, job: TrainJob) -> None:
        """A job left for a later batch: a new candidate's first job goes back to the front of the
        queue; any other job is recomputed from the stored evaluations anyway."""
        if job.number in self.proposals and job.rung == 0 and job.random_seed == self.settings.random_seed:
            self.pending.insert(0, self.proposals[job.number])

    def _base_jobs(self) -> list[TrainJob]:
        """Screening: the seed's top-rung run (its weights start every screen) and its
        replicate, before any candidate is screened."""
        if not self.trainings.plan.screening:
            return []
        seed = self._seed_trial()
        if seed is None:
            return []
        number, spec_yaml = seed
        done, base = self.store.evaluations(), self.trainings.plan.base_rung
        return [
            self.trainings.job(number, spec_yaml, base, s)
            for s in (self.settings.random_seed, self.replicate_seed)
            if (number, base, s) not in done
        ]

    def _seed_trial(self) -> tuple[int, str] | None:
        """(number, spec YAML) of the seed's trial; a new study asks it now (it is queued first)."""
        rows = self.store.view.rows
        known = self.trainings.seed_number
        for row in itertools.chain([rows[known]] if known in rows else [], rows.values()):  # the known seed first
            if (
                row.attrs.get("reference") == "seed"
                and row.attrs.get("spec_yaml")
                and (row.state in ("COMPLETE", "FAIL") or row.number in self.asked)
            ):
                self.trainings.seed_number = row.number
                return row.number, row.attrs["spec_yaml"]
        if self.stop_requested or self._remaining() <= 0:
            return None
        proposal = self.factory.propose()
        if proposal is None:
            return None
        self._hold(proposal)
        if proposal.trial.user_attrs.get("reference") != "seed":
            return None  # no seed in this study: the screens start from scratch
        self.trainings.seed_number = proposal.trial.number
        return proposal.trial.number, proposal.spec_yaml

    def _hold(self, proposal: Proposal) -> None:
        self.asked[proposal.trial.number] = proposal.trial
        self.proposals[proposal.trial.number] = proposal
        self.pending.append(proposal)

    def _explore_batch(self, room: int, measure: bool = True) -> list[TrainJob]:
        """Rung-0 jobs of up to ``room`` candidates, the measured ones waiting first; new ones
        are asked for (and measured) only when ``measure``."""
        while measure and not self.stop_requested and len(self.pending) < room and self._remaining() > 0:
            proposal = self.factory.propose()
            self._show()
            if proposal is not None:
                self._hold(proposal)
        batch, self.pending = self.pending[:room], self.pending[room:]
        return [self.trainings.job(p.trial.number, p.spec_yaml, 0, self.settings.random_seed) for p in batch]

    def _remaining(self) -> int:
        """Candidates still to ask for: the reference points are trained besides the budget;
        none once too many in a row were rejected (`CandidateFactory.exhausted`)."""
        if self.factory.exhausted:
            return 0
        asked = sum(1 for trial in self.asked.values() if not trial.user_attrs.get("reference"))
        return max(0, self.settings.budget - self.counts()["budget_used"] - asked)

    def _steady_latencies(self, measure: bool = True) -> bool:
        """Every candidate whose latency CV is over `REMEASURE_CV` (timed while the machine was
        busy, e.g. the seed while Ray started) is timed again once, now that nothing trains;
        whether none is left unsteady (``measure`` False: none is timed now)."""
        unsteady = self._since(("unsteady",), self._rung_inputs(0), self._unsteady)
        for c in unsteady if measure else []:
            self.factory.remeasure_latency(c)
        return measure or not unsteady

    def _unsteady(self) -> list[res.Candidate]:
        return [
            c
            for c in self.results(0).finished()
            if c.spec_yaml
            and "latency_how" not in c.metrics
            and (res.finite_or_none(c.metrics.get("latency_cv")) or 0.0) > REMEASURE_CV
        ]

    def _side_by_side_latencies(self) -> None:
        """Once the top rung is decided (more than one rung), its candidates are timed again
        side by side, so the front compares latencies of one measurement (`REMEASURE_CV`'s
        re-timing only catches noisy measurements, not a machine that was slower for minutes)."""
        top = [c for c in self.results().finished() if c.spec_yaml]
        if self.plan().retimes_top and len(top) >= 2 and any("latency_side_by_side" not in c.metrics for c in top):
            self.factory.retime_side_by_side(top)

    def _promotion_jobs(self) -> list[TrainJob]:
        seed = self.settings.random_seed
        for rung in range(1, self.top_rung + 1):
            done = self.store.evaluations()
            chosen = self._promoted_to(rung)
            self.promoted[rung] = [c.number for c in chosen]
            # longest first: a batch waits for its slowest job, and refilled slots end on short ones
            todo = sorted(
                (
                    c
                    for c in chosen
                    if (c.number, rung, seed) not in done and (c.number, rung, seed) not in self.in_flight
                ),
                key=_screen_seconds,
                reverse=True,
            )
            # the first ones only: a batch takes no more, and the rest are found again next time
            jobs = [self._job(c, rung, seed) for c in todo[: self.concurrency]]
            if jobs:
                return jobs
            if any(j.rung <= rung for j in self.in_flight.values()):
                return []  # the rung still trains: not decided yet, and its jobs may resume from rung - 1
            self.store.remove_weights(rung - 1)  # the rung is decided: nobody resumes from it
        return []

    def _promoted_to(self, rung: int) -> list[res.Candidate]:
        """The candidates promoted to ``rung``, sorted out again only when rung ``rung - 1``
        changed, not at every batch."""
        return self._since(
            ("promoted", rung),
            self._rung_inputs(rung - 1),
            lambda: self._promoted(self.results(rung - 1).finished(), rung - 1),
        )

    def _rung_inputs(self, rung: int) -> tuple[int, int, int]:
        """What a decision on rung ``rung``'s candidates depends on: the view's count of changes
        to its evaluations, to latencies and to trials."""
        changes = self.store.view.changes
        return changes[("eval", rung)], changes["latency"], changes["trial"]

    def _since(
        self, key: tuple[Any, ...], inputs: tuple[int, ...], compute: Callable[[], list[res.Candidate]]
    ) -> list[res.Candidate]:
        """``compute()``, worked out again only once ``inputs`` moved on (a refill asks often,
        and reading every candidate each time would cost in proportion to the budget)."""
        kept = self._kept.get(key)
        if kept is None or kept[0] != inputs:
            kept = self._kept[key] = (inputs, compute())
        return kept[1]

    def _promoted(self, candidates: list[res.Candidate], rung: int) -> list[res.Candidate]:
        """The best ``ceil(n / eta)`` by non-dominated sorting, plus the reference points."""
        if not candidates:
            return []
        loss = pareto.to_loss([(c.psnr(rung), c.latency_ms, c.memory_bytes) for c in candidates], (True, False, False))
        count = math.ceil(len(candidates) / self.settings.fidelity.eta)
        best = set(pareto.select_best(loss, count))
        return [c for i, c in enumerate(candidates) if i in best or c.reference]

    def _seed_replicate(self) -> list[TrainJob]:
        """The seed at the top rung with the second random seed, once the seed is measured."""
        seed = next((c for c in self.store.view.candidates() if c.reference == "seed"), None)  # trial 0, mostly
        if seed is None or seed.state != "COMPLETE" or self._replicate_tried(seed):
            return []
        return [self._job(seed, self.top_rung, self.replicate_seed)]

    def _replicate_jobs(self) -> list[TrainJob]:
        """The seed's replicate, then the knee's, with its runners-up and, on a cluster, more in
        the slots still free (`_confirmations`): at most `MAX_CONFIRMATIONS` in all, or the free
        slots where there are more (a wider round costs no wall time). A plan that replicates
        every top-rung candidate (``top_seeds`` 2) confirms them all, the knee first, then the
        longest (`_unreplicated`)."""
        top = self.results()
        jobs = self._seed_replicate()
        free = max(self.concurrency - len(jobs), 1)
        if self.trainings.plan.replicates_all:
            todo = self._unreplicated(top)[:free]
            return jobs + [self._job(c, self.top_rung, self.replicate_seed) for c in todo]
        confirmed = [c for c in top.finished() if len(c.runs(self.top_rung)) >= 2 and c.reference != "seed"]
        ranked = top.knee_ranked()
        if not ranked or ranked[0].reference == "seed" or self._replicate_tried(ranked[0]):
            return jobs  # the knee is the seed, or its replicate is done (or failed)
        room = min(max(MAX_CONFIRMATIONS, free) - len(confirmed), free)
        todo = self._confirmations(top, ranked)[: max(room, 0)]
        return jobs + [self._job(c, self.top_rung, self.replicate_seed) for c in todo]

    def _confirmations(self, top: res.StudyResults, ranked: list[res.Candidate]) -> list[res.Candidate]:
        """The candidates to confirm, in order: the knee and its runners-up (``ranked``, the front
        in knee order; `MAX_CONFIRMATIONS` of them), then the fastest that lose nothing against
        the seed (the other recommendation) and the rest of the front -- of those, only the ones
        whose top-rung run took no longer than the longest of the first: in slots the knee's
        round leaves free they end before it does."""
        first = [c for c in ranked if self._awaits_replicate(c)][:MAX_CONFIRMATIONS]
        longest = max(map(self._top_seconds, first), default=0.0)
        chosen = {c.number for c in first}
        more = []
        for c in [*top.no_loss_ranked(), *ranked]:
            if c.number not in chosen and self._awaits_replicate(c) and self._top_seconds(c) <= longest:
                chosen.add(c.number)
                more.append(c)
        return first + more

    def _top_seconds(self, candidate: res.Candidate) -> float:
        """The seconds of ``candidate``'s top-rung run with the main random seed (0 if unknown)."""
        record = self.store.evaluations().get((candidate.number, self.top_rung, self.settings.random_seed), {})
        return float(record.get("job_seconds") or 0.0)

    def _unreplicated(self, top: res.StudyResults) -> list[res.Candidate]:
        """The top rung's finished candidates but the seed that have no second run yet: the knee
        first (a stopped search has replicated what it recommends), then the longest first (by
        its top-rung run's seconds), so that the last replicates to start are short ones: a long
        one started last would train on while every other slot idles."""
        knee = top.knee_ranked()[:1]
        first = {c.number for c in knee}
        rest = sorted((c for c in top.finished() if c.number not in first), key=self._top_seconds, reverse=True)
        return [c for c in knee + rest if self._awaits_replicate(c)]

    def _job(self, candidate: res.Candidate, rung: int, seed: int) -> TrainJob:
        """The training of a candidate already asked for (it has its spec) at ``rung``."""
        if candidate.spec_yaml is None:
            raise RuntimeError(f"trial {candidate.number} has no spec to train")  # a bug, not a user's error
        return self.trainings.job(candidate.number, candidate.spec_yaml, rung, seed)

    def _awaits_replicate(self, candidate: res.Candidate) -> bool:
        """Whether a candidate (not the seed, whose replicate `_seed_replicate` hands out) has no
        top-rung run with the second random seed yet (nor a failed one)."""
        return candidate.reference != "seed" and not self._replicate_tried(candidate)

    def _replicate_tried(self, candidate: res.Candidate) -> bool:
        return any(e.rung == self.top_rung and e.random_seed == self.replicate_seed for e in candidate.evaluations)

    # ------------------------------------------------------------------ outcomes

    def started(self, job: TrainJob) -> None:
        """Executors call this when a job starts: the ETA counts what it has left."""
        self.running[_key(job)] = (job, time.perf_counter())

    def finished(self, job: TrainJob, result: dict[str, Any]) -> None:
        """Store one trained job; a rung-0 job also tells Optuna (COMPLETE or FAIL). A job that
        could not write its files (``write_fault``: a full disk) is not the candidate's failure:
        it is queued again and the search stops (`write_fault`; `run_search` says why)."""
        self.in_flight.pop(_key(job), None)
        self.running.pop(_key(job), None)
        if result.get("write_fault"):
            self.write_fault = self.write_fault or str(result.get("reason"))
            self.stop_requested = True
            self.abandon([job])
            return
        seconds = float(result.get("job_seconds") or 0.0)
        self.train_seconds += seconds
        now = time.perf_counter()
        self.busy.append((now - seconds, now))
        record = {k: result.get(k) for k in TRAIN_KEYS if result.get(k) is not None}
        record.update(
            iterations=job.iterations,
            job_iterations=job.job_iterations,
            job_seconds=seconds,
            cpu_seconds=float(result.get("cpu_seconds") or 0.0),
            ended=round(time.time(), 3),
            status=result.get("status") or "failed",
        )
        shared = result.get("shared_from")
        if job.score_depth is not None:  # a UNet++ depth: its head's scores, its network's key
            record.update(score_at_depth(record, job.score_depth), training=training_key(job), depth=job.score_depth)
            if shared is not None:
                record["shared_from"] = shared
        self.iterations_this_run += 0 if shared is not None else job.job_iterations
        if record["status"] == "ok" and res.finite_or_none(record.get("psnr")) is None:
            record.update(status="failed", reason=record.get("reason") or "no finite PSNR")
        self.store.record(job.number, job.rung, job.random_seed, record)
        if job.resume_from and shared is None:  # the previous rung's weights are spent
            _remove(job.resume_from)
        first_rung = job.rung == 0 and job.random_seed == self.settings.random_seed
        trial = self.asked.pop(job.number, None) if first_rung else None
        if trial is not None:
            self._tell(trial, record)
        self._show(finished=True)

    def _tell(self, trial: Any, record: dict[str, Any]) -> None:
        from optuna.trial import TrialState

        proposal = self.proposals.pop(trial.number)
        metrics = {
            **proposal.measured,
            **record,
            "fidelity": self.settings.fidelity.name,
            "device": self.settings.device,
        }
        self.store.set_trial_attr(trial, "metrics", metrics)
        st.write_json_atomic(
            st.trial_dir(self.store.directory, trial.number) / "metrics.json",
            {**metrics, "evaluations": {f"rung 0, seed {self.settings.random_seed}": record}},
        )
        values = [record.get("psnr"), metrics.get("latency_ms"), metrics.get("peak_memory_measured_bytes")]
        if record["status"] == "ok" and all(res.finite_or_none(v) is not None for v in values):
            self.store.tell(trial, [float(v) for v in values if v is not None])  # all finite, checked above
            return
        reason = record.get("reason") or record["status"]
        self.store.set_trial_attr(
            trial, "failure_reason", reason if record["status"] == "failed" else f"{record['status']}: {reason}"
        )
        self.store.tell(trial, state=TrialState.FAIL)

    def abandon(self, jobs: list[TrainJob]) -> None:
        """Jobs handed out but not finished (Ctrl-C): rung-0 trials are queued again; later
        rungs are recomputed by the next run."""
        for job in jobs:
            self.in_flight.pop(_key(job), None)
            self.running.pop(_key(job), None)
            if job.rung != 0 or job.random_seed != self.settings.random_seed:
                continue  # a later rung or a replicate: the next run recomputes it
            trial = self.asked.pop(job.number, None)
            self.proposals.pop(job.number, None)
            if trial is not None:
                self._requeue(trial.number, trial.params, trial.user_attrs)

    def close(self) -> None:
        """Trials asked but not told (stopped, or an error mid-batch) are queued again."""
        self.pending.clear()
        self.abandon([TrainJob(n, 0, self.settings.random_seed, "", self.settings.fidelity) for n in list(self.asked)])

    def _show(self, finished: bool = False) -> None:
        if self.progress is not None:
            self.progress.update(self, finished)


def _key(job: TrainJob) -> tuple[int, int, int]:
    """The evaluation key a job is recorded under."""
    return job.number, job.rung, job.random_seed


def _screen_seconds(candidate: res.Candidate) -> float:
    """What the candidate's rung-0 training took: its cost relative to the others."""
    return float(res.finite_or_none(candidate.metrics.get("job_seconds")) or 0.0)


def _remove(path: str) -> None:
    try:
        import os

        os.remove(path)
    except OSError:
        pass
