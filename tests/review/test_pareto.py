"""Non-dominated sets, hypervolume and knee on plain arrays (roadmap.pareto)."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from hypothesis.extra.numpy import arrays

from roadmap import pareto


def brute_front(loss):
    n = len(loss)
    return np.array(
        [
            not any(np.all(loss[j] <= loss[i]) and np.any(loss[j] < loss[i]) for j in range(n) if j != i)
            for i in range(n)
        ]
    )


def test_to_loss_negates_maximised_and_nan_is_worst():
    loss = pareto.to_loss([[30.0, 5.0, 100.0], [float("nan"), 4.0, 90.0]], [True, False, False])
    assert loss[0].tolist() == [-30.0, 5.0, 100.0]
    assert loss[1, 0] == np.inf


@pytest.mark.parametrize("seed", range(5))
def test_non_dominated_matches_brute_force(seed):
    rng = np.random.default_rng(seed)
    loss = rng.integers(0, 6, size=(40, 3)).astype(float)  # many ties and duplicates
    expected = brute_front(loss)
    assert pareto.is_non_dominated(loss).tolist() == expected.tolist()
    assert pareto.non_dominated_indices(loss).tolist() == np.flatnonzero(expected).tolist()


def brute_ranks(loss):
    """NSGA-II's peeling, by the brute-force front."""
    ranks, rank = np.full(len(loss), -1), 0
    while np.any(ranks < 0):
        left = np.flatnonzero(ranks < 0)
        ranks[left[brute_front(loss[left])]] = rank
        rank += 1
    return ranks


@st.composite
def loss_arrays(draw):
    """1 to 4 objectives, up to 40 rows of few distinct values (ties and duplicates), inf included."""
    k, n = draw(st.integers(1, 4)), draw(st.integers(0, 40))
    return draw(arrays(float, (n, k), elements=st.sampled_from([0.0, 0.5, 1.0, 2.0, np.inf])))


@settings(max_examples=300, deadline=None)
@given(loss_arrays())
def test_non_dominated_sort_matches_brute_force_on_ties_and_duplicates(loss):
    assert pareto.is_non_dominated(loss).tolist() == brute_front(loss).tolist()
    assert pareto.non_dominated_ranks(loss).tolist() == brute_ranks(loss).tolist()


@pytest.mark.parametrize("n", [127, 128, 129, 300])
@pytest.mark.parametrize("k", [2, 3])
def test_non_dominated_sort_across_blocks(n, k):
    rng = np.random.default_rng(n * k)
    for loss in (rng.integers(0, 6, size=(n, k)).astype(float), rng.random((n, k))):  # ties, then none
        assert pareto.is_non_dominated(loss).tolist() == brute_front(loss).tolist()
        assert pareto.non_dominated_ranks(loss).tolist() == brute_ranks(loss).tolist()


def test_a_nan_loss_is_refused():
    with pytest.raises(ValueError, match="without NaN"):
        pareto.is_non_dominated(np.array([[1.0, np.nan]]))


def test_non_dominated_keeps_duplicates_and_handles_empty():
    loss = np.array([[1.0, 1.0, 1.0], [1.0, 1.0, 1.0], [2.0, 2.0, 2.0]])
    assert pareto.non_dominated_indices(loss).tolist() == [0, 1]
    assert pareto.is_non_dominated(np.empty((0, 3))).shape == (0,)


def test_hypervolume_single_point_and_box():
    # one point at the ideal -> whole box
    loss = np.array([[0.0, 0.0, 0.0]])
    hv = pareto.hypervolume(loss, np.array([1.0, 2.0, 4.0]))
    assert hv.value == pytest.approx(1.0)
    # two points, hand computed in normalised space: ideal (0,0,0), ref (1,1,1)
    loss = np.array([[0.0, 0.5, 0.5], [0.5, 0.0, 0.0]])
    hv = pareto.hypervolume(loss, np.ones(3))
    # union of [0,1]x[.5,1]x[.5,1] (0.25) and [.5,1]x[0,1]x[0,1] (0.5) minus overlap .5*.5*.5
    assert hv.value == pytest.approx(0.25 + 0.5 - 0.125)
    assert hv.reference_point.tolist() == [1.0, 1.0, 1.0]


def brute_volume(points, ref):
    """Dominated volume by inclusion-exclusion over every subset of points: the union of the
    boxes [p, ref] is the alternating sum of the boxes of the subsets' componentwise maxima."""
    from itertools import combinations

    points = [p for p in points if np.all(p < ref)]
    volume = 0.0
    for k in range(1, len(points) + 1):
        for subset in combinations(points, k):
            corner = np.max(subset, axis=0)
            volume += (-1) ** (k + 1) * float(np.prod(np.clip(ref - corner, 0, None)))
    return volume


@pytest.mark.parametrize("seed,dims", [(0, 2), (1, 3), (2, 3), (3, 4)])
def test_dominated_volume_matches_brute_force(seed, dims):
    rng = np.random.default_rng(seed)
    points = rng.integers(0, 5, size=(9, dims)).astype(float) / 4  # ties and duplicates too
    ref = np.ones(dims) * 1.1
    assert pareto.dominated_volume(points, ref) == pytest.approx(brute_volume(points, ref), abs=1e-12)


@pytest.mark.parametrize("seed", range(3))
def test_hypervolume_is_the_normalised_dominated_volume(seed):
    rng = np.random.default_rng(seed)
    loss = rng.random((10, 3))
    ref = pareto.reference_point(loss)
    ideal = pareto.ideal_point(loss)
    norm = (loss - ideal) / (ref - ideal)
    assert pareto.hypervolume(loss).value == pytest.approx(brute_volume(norm, np.ones(3)), rel=1e-9)


def test_dominated_volume_ignores_points_outside_the_box():
    ref = np.array([1.0, 1.0, 1.0])
    inside = np.array([[0.5, 0.5, 0.5]])
    outside = np.array([[0.2, 1.5, 0.2], [np.inf, 0.0, 0.0]])
    assert pareto.dominated_volume(np.vstack([inside, outside]), ref) == pytest.approx(0.125)
    assert pareto.dominated_volume(outside, ref) == 0.0


def test_default_reference_point_is_nadir_plus_ten_percent():
    loss = np.array([[-30.0, 10.0, 100.0], [-28.0, 5.0, 100.0]])
    ref = pareto.reference_point(loss)
    # psnr: worst -28, range 2 -> -27.8; latency: worst 10, range 5 -> 10.5; memory ties -> 110
    assert ref.tolist() == pytest.approx([-27.8, 10.5, 110.0])
    hv = pareto.hypervolume(loss)
    assert 0 < hv.value < 1


def test_hypervolume_history_monotone_and_ends_at_total():
    rng = np.random.default_rng(1)
    loss = rng.random((20, 3))
    hist = pareto.hypervolume_history(loss)
    assert np.all(np.diff(hist) >= -1e-12)
    assert hist[-1] == pytest.approx(pareto.hypervolume(loss).value)
    # every prefix matches a direct computation in the same box
    ref, ideal = pareto.reference_point(loss), pareto.ideal_point(loss)
    for i in (0, 4, 11):
        assert hist[i] == pytest.approx(pareto.hypervolume(loss[: i + 1], ref, ideal=ideal).value)


def test_knee_is_closest_to_ideal_after_normalising_the_front():
    loss = np.array(
        [
            [0.0, 10.0, 10.0],  # best in objective 0 only
            [10.0, 0.0, 10.0],  # best in objective 1 only
            [10.0, 10.0, 0.0],  # best in objective 2 only
            [3.0, 3.0, 3.0],  # balanced: the knee
            [4.0, 4.0, 4.0],  # dominated by the knee
        ]
    )
    assert pareto.knee_index(loss) == 3
    # scale does not matter: multiply one objective by 1e6
    scaled = loss * np.array([1.0, 1e6, 1.0])
    assert pareto.knee_index(scaled) == 3


def test_knee_ignores_flat_objective_and_single_point():
    assert pareto.knee_index(np.array([[1.0, 2.0, 3.0]])) == 0
    loss = np.array([[0.0, 1.0, 5.0], [1.0, 0.0, 5.0], [0.4, 0.4, 5.0]])
    assert pareto.knee_index(loss) == 2
