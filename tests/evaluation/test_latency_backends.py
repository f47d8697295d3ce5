"""Latency backends (torch, onnxruntime, command), the steadier clock, and how eval / search
report a failing latency command or a resume with another backend."""

from __future__ import annotations

import functools
import json
import operator
import shlex
import sys
from pathlib import Path

import pytest
import torch
from torch import nn

from roadmap.cli import main
from roadmap.errors import RoadmapError
from roadmap.evaluation.latency import Clock, LatencyConfig, LatencyError, _time_rounds, measure_with
from roadmap.evaluation.latency_backends import LATENCY_BACKENDS, Timer, command_args

REPO = Path(__file__).resolve().parents[2]
PY = shlex.quote(sys.executable)
ORT_COMMAND = f"{PY} {shlex.quote(str(REPO / 'examples' / 'ort_latency.py'))} {{onnx}} --input {{shape}}"
SMALL = (1, 3, 32, 32)


def script(tmp_path: Path, body: str) -> str:
    """A command template running a Python script with ``body`` (it gets argv[1] = {onnx})."""
    path = tmp_path / "latency_script.py"
    path.write_text("import sys\n" + body)
    return f"{PY} {shlex.quote(str(path))} {{onnx}} {{shape}}"


def conv() -> nn.Module:
    torch.manual_seed(0)
    return nn.Sequential(nn.Conv2d(3, 8, 3, padding=1), nn.ReLU(), nn.Conv2d(8, 3, 3, padding=1))


# --------------------------------------------------------------------------- the clock


def test_unsteady_rounds_get_extra_rounds_and_the_median_of_round_medians():
    times = iter([99.0] * 3 + [10.0] * 5 + [20.0] * 5 + [10.0] * 5 + [10.0] * 100)  # warm-up, then rounds
    rounds = _time_rounds(
        [Timer(lambda: next(times), "torch", "cpu", 1)],
        Clock(warmup=3, repeats=15, rounds=3, max_cv=0.03, extra_rounds=2),
    )[0]
    assert len(rounds) == 5 and 99.0 not in functools.reduce(
        operator.iadd, rounds, []
    )  # warm-up discarded, 2 extra rounds
    steady = _time_rounds([Timer(lambda: 10.0, "torch", "cpu", 1)], Clock(repeats=15, rounds=3))[0]
    assert [len(r) for r in steady] == [5, 5, 5]


def test_interleaved_rounds_alternate_and_rotate():
    order: list[str] = []
    timers = [Timer(lambda n=n: order.append(n) or 1.0, "torch", "cpu", 1) for n in "ab"]
    _time_rounds(timers, Clock(warmup=0, repeats=2, rounds=2, max_cv=None))
    assert order == ["a", "b", "b", "a"]  # one call a round; b goes first in round 2


def test_report_records_rounds_cv_and_backend():
    r = measure_with(conv(), SMALL, LatencyConfig("onnxruntime"), threads=1, clock=Clock(repeats=4, rounds=2))
    assert r.backend == "onnxruntime" and r.threads == 1 and r.rounds >= 2 and r.median_ms > 0
    assert len(r.round_medians_ms) == r.rounds and r.cv >= 0 and r.run_cv >= 0


# --------------------------------------------------------------------------- every backend


@pytest.mark.parametrize("name", LATENCY_BACKENDS.names())
def test_every_backend_times_a_model(name):
    """Parametrised over the registry: a new backend is tested by registering it."""
    config = LatencyConfig(name, ORT_COMMAND if LATENCY_BACKENDS[name].takes_command else None)
    r = measure_with(conv(), SMALL, config, clock=Clock(warmup=1, repeats=2, rounds=2))
    assert r.backend == name and r.rounds >= 2 and r.median_ms > 0


@pytest.mark.parametrize("name", [n for n in LATENCY_BACKENDS.names() if not LATENCY_BACKENDS[n].takes_command])
def test_a_backend_without_a_command_refuses_one(name):
    with pytest.raises(RoadmapError, match=f"--latency-command needs --latency-backend command \\(got {name}\\)"):
        LatencyConfig(name, "run {onnx}")


def test_an_unknown_backend_is_never_timed_as_a_command():
    config = LatencyConfig("torch")
    object.__setattr__(config, "backend", "tvm")  # past the check on creation
    with pytest.raises(
        RoadmapError, match=f"^--latency-backend: must be one of {', '.join(LATENCY_BACKENDS)}, got 'tvm'$"
    ):
        measure_with(conv(), SMALL, config, clock=Clock(repeats=1, rounds=1))


# --------------------------------------------------------------------------- the command backend


def test_command_backend_runs_the_example_script():
    r = measure_with(conv(), SMALL, LatencyConfig("command", ORT_COMMAND), clock=Clock(repeats=2, rounds=2))
    assert r.backend == "command" and r.rounds >= 2 and r.repeats == r.rounds and r.median_ms > 0


@pytest.mark.parametrize(
    "body,message",
    [
        (
            "sys.stderr.write('warming up\\nno such device: phone\\n'); sys.exit(1)",
            "latency command exited with status 1: no such device: phone",
        ),
        (
            "print('latency: fast')",
            "latency command printed no latency in ms on its last stdout line (got 'latency: fast')",
        ),
        ("print('nan')", "printed no latency in ms"),
        ("import time; time.sleep(30)", "latency command timed out after 1 s"),
    ],
)
def test_a_failing_command_is_one_line(tmp_path, body, message):
    config = LatencyConfig("command", script(tmp_path, body), timeout_s=1)
    with pytest.raises(LatencyError) as info:
        measure_with(conv(), SMALL, config, clock=Clock(repeats=1, rounds=1))
    assert message in str(info.value) and "\n" not in str(info.value)


@pytest.mark.parametrize(
    "backend,command,message",
    [
        ("command", None, "--latency-backend command needs --latency-command"),
        ("command", "run {model}", "unknown placeholder {model}"),
        ("command", "run --input {shape}", "must pass the model file as {onnx}"),
        ("torch", "run {onnx}", "--latency-command needs --latency-backend command"),
        ("tvm", None, "--latency-backend: must be one of torch, onnxruntime, command"),
    ],
)
def test_bad_settings_are_refused(backend, command, message):
    with pytest.raises(RoadmapError, match=message.replace("{", r"\{").replace("}", r"\}")):
        LatencyConfig(backend, command)


def test_placeholders_are_filled_inside_each_argument():
    args = command_args("adb shell 'bench {onnx}' --shape={shape} -t {threads}", "/tmp/a b.onnx", (1, 3, 8, 8), 2)
    assert args == ["adb", "shell", "bench /tmp/a b.onnx", "--shape=1x3x8x8", "-t", "2"]
    assert LatencyConfig.from_options(None, "x {onnx}", None).backend == "command"


# --------------------------------------------------------------------------- roadmap eval


def eval_json(capsys, *extra: str) -> tuple[int, dict]:
    code = main(["eval", "nafnet", "--fidelity", "smoke", "--json", *extra])
    out, _err = capsys.readouterr()
    return code, json.loads(out)


def test_eval_onnxruntime_backend_gives_a_latency(capsys):
    code, r = eval_json(capsys, "--latency-backend", "onnxruntime")
    assert code == 0 and r["status"] == "ok" and r["latency_ms"] > 0
    assert r["latency_backend"] == "onnxruntime" and r["latency_rounds"] >= 3


def test_eval_command_backend_gives_a_latency(capsys):
    code, r = eval_json(capsys, "--latency-backend", "command", "--latency-command", ORT_COMMAND)
    assert code == 0 and r["status"] == "ok" and r["latency_ms"] > 0 and r["latency_backend"] == "command"


def test_eval_failing_command_fails_with_its_stderr_line(capsys, tmp_path):
    command = script(tmp_path, "sys.stderr.write('device offline\\n'); sys.exit(1)")
    code, r = eval_json(capsys, "--latency-command", command)
    assert code == 1 and r["status"] == "failed" and r["psnr"] is None
    assert r["reason"] == "latency command exited with status 1: device offline"


def test_eval_bad_latency_options_are_usage_errors(capsys):
    assert main(["eval", "nafnet", "--fidelity", "smoke", "--latency-backend", "command"]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "--latency-backend command needs --latency-command" in err


# --------------------------------------------------------------------------- roadmap search


def test_search_failing_command_is_a_failed_trial_and_the_study_goes_on(tmp_path, capsys):
    marker = tmp_path / "failed-once"
    command = script(
        tmp_path,
        (
            f"import pathlib, runpy\nm = pathlib.Path({str(marker)!r})\n"
            "if not m.exists():\n    m.touch(); sys.stderr.write('phone not reachable\\n'); sys.exit(3)\n"
            f"sys.argv = [sys.argv[0], sys.argv[1], '--input', sys.argv[2], '--repeats', '2']\n"
            f"runpy.run_path({str(REPO / 'examples' / 'ort_latency.py')!r}, run_name='__main__')\n"
        ),
    )
    study = tmp_path / "study"
    code = main(
        [
            "search",
            "--study",
            str(study),
            "--backend",
            "local",
            "--budget",
            "2",
            "--fidelity",
            "smoke",
            "--quiet",
            "--json",
            "--latency-command",
            command,
            "--latency-timeout",
            "60",
        ]
    )
    _out, _err = capsys.readouterr()
    from roadmap.search.settings_file import read_settings
    from roadmap.search.study import open_study

    trials = {t.number: t for t in open_study(study).get_trials(deepcopy=False)}
    assert trials[0].state.name == "FAIL"
    assert trials[0].user_attrs["failure_reason"] == (
        "measurement failed: LatencyError: latency command exited with status 3: phone not reachable"
    )
    assert code == 0 and trials[1].state.name == "COMPLETE"  # the study went on
    assert trials[1].user_attrs["metrics"]["latency_ms"] > 0
    stored = read_settings(study)
    assert stored["latency_backend"] == "command" and stored["latency_command"] == command


def test_search_on_onnxruntime_runs_and_resumes(tmp_path, capsys):
    from roadmap.search.settings_file import read_settings
    from roadmap.search.study import open_study

    study = tmp_path / "study"
    args = [
        "search",
        "--study",
        str(study),
        "--backend",
        "local",
        "--fidelity",
        "smoke",
        "--quiet",
        "--latency-backend",
        "onnxruntime",
    ]
    assert main([*args, "--budget", "2"]) == 0

    def complete():
        return [t for t in open_study(study).get_trials(deepcopy=False) if t.state.name == "COMPLETE"]

    first = {t.number: t.user_attrs["metrics"]["latency_ms"] for t in complete()}
    assert len(first) == 2 + 3  # the budget's candidates and the three reference points, trained besides it
    assert main([*args, "--budget", "3"]) == 0, capsys.readouterr().err  # the same command, a larger budget
    trials = complete()
    assert len(trials) == 3 + 3
    assert {t.number: t.user_attrs["metrics"]["latency_ms"] for t in trials[:5]} == first  # kept, not re-measured
    assert all(t.user_attrs["metrics"]["latency_ms"] > 0 for t in trials)
    assert read_settings(study)["latency_backend"] == "onnxruntime"


def test_search_resume_with_another_backend_is_refused(tmp_path, capsys):
    from roadmap.search import resolve_settings, run_search
    from roadmap.search.testing import FakeEvaluator

    study = tmp_path / "study"
    run_search(resolve_settings({"backend": "local", "budget": 1, "fidelity": "smoke"}, study, None), FakeEvaluator())
    code = main(["search", "--study", str(study), "--backend", "local", "--quiet", "--latency-backend", "onnxruntime"])
    err = capsys.readouterr().err
    assert code == 2 and err.count("\n") == 1
    assert 'latency_backend: study has "torch", command gives "onnxruntime"' in err


def test_a_study_from_before_latency_backends_resumes_as_torch(tmp_path):
    from roadmap.search.settings_file import check_settings

    old = {"seed": "nafnet", "device": "cpu"}
    check_settings(tmp_path, old, {**old, "latency_backend": "torch", "latency_command": None})
    with pytest.raises(RoadmapError, match="latency_backend"):
        check_settings(tmp_path, old, {**old, "latency_backend": "onnxruntime", "latency_command": None})
