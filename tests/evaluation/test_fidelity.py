import pytest

from roadmap.errors import RoadmapError
from roadmap.evaluation.fidelity import PRESETS, Fidelity, get_fidelity, load_fidelity


def test_presets_grow_in_cost():
    cost = [
        PRESETS[n].iterations * PRESETS[n].batch * PRESETS[n].crop ** 2 for n in ("smoke", "quick", "default", "long")
    ]
    assert cost == sorted(cost) and len(set(cost)) == 4
    assert PRESETS["default"].betas == (0.9, 0.9) and PRESETS["default"].weight_decay == 0


def test_round_trip_and_rungs():
    f = get_fidelity("default")
    assert Fidelity.from_dict(f.to_dict()) == f
    assert f.rung_iterations == (150, 450, 1350) and f.iterations == 1350
    assert f.screen_iterations == 150 and f.eta == 4 and f.search_top_rung == 1
    assert f.screen_fidelity().iterations == 150 and f.screen_fidelity().rungs == ()
    assert [f.rung_fidelity(k).iterations for k in range(3)] == [150, 300, 900]
    assert f.rung_fidelity(2).rungs == ()
    with pytest.raises(RoadmapError, match=r"fidelity.rungs: must end at iterations"):
        Fidelity(iterations=100, rungs=(10, 50))
    with pytest.raises(RoadmapError, match=r"fidelity.rungs: must be increasing"):
        Fidelity(iterations=100, rungs=(50, 10, 100))


def test_yaml_number_forms_and_bad_numbers(tmp_path):
    path = tmp_path / "f.yaml"
    path.write_text("lr: 1.0e6\nbetas: ['0.9', 0.99]\niterations: 20\n")  # PyYAML reads 1.0e6 as a string
    f = load_fidelity(str(path))
    assert f.lr == 1e6 and f.betas == (0.9, 0.99) and f.iterations == 20 and f.rungs == ()
    for field, value in (("lr", "fast"), ("betas", 0.9), ("min_lr", float("nan")), ("grad_clip", "x")):
        with pytest.raises(RoadmapError, match=f"fidelity.{field}: must be"):
            Fidelity(**{field: value})


@pytest.mark.parametrize(
    "field, value", [("iterations", 0), ("loss", "mse"), ("lr", -1.0), ("betas", (0.9, 1.5)), ("threads", 0)]
)
def test_bad_fields_name_the_field(field, value):
    with pytest.raises(RoadmapError, match=f"fidelity.{field}"):
        Fidelity(**{field: value})


def test_unknown_preset_lists_the_choices():
    with pytest.raises(RoadmapError, match="smoke, quick, default, long"):
        get_fidelity("fast")


def test_screens_on_top_need_screens_and_move_the_front_to_rung_0():
    f = get_fidelity("inherited")
    assert (f.screens, f.front_on_screens, f.search_top_rung, f.base_rung) == (True, True, 0, 1)
    assert f.screen_iterations == 450 and f.rung_iterations == (150, 450, 1350)
    assert Fidelity.from_dict(f.to_dict()) == f
    # the trainings a search runs of it: the screen, and each rung of the seed's base run
    assert (f.screen_fidelity().iterations, f.screen_fidelity().search_top_rung) == (450, 0)
    assert [f.rung_fidelity(k).iterations for k in range(3)] == [150, 300, 900]
    with pytest.raises(RoadmapError, match=r"fidelity.front_on_screens: needs screen_iterations > 0"):
        Fidelity(iterations=100, front_on_screens=True)
    with pytest.raises(RoadmapError, match=r"fidelity.front_on_screens: must be true or false"):
        Fidelity(screen_iterations=10, front_on_screens="yes")
    old = {k: v for k, v in get_fidelity("default").to_dict().items() if k != "front_on_screens"}
    assert Fidelity.from_dict(old) == get_fidelity("default")  # a study stored before the field


def test_top_seeds_is_one_or_two_and_stored_only_when_two(tmp_path):
    default, replicated = get_fidelity("default"), get_fidelity("replicated")
    assert "top_seeds" not in default.to_dict()  # a study from before the field stores the same fidelity
    assert replicated.to_dict()["top_seeds"] == 2 and Fidelity.from_dict(replicated.to_dict()) == replicated
    assert replicated.rung_fidelity(2).top_seeds == replicated.screen_fidelity().top_seeds == 1  # one training
    for value in (0, 3, True, "2"):
        with pytest.raises(RoadmapError, match=r"fidelity.top_seeds: must be 1 or 2"):
            Fidelity(top_seeds=value)
    path = tmp_path / "f.yaml"
    path.write_text("top_seeds: 2\n")  # the default preset's other fields
    assert load_fidelity(str(path)).top_seeds == 2
