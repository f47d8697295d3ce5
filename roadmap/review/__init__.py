"""Review a finished study: Pareto front, hypervolume, report, export, full training.

Modules (each importable on its own; plotly, onnxruntime and the data pipeline are imported
only by the functions that need them):

- :mod:`~roadmap.review.study`: a study directory -> finished :class:`TrialRecord` s;
- :mod:`~roadmap.review.summary`: front + hypervolume + the ``roadmap pareto`` table / JSON;
- :mod:`~roadmap.review.select`: ``--pick knee|fastest-no-loss|max-psnr|min-latency|min-memory|trial:N``;
- :mod:`~roadmap.review.plots` / :mod:`~roadmap.review.report`: plot data, figures, the HTML;
- :mod:`~roadmap.review.export` / :mod:`~roadmap.review.onnx_export`: spec YAML and ONNX;
- :mod:`~roadmap.review.train`: resumable full training of a spec.
"""

from roadmap.pareto import hypervolume, is_non_dominated, knee_index, reference_point
from roadmap.review.select import pick_trial
from roadmap.review.study import StudyReview, TrialRecord, load_study_dir
from roadmap.review.summary import ParetoSummary, pareto_summary

__all__ = [
    "hypervolume",
    "is_non_dominated",
    "knee_index",
    "reference_point",
    "pick_trial",
    "StudyReview",
    "TrialRecord",
    "load_study_dir",
    "ParetoSummary",
    "pareto_summary",
]
