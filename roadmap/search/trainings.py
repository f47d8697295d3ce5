"""How a candidate is trained at a search rung: the `TrainJob` for (trial, rung, random seed).

Two plans, set by the study's `Fidelity`; its `RungPlan` (`roadmap.search.rung_plan`) answers
which rung screens, what each training trains and whose weights are kept:

* **chain** (``screen_iterations == 0``): search rung ``k`` is rung ``k`` of ``fidelity.rungs``,
  continued from the weights rung ``k - 1`` left (when they are still there; else every rung
  from scratch). Weights are kept only where a later rung will start from them.
* **screen** (``screen_iterations > 0``): search rung 0 is a *screen* -- the candidate starts
  from the trained seed's weights carried through its steps and fine-tunes a few steps; search
  rung 1 trains the whole chain from scratch, where the front is declared. The seed's own
  rung-1 run (main random seed) leaves the weights every screen starts from (`base_weights`).
  With ``front_on_screens`` the screens are the top rung and rung 1 holds the seed's base runs
  alone: each random seed's screens start from the base run of that random seed.

**Shared trainings** (deep-supervised UNet++). One training of the whole network scores every
depth, and ``prune`` keeps the trained weights, so candidates that differ only in their
inference depth are one training: a candidate's job trains the whole network it was cut from
(`unpruned`; ``TrainJob.score_depth`` is its own depth) and its evaluation records that head's
PSNR (`score_at_depth`), with the network's ``training`` key. A job whose training a sibling
already did at the same rung and random seed is not run: `shared_result` reads its result off the
sibling's evaluation (``shared_from``). Latency and memory are each candidate's own, measured on
the pruned network before any training.
"""

from __future__ import annotations

import functools
import hashlib
import json
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from roadmap.search import study as st
from roadmap.search.evaluator import TRAIN_KEYS, TrainJob
from roadmap.search.rung_plan import RungPlan
from roadmap.search.settings import SearchSettings

__all__ = ["Trainings", "training_key", "score_at_depth"]


class Trainings:
    """Makes the jobs of one study (see the module docstring); which rungs screen, which
    continue and which keep their weights, its `RungPlan` says."""

    def __init__(self, settings: SearchSettings, store: st.StudyStore):
        self.settings, self.store = settings, store
        self.fidelity = settings.fidelity
        self.plan = RungPlan.of_fidelity(settings.fidelity, settings.random_seed)
        self.seed_number: int | None = None  # the seed's trial, once known
        self._seed_yaml: str | None = None

    def base_weights(self, random_seed: int | None = None) -> Path | None:
        """The trained seed's weights the screens of ``random_seed`` (default the main one) start
        from (None before the seed is known)."""
        if self.seed_number is None:
            return None
        seed = self.plan.base_seed(self.settings.random_seed if random_seed is None else random_seed)
        return self.store.weights_path(self.seed_number, self.plan.base_rung, seed)

    def seed_yaml(self) -> str:
        """The YAML of the network the seed's runs train (every screen inherits its weights);
        made once: building the seed's spec parses YAML."""
        if self._seed_yaml is None:
            self._seed_yaml = trained_form(self.settings.seed_spec().to_yaml())[0]
        return self._seed_yaml

    def job(self, number: int, spec_yaml: str, rung: int, seed: int) -> TrainJob:
        """The training of trial ``number`` at search rung ``rung`` with random seed ``seed``."""
        spec_yaml, depth = trained_form(spec_yaml)
        common: dict[str, Any] = {
            "number": number,
            "rung": rung,
            "random_seed": seed,
            "spec_yaml": spec_yaml,
            "fidelity": self.fidelity,
            "data": self.settings.data,
            "device": self.settings.device,
            "score_depth": depth,
        }
        if self.plan.screening:
            return self._screening_job(common, number, rung, seed)
        save = self.store.weights_path(number, rung, seed) if self.plan.keeps_weights(rung) else None
        previous = self.store.weights_path(number, rung - 1, seed) if rung > 0 else None
        resume = previous is not None and previous.is_file()
        return TrainJob(
            **common,
            chain=self.plan.chain(rung, resume),
            resume_from=str(previous) if resume else None,
            save_weights=None if save is None else str(save),
        )

    def _screening_job(self, common: dict[str, Any], number: int, rung: int, seed: int) -> TrainJob:
        base = self.base_weights(seed)
        if self.plan.is_screen(rung):
            usable = base is not None and base.is_file()  # a seed that failed to train gives nothing
            seed_yaml = self.seed_yaml()  # what the seed's run trained
            return TrainJob(
                **common,
                chain=self.plan.chain(rung),
                inherit_from=str(base) if usable else None,
                seed_yaml=seed_yaml if usable else None,
            )
        keep = number == self.seed_number and self.plan.keeps_base(seed)
        return TrainJob(**common, chain=self.plan.chain(rung), save_weights=str(base) if keep else None)

    def shared_result(
        self, job: TrainJob, done: Mapping[tuple[int, int, int], dict[str, Any]]
    ) -> dict[str, Any] | None:
        """``job``'s result read off an evaluation in ``done`` (``store.evaluations()``) of the same
        network trained at the same rung with the same random seed; ``None`` when there is none
        (the job has to train)."""
        key, depth = training_key(job), job.score_depth
        if key is None or depth is None:  # not shareable (the key is None without a depth)
            return None
        for (number, rung, seed), record in sorted(done.items()):
            if (rung, seed) == (job.rung, job.random_seed) and number != job.number and record.get("training") == key:
                if record.get("status") == "ok" and str(depth) not in (record.get("psnr_by_depth") or {}):
                    continue  # a record without this depth's score (cannot happen with one network)
                result = {k: record[k] for k in TRAIN_KEYS if k in record}
                result.update(
                    score_at_depth(record, depth),
                    train_seconds=0.0,
                    job_seconds=0.0,
                    shared_from=record.get("shared_from", number),
                )
                return result
        return None


@functools.lru_cache(maxsize=512)
def trained_form(spec_yaml: str) -> tuple[str, int | None]:
    """``(YAML of the network a job trains, the depth to score)``: a deep-supervised UNet++ trains
    the whole network it was cut from and is scored at its own depth; any other spec trains
    itself (depth ``None``)."""
    from roadmap.spec import deep_supervised, load_spec
    from roadmap.transforms.prune import unpruned

    if "deep_supervision" not in spec_yaml:  # the common case needs no YAML parse (one per candidate)
        return spec_yaml, None
    spec = load_spec(spec_yaml)
    if not deep_supervised(spec):
        return spec_yaml, None
    return unpruned(spec).to_yaml(), spec.built_levels


def training_key(job: TrainJob) -> str | None:
    """What ``job`` trains, where other candidates may share it (``None``: not shareable): the
    whole UNet++ (its architecture, and its steps: a screen starts from the seed's weights
    carried through them)."""
    return None if job.score_depth is None else _network_key(job.spec_yaml)


@functools.lru_cache(maxsize=512)
def _network_key(spec_yaml: str) -> str:
    from roadmap.search.candidates import architecture_key
    from roadmap.spec import load_spec

    spec = load_spec(spec_yaml)
    text = json.dumps([architecture_key(spec), spec.provenance.get("steps") or []], sort_keys=True)
    return hashlib.sha256(text.encode()).hexdigest()[:16]


def score_at_depth(record: dict[str, Any], depth: int) -> dict[str, Any]:
    """``psnr`` / ``ssim`` of head ``depth`` of a deep-supervised training's result, and its
    by-depth scores keyed by text (as JSON stores them). A result without scores (diverged,
    failed) keeps what it has.

    ``test_psnr`` and ``psnr_rgb`` were scored on the whole network's own (deepest) head only:
    for a shallower depth they are ``None`` (not recorded) rather than another head's figures.
    The inputs' PSNRs do not depend on the depth and stay."""
    out: dict[str, Any] = {}
    for key in ("psnr", "ssim"):
        by_depth = record.get(f"{key}_by_depth")
        if isinstance(by_depth, dict):
            out[f"{key}_by_depth"] = {str(d): v for d, v in by_depth.items()}
            if record.get("status", "ok") == "ok":
                out[key] = out[f"{key}_by_depth"].get(str(depth))
    heads = [int(d) for d in out.get("psnr_by_depth", {})]
    if heads and depth != max(heads):
        out.update(test_psnr=None, psnr_rgb=None)
    return out
