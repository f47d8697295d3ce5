"""The plan of a search's trainings (`RungPlan`): its rungs, their steps, how many trainings
each phase plans and has left, for the screening (``default``), chain and one-rung fidelities;
and a finished search's trainings are exactly the plan's."""

from dataclasses import replace

from roadmap.evaluation.fidelity import get_fidelity, load_fidelity
from roadmap.search.rung_plan import MAX_CONFIRMATIONS, RungPlan
from tests.search.helpers import evaluations, search, settings


def by_name(phases):
    return {p.name: p for p in phases}


def test_the_default_plan_screens_then_promotes_a_quarter_and_confirms_the_knee():
    plan = RungPlan(get_fidelity("default"), budget=50, references=3, concurrency=2)
    assert plan.screening and plan.top_rung == 1
    assert [plan.iterations(0), plan.iterations(1)] == [150, 1350]  # a screen; the chain from scratch
    assert plan.counts() == [53, 17]  # 50 + 3 references; ceil(53 / 4) + 3 references
    phases = plan.phases()
    assert [(p.name, p.rung, p.iterations, p.total) for p in phases] == [
        ("base", 1, 1350, 2),  # the seed, two random seeds
        ("rung 0", 0, 150, 53),
        ("rung 1", 1, 1350, 16),  # the seed's own is the base's
        ("replicate", 1, 1350, 2),  # the knee and its runner-up, side by side
    ]
    assert [p.pool_rung for p in phases] == [1, None, 0, 1]


def test_the_default_plan_counts_what_is_done_running_and_chosen():
    plan = RungPlan(get_fidelity("default"), budget=50, references=3, concurrency=2, random_seed=0)
    done = {(0, 1, 0), (0, 1, 1)} | {(n, 0, 0) for n in range(53)} | {(n, 1, 0) for n in (1, 2, 3)}
    promoted = {1: [0, 1, 2, 3, 7, 9, 11, 12, 20, 30, 31, 32, 40, 41, 50]}  # 15 chosen, the seed among them
    phases = by_name(plan.phases(done, seed_number=0, promoted=promoted, running={(7, 1, 0), (9, 1, 0)}))
    assert (phases["base"].remaining, phases["rung 0"].remaining) == (0, 0)
    rung1 = phases["rung 1"]
    assert (rung1.total, rung1.done, rung1.running, rung1.remaining) == (14, 3, 2, 9)
    assert rung1.known == (11, 12, 20, 30, 31, 32, 40, 41, 50)  # the chosen left, the seed's excluded
    assert phases["replicate"].remaining == 2


def test_a_chain_plan_continues_each_rung_and_replicates_the_seed_at_the_top(rungs3):
    fidelity = load_fidelity(rungs3)  # rungs 10/30/90; eta 4, the default's
    plan = RungPlan(fidelity, budget=9, references=3, concurrency=1)
    assert not plan.screening and plan.top_rung == 2 and fidelity.eta == 4
    assert plan.counts() == [12, 6, 5]  # 9 + 3; ceil(12 / 4) + 3; min(6, ceil(6 / 4) + 3)
    assert plan.counts({1: [0, 1, 2, 5]}) == [12, 4, 4]  # a decided promotion is exact
    assert [(p.name, p.iterations, p.total) for p in plan.phases()] == [
        ("rung 0", 10, 12),
        ("rung 1", 20, 6),
        ("rung 2", 60, 5),
        ("replicate", 90, 2),  # the seed's replicate and one confirmation, the whole chain from scratch
    ]
    replicate = plan.phases(seed_number=0)[-1]
    assert replicate.known == (0,)  # the seed's replicate is known before the knee


def test_a_one_rung_plan_and_the_confirmations_a_wider_batch_allows():
    plan = RungPlan(get_fidelity("smoke"), budget=8, references=3, concurrency=1)
    assert [(p.name, p.iterations, p.total) for p in plan.phases()] == [("rung 0", 3, 11), ("replicate", 3, 2)]
    assert RungPlan(get_fidelity("default"), 8, concurrency=1).confirmations() == 1
    assert RungPlan(get_fidelity("default"), 8, concurrency=3).confirmations() == MAX_CONFIRMATIONS
    # more free slots than MAX_CONFIRMATIONS: one per slot, at most the top rung's 6 candidates but the seed
    assert RungPlan(get_fidelity("default"), 8, concurrency=8).confirmations() == 5
    assert RungPlan(get_fidelity("default"), 50, concurrency=8).confirmations() == 8
    assert RungPlan(get_fidelity("smoke"), 8, concurrency=3).confirmations() == 2  # the seed's replicate takes a slot


def test_the_replicated_plan_trains_every_top_rung_candidate_with_two_random_seeds():
    replicated = get_fidelity("replicated")
    assert replicated.top_seeds == 2 and replace(replicated, name="default", top_seeds=1) == get_fidelity("default")
    plan = RungPlan(replicated, budget=50, references=3, concurrency=2)
    assert plan.replicates_all and plan.describe().endswith(", each with 2 random seeds")
    assert plan.counts() == [53, 17] and plan.confirmations() == 16  # all but the seed, whose base run is its second
    assert by_name(plan.phases())["replicate"].total == 16
    promoted = {1: list(range(12))}  # a decided promotion: 12 at the top rung, the seed among them
    assert plan.confirmations(promoted) == 11
    assert by_name(plan.phases(seed_number=0, promoted=promoted))["replicate"].total == 11
    chain = RungPlan(replace(get_fidelity("smoke"), top_seeds=2), budget=8, references=3, concurrency=1)
    assert by_name(chain.phases())["replicate"].total == 11  # no base run: the seed's replicate too


def test_every_training_of_a_finished_search_is_in_the_plan(tmp_path):
    study = tmp_path / "s"
    search(study, budget=8, fidelity="default")
    evals = evaluations(study)
    s = settings(study)
    seed_number = 0  # the seed is queued first
    promoted = {1: sorted(n for (n, r, rs) in evals if r == 1 and rs == s.random_seed)}
    phases = by_name(RungPlan.of(s, references=3, concurrency=1).phases(evals, seed_number, promoted))
    assert sum(p.done for p in phases.values()) == len(evals)  # each training in exactly one phase
    assert [phases[n].remaining for n in ("base", "rung 0", "rung 1")] == [0, 0, 0]
    assert phases["rung 0"].total == 11 and phases["replicate"].done >= 1


def test_the_inherited_plan_declares_the_front_on_the_screens():
    plan = RungPlan(get_fidelity("inherited"), budget=50, references=3, concurrency=2)
    assert plan.screening and plan.top_rung == 0 and not plan.base_is_top and plan.retimes_top
    assert plan.counts() == [53]  # nothing promoted
    assert [(p.name, p.rung, p.iterations, p.total) for p in plan.phases()] == [
        ("base", 1, 1350, 2),  # the seed from scratch, two random seeds: what the screens start from
        ("rung 0", 0, 450, 53),  # every candidate and the seed screened: the top rung
        ("replicate", 0, 450, 2),  # the seed's own replicate, then one confirmation beside it
    ]
    assert plan.confirmations() == 1 and "front on the screens" in plan.describe()
    done = {(0, 1, 0), (0, 1, 1)} | {(n, 0, 0) for n in range(53)} | {(0, 0, 1)}
    replicate = by_name(plan.phases(done, seed_number=0))["replicate"]
    assert (replicate.done, replicate.remaining) == (1, 1)


def test_a_search_without_fidelity_trains_at_its_tasks_calibrated_preset(tmp_path):
    from roadmap.evaluation.fidelity import default_preset

    assert default_preset("sr") == "inherited" and default_preset("denoise") == default_preset("jpeg") == "default"
    assert default_preset("deblur") == "replicated"
    assert settings(tmp_path / "a", seed="nafnet", task="sr", scale=2).fidelity == get_fidelity("inherited")
    assert settings(tmp_path / "b", seed="nafnet", task="deblur").fidelity == get_fidelity("replicated")
    assert settings(tmp_path / "c", seed="nafnet", task="sr", scale=2, fidelity="default").fidelity.name == "default"


def test_the_plan_says_what_each_rung_trains_and_which_weights_it_keeps(rungs3):
    """The screen-or-chain answers the trainings, the jobs, the evaluator and the review ask."""
    screen = RungPlan.of_fidelity(get_fidelity("default"), random_seed=0)
    assert screen.is_screen(0) and not screen.is_screen(1) and not screen.front_on_screens
    assert (screen.chain(0), screen.chain(1), screen.chain(1, resume=True)) == (None, (0, 2), (0, 2))
    assert screen.job_iterations(None) == (150, 150) and screen.job_iterations((0, 2)) == (1350, 1350)
    assert screen.trained_iterations(screen.top_rung) == 1350 and not screen.keeps_weights(0)
    assert (screen.base_seed(1), screen.keeps_base(0), screen.keeps_base(1)) == (0, True, False)  # the main one's

    inherited = RungPlan.of_fidelity(get_fidelity("inherited"), random_seed=0)
    assert inherited.front_on_screens and inherited.trained_iterations(0) == 1350 + 450  # the base's, then the screen
    assert (inherited.base_seed(1), inherited.keeps_base(1)) == (1, True)  # each random seed its own base run

    chain = RungPlan.of_fidelity(load_fidelity(rungs3))  # rungs 10/30/90
    assert not chain.is_screen(0) and chain.chain(0) == (0, 0)
    assert (chain.chain(2), chain.chain(2, resume=True)) == ((0, 2), (2, 2))  # from scratch, or continued
    assert (chain.job_iterations((0, 2)), chain.job_iterations((2, 2))) == ((90, 90), (60, 90))
    assert [chain.keeps_weights(r) for r in range(3)] == [True, True, False]  # the top rung's go nowhere
    assert [chain.trained_iterations(r) for r in range(3)] == [10, 30, 90]
