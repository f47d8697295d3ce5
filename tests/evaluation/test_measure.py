import torch
from torch import nn

from roadmap.evaluation.latency import measure_latency
from roadmap.evaluation.memory import measure_peak_memory, running_peak


class TwoOps(nn.Module):
    """Activations: ``a = 2x`` and ``b = a + 1``; ``a`` dies after ``b`` exists."""

    def __init__(self):
        super().__init__()
        self.big = nn.Parameter(torch.zeros(1_000_000))  # 4 MB of weights, never counted

    def forward(self, x):
        return x * 2 + 1


def test_memory_counts_input_and_live_allocations_not_parameters():
    r = measure_peak_memory(TwoOps(), (1, 3, 64, 64))
    n = 3 * 64 * 64 * 4
    assert r.input_bytes == n and r.output_bytes == n
    # input + a + b at once (+ a few bytes: the scalars 2 and 1 become 0-d tensors)
    assert 3 * n <= r.peak_bytes <= 3 * n + 64


def test_running_peak_ignores_frees_of_earlier_memory():
    events = [(0, 10, -500), (1, 1, 100), (2, 2, 50), (3, 1, -100), (4, 3, 10)]
    assert running_peak(events) == (150, 3)


def test_latency_report_and_threads_restored():
    before = torch.get_num_threads()
    r = measure_latency(
        nn.Conv2d(3, 3, 3, padding=1), (1, 3, 32, 32), threads=1, warmup=1, repeats=5, max_cv=None
    )  # no extra rounds: exactly the 5 runs, in 3 rounds
    assert torch.get_num_threads() == before
    assert r.threads == 1 and r.repeats == 5 and r.rounds == 3 and r.input_shape == (1, 3, 32, 32)
    assert r.median_ms > 0 and r.cv >= 0 and r.device == "cpu"
