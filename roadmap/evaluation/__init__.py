"""What a trial measures: data, proxy training, PSNR/SSIM, latency, measured memory.

The entry point is :func:`evaluate_spec`; latency and memory are also usable on
any ``nn.Module`` (:func:`measure_latency`, :func:`measure_peak_memory`).
"""

from roadmap.evaluation.data import RestorationData, TrainSampler, load_data
from roadmap.evaluation.evaluate import RESULT_KEYS, evaluate_spec, measure_latencies, measure_spec
from roadmap.evaluation.fidelity import PRESETS, Fidelity, get_fidelity
from roadmap.evaluation.latency import LatencyConfig, LatencyError, LatencyReport, measure_latency
from roadmap.evaluation.memory import MemoryReport, measure_peak_memory
from roadmap.evaluation.quality import evaluate_quality, psnr, ssim
from roadmap.evaluation.tasks import TASKS, Task, for_task, task_from_options
from roadmap.evaluation.training import TrainResult, train

__all__ = [
    "RestorationData",
    "Task",
    "TASKS",
    "for_task",
    "task_from_options",
    "TrainSampler",
    "load_data",
    "RESULT_KEYS",
    "evaluate_spec",
    "measure_spec",
    "measure_latencies",
    "PRESETS",
    "Fidelity",
    "get_fidelity",
    "LatencyConfig",
    "LatencyError",
    "LatencyReport",
    "measure_latency",
    "MemoryReport",
    "measure_peak_memory",
    "evaluate_quality",
    "psnr",
    "ssim",
    "TrainResult",
    "train",
]
