"""How a candidate is trained at a search rung: the `TrainJob` for (trial, rung, random seed).

Two plans, set by the study's `Fidelity`:

* **chain** (``screen_iterations == 0``): search rung ``k`` is rung ``k`` of ``fidelity.rungs``,
  continued from the weights rung ``k - 1`` left (when they are still there; else every rung
  from scratch). Weights are kept only where a later rung will start from them.
* **screen** (``screen_iterations > 0``): search rung 0 is a *screen* -- the candidate starts
  from the trained seed's weights carried through its steps and fine-tunes a few steps; search
  rung 1 trains the whole chain from scratch, where the front is declared. The seed's own
  rung-1 run (main random seed) leaves the weights every screen starts from (`base_weights`).
"""
from __future__ import annotations

from pathlib import Path

from roadmap.search import study as st
from roadmap.search.evaluator import TrainJob
from roadmap.search.settings import SearchSettings

__all__ = ["Trainings"]


class Trainings:
    """Makes the jobs of one study (see the module docstring)."""

    def __init__(self, settings: SearchSettings, store: st.StudyStore):
        self.settings, self.store = settings, store
        self.fidelity = settings.fidelity
        self.seed_number: int | None = None  # the seed's trial, once known

    @property
    def screening(self) -> bool:
        return self.fidelity.screen_iterations > 0

    @property
    def top_rung(self) -> int:
        return self.fidelity.search_top_rung

    def base_weights(self) -> Path | None:
        """The trained seed's weights every screen starts from (None before the seed is known)."""
        if self.seed_number is None:
            return None
        return self.store.weights_path(self.seed_number, self.top_rung, self.settings.random_seed)

    def job(self, number: int, spec_yaml: str, rung: int, seed: int) -> TrainJob:
        """The training of trial ``number`` at search rung ``rung`` with random seed ``seed``."""
        common = dict(number=number, rung=rung, random_seed=seed, spec_yaml=spec_yaml, fidelity=self.fidelity,
                      data=self.settings.data, device=self.settings.device)
        if self.screening:
            return self._screening_job(common, number, rung, seed)
        save = self.store.weights_path(number, rung, seed) if rung < self.top_rung else None
        previous = self.store.weights_path(number, rung - 1, seed) if rung > 0 else None
        resume = previous is not None and previous.is_file()
        return TrainJob(**common, chain=(rung if resume else 0, rung), resume_from=str(previous) if resume else None,
                        save_weights=None if save is None else str(save))

    def _screening_job(self, common: dict, number: int, rung: int, seed: int) -> TrainJob:
        base = self.base_weights()
        if rung == 0:
            usable = base is not None and base.is_file()  # a seed that failed to train gives nothing
            return TrainJob(**common, chain=None, inherit_from=str(base) if usable else None,
                            seed_yaml=self.settings.seed_spec().to_yaml() if usable else None)
        keep = number == self.seed_number and seed == self.settings.random_seed
        return TrainJob(**common, chain=(0, len(self.fidelity.rung_iterations) - 1),
                        save_weights=str(base) if keep else None)
