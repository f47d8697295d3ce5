import pytest

from roadmap.errors import RoadmapError
from roadmap.evaluation.fidelity import PRESETS, Fidelity, get_fidelity


def test_presets_grow_in_cost():
    cost = [PRESETS[n].iterations * PRESETS[n].batch * PRESETS[n].crop**2
            for n in ("smoke", "quick", "default", "long")]
    assert cost == sorted(cost) and len(set(cost)) == 4
    assert PRESETS["default"].betas == (0.9, 0.9) and PRESETS["default"].weight_decay == 0


def test_round_trip_and_scaled():
    f = get_fidelity("default")
    assert Fidelity.from_dict(f.to_dict()) == f
    assert f.scaled(10).iterations == 10 * f.iterations


@pytest.mark.parametrize("field, value", [("iterations", 0), ("loss", "mse"), ("lr", -1.0),
                                          ("betas", (0.9, 1.5)), ("threads", 0)])
def test_bad_fields_name_the_field(field, value):
    with pytest.raises(RoadmapError, match=f"fidelity.{field}"):
        Fidelity(**{field: value})


def test_unknown_preset_lists_the_choices():
    with pytest.raises(RoadmapError, match="smoke, quick, default, long"):
        get_fidelity("fast")
