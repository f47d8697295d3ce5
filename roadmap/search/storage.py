"""The Optuna storage a running search writes through: SQLite (``study.db``), with every trial
of the study kept in memory.

Optuna's own cache (``optuna.storages.get_storage`` around an ``RDBStorage``) keeps finished
trials only: it reads every unfinished trial again at each ``ask`` and each time TPE computes
its search space, in case another process changed it. A search has one trial RUNNING per busy
slot, each with its ~50 parameters, so that reading cost the driver time per candidate in
proportion to the slots (about 0.1 s per read at 32 slots, twice per candidate). A search holds
the study's lock (`StudyLock`), so nobody else writes to it: `WriterCache` writes every change
to the database first (a killed search loses nothing) and then applies it to its copy, which
reads back exactly what the database holds (JSON round trips; a trial whose state changed is
read back, for the times Optuna stamps). Like Optuna's cache, it hands the database the
distribution a parameter had before, which spares a query per parameter written.
"""

from __future__ import annotations

import copy
import json
from collections.abc import Container, Sequence
from typing import Any

from optuna.distributions import BaseDistribution
from optuna.storages import BaseStorage, RDBStorage
from optuna.study import StudyDirection
from optuna.trial import FrozenTrial, TrialState

__all__ = ["WriterCache"]


class WriterCache(BaseStorage):
    """An ``RDBStorage`` whose trials this process alone writes, served from memory (see the
    module docstring). Study-level reads and writes go to the database as they are."""

    def __init__(self, backend: RDBStorage):
        self.backend = backend
        self._trials: dict[int, FrozenTrial] = {}  # trial id -> the trial as the database holds it
        # study id -> {trial number: trial id}, in the order of the numbers (trials are made in it)
        self._numbers: dict[int, dict[int, int]] = {}
        self._study_of: dict[int, int] = {}  # trial id -> study id
        self._loaded: set[int] = set()
        # (study id, parameter) -> its distribution in an earlier trial: what a new one must match
        self._distributions: dict[tuple[int, str], BaseDistribution] = {}

    # ------------------------------------------------------------------ studies: the database's

    def create_new_study(self, directions: Sequence[StudyDirection], study_name: str | None = None) -> int:
        return self.backend.create_new_study(directions, study_name)

    def delete_study(self, study_id: int) -> None:
        self.backend.delete_study(study_id)

    def set_study_user_attr(self, study_id: int, key: str, value: Any) -> None:
        self.backend.set_study_user_attr(study_id, key, value)

    def set_study_system_attr(self, study_id: int, key: str, value: Any) -> None:
        self.backend.set_study_system_attr(study_id, key, value)

    def get_study_id_from_name(self, study_name: str) -> int:
        return self.backend.get_study_id_from_name(study_name)

    def get_study_name_from_id(self, study_id: int) -> str:
        return self.backend.get_study_name_from_id(study_id)

    def get_study_directions(self, study_id: int) -> list[StudyDirection]:
        return self.backend.get_study_directions(study_id)

    def get_study_user_attrs(self, study_id: int) -> dict[str, Any]:
        return self.backend.get_study_user_attrs(study_id)

    def get_study_system_attrs(self, study_id: int) -> dict[str, Any]:
        return self.backend.get_study_system_attrs(study_id)

    def get_all_studies(self) -> list[Any]:  # FrozenStudy, which optuna.study does not export
        return self.backend.get_all_studies()

    def remove_session(self) -> None:
        self.backend.remove_session()

    # ------------------------------------------------------------------ trials: written through, kept

    def _keep(self, trial: FrozenTrial, study_id: int) -> None:
        self._trials[trial._trial_id] = trial
        for name, distribution in trial.distributions.items():
            self._distributions.setdefault((study_id, name), distribution)
        self._numbers.setdefault(study_id, {})[trial.number] = trial._trial_id
        self._study_of[trial._trial_id] = study_id

    def _load(self, study_id: int) -> None:
        if study_id not in self._loaded:
            for trial in self.backend.get_all_trials(study_id, deepcopy=False):
                self._keep(trial, study_id)
            self._numbers[study_id] = dict(sorted(self._numbers.get(study_id, {}).items()))
            self._loaded.add(study_id)

    def _reread(self, trial_id: int) -> None:
        """Keep trial ``trial_id`` as the database holds it now (one of a study kept here)."""
        if trial_id in self._study_of:
            self._keep(self.backend.get_trial(trial_id), self._study_of[trial_id])

    def _changed(self, trial_id: int, **fields: Any) -> None:
        """The kept trial with new ``params`` / ``distributions`` / ``user_attrs`` /
        ``system_attrs`` (a copy: a trial handed out earlier does not change under its holder)."""
        if trial_id not in self._trials:
            return
        trial = copy.copy(self._trials[trial_id])
        for name, value in fields.items():
            setattr(trial, name, value)
        self._trials[trial_id] = trial

    def create_new_trial(self, study_id: int, template_trial: FrozenTrial | None = None) -> int:
        trial_id = self.backend.create_new_trial(study_id, template_trial)
        self._study_of[trial_id] = study_id
        self._reread(trial_id)
        return trial_id

    def set_trial_param(
        self, trial_id: int, param_name: str, param_value_internal: float, distribution: BaseDistribution
    ) -> None:
        study_id = self._study_of.get(trial_id)
        # an earlier distribution is known only once every trial of the study is here
        previous = self._distributions.get((study_id, param_name)) if study_id in self._loaded else None
        write = getattr(self.backend, "_set_trial_param", None)  # Optuna's cache calls it so, too
        if previous is None or write is None:
            self.backend.set_trial_param(trial_id, param_name, param_value_internal, distribution)
        else:  # checks the distribution against the earlier one, as the public call would
            write(trial_id, param_name, param_value_internal, distribution, previous)
        if study_id is not None:
            self._distributions.setdefault((study_id, param_name), distribution)
        trial = self.get_trial(trial_id)
        self._changed(
            trial_id,
            params={**trial.params, param_name: distribution.to_external_repr(param_value_internal)},
            distributions={**trial.distributions, param_name: distribution},
        )

    def set_trial_state_values(self, trial_id: int, state: TrialState, values: Sequence[float] | None = None) -> bool:
        done = self.backend.set_trial_state_values(trial_id, state, values)
        self._reread(trial_id)  # the state, the values and the times the database stamped
        return done

    def set_trial_intermediate_value(self, trial_id: int, step: int, intermediate_value: float) -> None:
        self.backend.set_trial_intermediate_value(trial_id, step, intermediate_value)
        self._reread(trial_id)

    def set_trial_user_attr(self, trial_id: int, key: str, value: Any) -> None:
        self.backend.set_trial_user_attr(trial_id, key, value)
        trial = self.get_trial(trial_id)
        self._changed(trial_id, user_attrs={**trial.user_attrs, key: json.loads(json.dumps(value))})

    def set_trial_system_attr(self, trial_id: int, key: str, value: Any) -> None:
        self.backend.set_trial_system_attr(trial_id, key, value)
        trial = self.get_trial(trial_id)
        self._changed(trial_id, system_attrs={**trial.system_attrs, key: json.loads(json.dumps(value))})

    def get_trial_id_from_study_id_trial_number(self, study_id: int, trial_number: int) -> int:
        self._load(study_id)
        if trial_number not in self._numbers.get(study_id, {}):
            return self.backend.get_trial_id_from_study_id_trial_number(study_id, trial_number)
        return self._numbers[study_id][trial_number]

    def get_trial(self, trial_id: int) -> FrozenTrial:
        if trial_id not in self._trials:  # a trial of a study this process has not read: the database's
            return self.backend.get_trial(trial_id)
        return self._trials[trial_id]

    def get_all_trials(
        self, study_id: int, deepcopy: bool = True, states: Container[TrialState] | None = None
    ) -> list[FrozenTrial]:
        self._load(study_id)
        kept = (self._trials[i] for i in self._numbers.get(study_id, {}).values())
        trials = [t for t in kept if states is None or t.state in states]  # by number, as Optuna gives them
        return copy.deepcopy(trials) if deepcopy else trials
