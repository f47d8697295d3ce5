import json
from dataclasses import replace

import pytest

import roadmap
from roadmap.cli import main
from roadmap.evaluation import RESULT_KEYS, evaluate_spec


@pytest.fixture(scope="module")
def w16():
    return roadmap.get_seed("nafnet", "w16")


def test_same_seed_same_psnr_other_seed_differs(w16, embedded, smoke):
    runs = [evaluate_spec(w16, smoke, embedded, random_seed=s, measure=False) for s in (0, 0, 1)]
    assert all(r["status"] == "ok" for r in runs)
    assert runs[0]["psnr"] == runs[1]["psnr"]
    assert runs[0]["psnr"] != runs[2]["psnr"]
    assert tuple(runs[0]) == RESULT_KEYS


def test_absurd_lr_diverges_with_the_known_numbers(w16, embedded, smoke):
    r = evaluate_spec(
        w16, replace(smoke, lr=1e6, min_lr=1e6, iterations=5), embedded, latency_hw=(32, 32), latency_repeats=2
    )
    assert r["status"] == "diverged" and "reason" in r
    assert r["psnr"] is None and r["params"] > 0 and r["macs"] > 0
    assert r["latency_ms"] > 0 and r["peak_memory_measured_bytes"] > 0


def test_a_spec_that_cannot_run_fails_with_a_reason(embedded, smoke):
    raw = roadmap.get_seed("pmrid", "raw")  # 4 input channels, the data is RGB
    r = evaluate_spec(raw, smoke, embedded, measure=False)
    assert r["status"] == "failed" and "4 input channels" in r["reason"]


def test_cli_bad_data_folder_exits_2_with_one_line(tmp_path, capsys):
    code = main(["eval", "nafnet", "--fidelity", "smoke", "--data", str(tmp_path / "missing")])
    err = capsys.readouterr().err
    assert code == 2
    assert err == f"roadmap eval: error: --data {tmp_path / 'missing'}: no such folder\n"


def test_cli_json(capsys):
    code = main(["eval", "nafnet", "--variant", "w16", "--fidelity", "smoke", "--json", "--no-measure"])
    out, err = capsys.readouterr()
    assert code == 0, err
    result = json.loads(out)
    assert result["status"] == "ok" and result["fidelity"] == "smoke" and set(result) == set(RESULT_KEYS)
    assert err == ""  # --json: no progress lines


def test_measure_spec_keys_and_global_state_untouched(w16):
    import torch

    from roadmap.evaluation import measure_spec

    state, threads = torch.random.get_rng_state(), torch.get_num_threads()
    out = measure_spec(w16, latency_hw=(32, 32), latency_repeats=2)
    assert set(out) == {
        "latency_ms",
        "latency_cv",
        "latency_rounds",
        "latency_backend",
        "peak_memory_measured_bytes",
        "peak_memory_predicted_bytes",
        "params",
        "macs",
    }
    assert out["peak_memory_measured_bytes"] > 0 and out["latency_ms"] > 0
    assert torch.equal(torch.random.get_rng_state(), state) and torch.get_num_threads() == threads


def test_one_deep_supervised_training_scores_every_depth(embedded, smoke):
    seed = roadmap.get_seed("unetpp", "w16")
    r = evaluate_spec(seed, smoke, embedded, measure=False)
    assert r["status"] == "ok" and sorted(r["psnr_by_depth"]) == [1, 2, 3] and sorted(r["ssim_by_depth"]) == [1, 2, 3]
    assert r["psnr"] == r["psnr_by_depth"][3] and r["ssim"] == r["ssim_by_depth"][3]  # its own depth
    assert len(set(r["psnr_by_depth"].values())) == 3  # three heads, three outputs
    plain = evaluate_spec(roadmap.get_seed("unet", "w16"), smoke, embedded, measure=False)
    assert plain["psnr_by_depth"] is None and plain["ssim_by_depth"] is None


def test_latencies_side_by_side_one_per_spec_bigger_is_slower():
    import roadmap
    from roadmap.evaluation import measure_latencies

    small, big = roadmap.get_seed("nafnet", "w16"), roadmap.get_seed("nafnet", "w32")
    out = measure_latencies([small, big], latency_hw=(64, 64), latency_repeats=6)
    assert [set(o) for o in out] == [{"latency_ms", "latency_cv", "latency_rounds", "latency_backend"}] * 2
    assert 0 < out[0]["latency_ms"] < out[1]["latency_ms"]  # 29 M params against 0.29 M
    assert {o["latency_backend"] for o in out} == {"torch"}
