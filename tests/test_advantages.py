"""Advantage estimators, step filters and grouping helpers: hand-computed cases and invariances."""

from __future__ import annotations

import numpy as np
import pytest

from envgym.trainers.algorithms import (
    dr_grpo_advantages,
    dual_level_advantages,
    entropy_step_filter,
    gae_advantages,
    gigpo_advantages,
    grpo_advantages,
    hierarchical_advantages,
    hierarchical_token_advantages,
    judge_step_filter,
    turn_level_advantages,
)
from envgym.trainers.algorithms.grouping import (
    TrajectoryLayout,
    combine_ids,
    dense_ids,
    group_stats,
    reverse_linear_scan,
)

EPS = 1e-6


# ----------------------------------------------------------------------------- grouping helpers


def test_dense_ids_and_combine_ids_identify_equal_tuples():
    ids = np.array([10**15, 7, 10**15, -3, 7])
    inv, n = dense_ids(ids)
    assert n == 3  # arbitrary ids go through np.unique: exactly dense
    assert inv[0] == inv[2] and inv[1] == inv[4] and len({inv[0], inv[1], inv[3]}) == 3
    key, n_key = combine_ids(np.array([0, 0, 1, 1, 0]), np.array([5, 6, 5, 5, 5]))
    assert key.max() < n_key  # n is an upper bound on the indices (unused ones allowed)
    assert len(set(key.tolist())) == 3
    assert key[0] == key[4] and key[2] == key[3]
    assert len({key[0], key[1], key[2]}) == 3


def test_group_stats_matches_numpy_per_group():
    rng = np.random.default_rng(0)
    vals = rng.normal(size=200)
    ids = rng.integers(0, 9, size=200) * 1000 + 17  # sparse ids -> np.unique path
    inv, n = dense_ids(ids)
    for unbiased in (False, True):
        st = group_stats(vals, inv, n, unbiased=unbiased)
        for g in np.unique(ids):
            sel = ids == g
            np.testing.assert_allclose(st.mean[sel], vals[sel].mean())
            np.testing.assert_allclose(st.std[sel], vals[sel].std(ddof=1 if unbiased else 0))
            assert np.all(st.count[sel] == sel.sum())


def _loop_reverse_scan(x, c, traj, turn):
    out = np.zeros(len(x))
    for t in np.unique(traj):
        idx = np.flatnonzero(traj == t)
        idx = idx[np.argsort(turn[idx])]
        acc = 0.0
        for j in idx[::-1]:
            acc = x[j] + c[j] * acc
            out[j] = acc
    return out


def test_reverse_linear_scan_matches_loop_on_long_shuffled_chains():
    rng = np.random.default_rng(1)
    lengths = rng.integers(1, 300, size=12)
    traj = np.repeat(np.arange(12) * 31 + 5, lengths)
    turn = np.concatenate([np.arange(n) * 2 for n in lengths])  # gaps in the turn index are fine
    x = rng.normal(size=traj.size)
    c = rng.uniform(0.5, 1.0, size=traj.size)
    perm = rng.permutation(traj.size)
    got = reverse_linear_scan(x[perm], c[perm], traj[perm], turn[perm])
    expected = _loop_reverse_scan(x, c, traj, turn)[perm]
    np.testing.assert_allclose(got, expected, rtol=1e-10, atol=1e-10)


def test_layout_rejects_duplicate_turns_and_detects_unsorted_rows():
    with pytest.raises(ValueError, match="duplicate"):
        TrajectoryLayout.build(np.array([1, 2, 1]), np.array([0, 0, 0]))
    sorted_layout = TrajectoryLayout.build(np.array([4, 4, 2, 2]), np.array([0, 1, 0, 1]))
    assert sorted_layout.order is None  # contiguous and increasing: no sort needed
    interleaved = TrajectoryLayout.build(np.array([4, 2, 4, 2]), np.array([0, 0, 1, 1]))
    assert interleaved.order is not None
    assert interleaved.max_len == 2


# ----------------------------------------------------------------------------- GRPO / Dr.GRPO


def _grpo_case():
    # group 0: trajectories 10 (R=1), 11 (R=0), 12 (R=2); group 1: trajectory 20 alone (R=5).
    rows = [  # (group, traj, reward)
        (0, 10, 0.0), (0, 10, 1.0),
        (0, 11, 0.0), (0, 11, 0.0), (0, 11, 0.0),
        (0, 12, 2.0),
        (1, 20, 3.0), (1, 20, 2.0),
    ]
    g, t, r = (np.array(c) for c in zip(*rows))
    return g, t, r.astype(float)


def test_grpo_hand_computed_with_unbiased_and_population_std():
    g, t, r = _grpo_case()
    perm = np.array([5, 0, 7, 3, 1, 6, 2, 4])  # any row order
    res = grpo_advantages(r[perm], g[perm], t[perm])
    # mean 1, unbiased std sqrt((0+1+1)/2) = 1
    expected_by_traj = {10: 0.0, 11: -1.0 / (1 + EPS), 12: 1.0 / (1 + EPS), 20: 0.0}
    np.testing.assert_allclose(res.advantages, [expected_by_traj[x] for x in t[perm]], atol=1e-12)
    np.testing.assert_array_equal(res.singleton, t[perm] == 20)
    np.testing.assert_allclose(res.returns, [{10: 1, 11: 0, 12: 2, 20: 5}[x] for x in t[perm]])
    pop = grpo_advantages(r, g, t, unbiased=False)
    s = np.sqrt(2.0 / 3.0)
    np.testing.assert_allclose(pop.advantages, [0, 0, -1 / (s + EPS)] * 1 + [-1 / (s + EPS)] * 2 + [1 / (s + EPS), 0, 0], atol=1e-12)


def test_dr_grpo_has_no_std_division():
    g, t, r = _grpo_case()
    res = dr_grpo_advantages(r * 10, g, t)
    np.testing.assert_allclose(res.advantages, [0, 0, -10, -10, -10, 10, 0, 0])
    assert res.singleton.tolist() == [False] * 6 + [True] * 2


def test_grpo_invariant_to_shift_and_scale_of_a_groups_returns():
    g, t, r = _grpo_case()
    base = grpo_advantages(r, g, t)
    shifted = r.copy()
    last_row_of_traj = np.array([1, 4, 5, 7])
    shifted[last_row_of_traj] += 7.5  # every trajectory return shifted by 7.5
    np.testing.assert_allclose(grpo_advantages(shifted, g, t).advantages, base.advantages, atol=1e-12)
    np.testing.assert_allclose(dr_grpo_advantages(shifted, g, t).advantages, dr_grpo_advantages(r, g, t).advantages, atol=1e-12)
    scaled = grpo_advantages(r * 3.0, g, t).advantages
    np.testing.assert_allclose(scaled, base.advantages, atol=1e-5)
    assert not np.allclose(dr_grpo_advantages(r * 3.0, g, t).advantages, dr_grpo_advantages(r, g, t).advantages)


def test_grpo_rejects_trajectory_spanning_two_groups():
    with pytest.raises(ValueError, match="different group"):
        grpo_advantages(np.ones(3), np.array([0, 0, 1]), np.array([5, 5, 5]))


# ----------------------------------------------------------------------------- GiGPO


def _gigpo_case():
    # group 0: T1 rewards [0,0,1] anchors [a,b,c]; T2 rewards [0,0] anchors [a,b].
    # group 1: T3 alone, reuses anchor id a (must not join group 0's step group).
    group = np.array([0, 0, 0, 0, 0, 1])
    traj = np.array([1, 1, 1, 2, 2, 3])
    turn = np.array([0, 1, 2, 0, 1, 0])
    rewards = np.array([0, 0, 1, 0, 0, 4.0])
    anchors = np.array([101, 102, 103, 101, 102, 101])
    return rewards, group, traj, turn, anchors


def test_gigpo_hand_computed_mean_norm():
    r, g, t, k, a = _gigpo_case()
    res = gigpo_advantages(r, g, t, k, a, gamma=0.5, omega=1.0, normalize_std=False)
    # R_t: T1 [.25, .5, 1], T2 [0, 0]; A^E = +-.5; step a: +-.125, b: +-.25, c: singleton 0.
    np.testing.assert_allclose(res.returns, [0.25, 0.5, 1.0, 0, 0, 4.0])
    np.testing.assert_allclose(res.components["episode"], [0.5, 0.5, 0.5, -0.5, -0.5, 0])
    np.testing.assert_allclose(res.components["step"], [0.125, 0.25, 0, -0.125, -0.25, 0])
    np.testing.assert_allclose(res.advantages, [0.625, 0.75, 0.5, -0.625, -0.75, 0])
    assert res.components["step_singleton"].tolist() == [False, False, True, False, False, True]
    assert res.singleton.tolist() == [False] * 5 + [True]


def test_gigpo_hand_computed_with_std_and_omega():
    r, g, t, k, a = _gigpo_case()
    res = gigpo_advantages(r, g, t, k, a, gamma=0.5, omega=0.5)
    # unbiased std of two values x, y is |x-y|/sqrt(2): each normalised term is +-1/sqrt(2).
    h = 1 / np.sqrt(2)
    e = 0.5 / (0.5 * np.sqrt(2) + EPS)
    sa = 0.125 / (0.125 * np.sqrt(2) + EPS)
    sb = 0.25 / (0.25 * np.sqrt(2) + EPS)
    np.testing.assert_allclose(res.advantages, [e + 0.5 * sa, e + 0.5 * sb, e, -e - 0.5 * sa, -e - 0.5 * sb, 0])
    assert abs(e - h) < 1e-5


def test_gigpo_row_stats_weight_long_episodes():
    r, g, t, k, a = _gigpo_case()
    res = gigpo_advantages(r, g, t, k, a, gamma=0.5, normalize_std=False, episode_stats="row")
    # rows carry their episode return: [1,1,1,0,0] -> mean .6
    np.testing.assert_allclose(res.components["episode"], [0.4, 0.4, 0.4, -0.6, -0.6, 0])
    with pytest.raises(ValueError):
        gigpo_advantages(r, g, t, k, a, episode_stats="rows")


def test_gigpo_step_term_vanishes_with_one_trajectory_per_group():
    rng = np.random.default_rng(3)
    n = 40
    traj = np.repeat(np.arange(4), 10)
    group = traj.copy()  # one trajectory per group
    turn = np.tile(np.arange(10), 4)
    anchors = np.arange(n) % 10  # distinct within each trajectory, equal across groups
    res = gigpo_advantages(rng.normal(size=n), group, traj, turn, anchors)
    np.testing.assert_array_equal(res.components["step"], 0.0)
    np.testing.assert_array_equal(res.advantages, 0.0)
    assert res.singleton.all() and res.components["step_singleton"].all()
    # the same rows pooled in one group do get a step term
    pooled = gigpo_advantages(rng.normal(size=n), np.zeros(n, dtype=int), traj, turn, anchors)
    assert np.abs(pooled.components["step"]).max() > 0.1


def test_gigpo_is_independent_of_row_order():
    rng = np.random.default_rng(4)
    lengths = rng.integers(2, 9, size=16)
    traj = np.repeat(np.arange(16), lengths)
    group = traj // 4
    turn = np.concatenate([np.arange(x) for x in lengths])
    anchors = (turn // 2) * 7 + 3
    r = rng.normal(size=traj.size)
    base = gigpo_advantages(r, group, traj, turn, anchors)
    perm = rng.permutation(traj.size)
    shuf = gigpo_advantages(r[perm], group[perm], traj[perm], turn[perm], anchors[perm])
    np.testing.assert_allclose(shuf.advantages, base.advantages[perm], atol=1e-12)


# ----------------------------------------------------------------------------- turn level (MARS)


def test_turn_level_hand_computed_and_constant_within_turn():
    # traj 0: turns 0,1,2 with rewards 1, 0 (split over two rows: -0.5 + 0.5), 2; traj 1: turn 0 reward 1.
    traj = np.array([0, 0, 0, 0, 1])
    turn = np.array([0, 1, 1, 2, 0])
    rewards = np.array([1.0, -0.5, 0.5, 2.0, 1.0])
    res = turn_level_advantages(rewards, traj, turn, None, gamma=0.5, normalize_std=False)
    # turn rewards {1,0,2,1}: mean 1 -> r~ = [0,-1,1],[0]; A: t2 = 1, t1 = -1 + .5 = -.5, t0 = -.25
    np.testing.assert_allclose(res.advantages, [-0.25, -0.5, -0.5, 1.0, 0.0])
    np.testing.assert_allclose(res.components["turn_reward"], [1, 0, 0, 2, 1])
    assert res.advantages[1] == res.advantages[2]
    whitened = turn_level_advantages(rewards, traj, turn, None, gamma=0.5)
    s = np.sqrt(2 / 3)  # unbiased std of {1,0,2,1}
    np.testing.assert_allclose(whitened.advantages, np.array([-0.25, -0.5, -0.5, 1.0, 0.0]) / (s + EPS), atol=1e-9)


def test_turn_level_normalises_per_agent():
    traj = np.array([0, 0, 1, 1, 2, 2, 3, 3])
    turn = np.array([0, 1] * 4)
    agent = np.array([0, 0, 0, 0, 1, 1, 1, 1])
    base = np.array([1.0, 0.0, 3.0, 2.0])
    rewards = np.concatenate([base, 10 * base + 100])  # agent 1 on another scale
    res = turn_level_advantages(rewards, traj, turn, agent, gamma=0.9)
    np.testing.assert_allclose(res.advantages[:4], res.advantages[4:], atol=1e-6)
    pooled = turn_level_advantages(rewards, traj, turn, None, gamma=0.9)
    assert not np.allclose(pooled.advantages[:4], pooled.advantages[4:], atol=1e-3)


def test_turn_level_returns_over_agent_skip_the_opponents_turns():
    traj = np.zeros(4, dtype=int)
    turn = np.arange(4)
    agent = np.array([0, 1, 0, 1])
    rewards = np.array([0.0, 5.0, 2.0, -5.0])
    res = turn_level_advantages(rewards, traj, turn, agent, gamma=1.0, normalize_std=False, returns_over="agent")
    # agent 0: r~ = [-1, 1] -> A = [0, 1]; agent 1: r~ = [5, -5] -> A = [0, -5]
    np.testing.assert_allclose(res.advantages, [0.0, 0.0, 1.0, -5.0])
    mixed = turn_level_advantages(rewards, traj, turn, agent, gamma=1.0, normalize_std=False)
    np.testing.assert_allclose(mixed.advantages, [0.0, 1.0, -4.0, -5.0])


def test_turn_level_rejects_two_agents_in_one_turn():
    with pytest.raises(ValueError, match="agent"):
        turn_level_advantages(np.ones(2), np.zeros(2, dtype=int), np.zeros(2, dtype=int), np.array([0, 1]))


# ----------------------------------------------------------------------------- dual level (MatchTIR)


def test_dual_level_hand_computed():
    group = np.zeros(5, dtype=int)
    traj = np.array([1, 1, 2, 2, 2])
    turn = np.array([0, 1, 0, 1, 2])
    rewards = np.array([0.0, 1.0, 0.0, 0.0, 0.0])
    res = dual_level_advantages(rewards, group, traj, turn, gamma=0.5, normalize_std=False)
    # A^traj = +-.5; G = [.5, 1], [0,0,0]; per turn index: t0 +-.25, t1 +-.5, t2 singleton 0
    np.testing.assert_allclose(res.components["trajectory"], [0.5, 0.5, -0.5, -0.5, -0.5])
    np.testing.assert_allclose(res.components["turn"], [0.25, 0.5, -0.25, -0.5, 0.0])
    np.testing.assert_allclose(res.advantages, [0.375, 0.5, -0.375, -0.5, -0.25])
    assert res.components["turn_singleton"].tolist() == [False, False, False, False, True]


# ----------------------------------------------------------------------------- GAE and HAE


def _loop_gae(r, v, gamma, lam):
    adv = np.zeros(len(r))
    acc = 0.0
    for i in reversed(range(len(r))):
        nv = v[i + 1] if i + 1 < len(r) else 0.0
        acc = r[i] + gamma * nv - v[i] + gamma * lam * acc
        adv[i] = acc
    return adv


def test_gae_hand_computed():
    res = gae_advantages(np.array([1.0, 0.0, 2.0]), np.array([0.5, 1.0, 0.0]), np.zeros(3, dtype=int), np.arange(3), gamma=0.5, lam=0.5)
    np.testing.assert_allclose(res.advantages, [0.875, -0.5, 2.0])
    np.testing.assert_allclose(res.returns, [1.375, 0.5, 2.0])
    boot = gae_advantages(np.array([0.0]), np.array([0.0]), np.zeros(1, dtype=int), np.arange(1), gamma=0.5, bootstrap_values=np.array([4.0]))
    np.testing.assert_allclose(boot.advantages, [2.0])


def test_hae_hand_computed():
    r = np.array([1.0, 0.0, 0.0, 4.0])
    switch = np.array([True, False, True, False])
    v_low = np.array([1.0, 2.0, 0.0, 1.0])
    v_high = np.array([3.0, 99.0, 1.0, 99.0])  # read at segment starts only
    v_term = np.ones(4)
    res = hierarchical_advantages(r, np.zeros(4, dtype=int), np.arange(4), switch, v_high, v_low, v_term, gamma=0.5, lam=0.5, lam_seg=0.5)
    np.testing.assert_allclose(res.a_low, [0.625, -1.5, 1.25, 3.0])
    np.testing.assert_allclose(res.a_high, [-1.625, 0.0, 1.0, 0.0])
    # switch head (HiPER's code): return to the segment end + γ·V_high(next segment start) = 1 after turn 1
    np.testing.assert_allclose(res.returns_term, [1.0 + 0.5 * (0.0 + 0.5 * 1.0), 0.0 + 0.5 * 1.0, 0.0 + 0.5 * 4.0, 4.0])
    np.testing.assert_allclose(res.a_term, res.returns_term - v_term)
    np.testing.assert_allclose(res.returns_high, [1.375, 0.0, 2.0, 0.0])
    np.testing.assert_allclose(res.returns_low, res.a_low + v_low)
    assert res.segment_start.tolist() == [True, False, True, False]
    assert res.segment_index.tolist() == [0, 0, 1, 1]


def test_hae_reduces_to_gae_with_a_single_segment():
    rng = np.random.default_rng(5)
    lengths = [7, 1, 12]
    traj = np.repeat([3, 8, 9], lengths)
    turn = np.concatenate([np.arange(x) for x in lengths])
    r = rng.normal(size=traj.size)
    v = rng.normal(size=traj.size)
    no_switch = np.zeros(traj.size, dtype=bool)  # first turns still start the (only) segment
    res = hierarchical_advantages(r, traj, turn, no_switch, v, v, None, gamma=0.9, lam=0.8, lam_seg=0.7)
    gae = gae_advantages(r, v, traj, turn, gamma=0.9, lam=0.8)
    np.testing.assert_allclose(res.a_low, gae.advantages, atol=1e-12)
    mc = gae_advantages(r, v, traj, turn, gamma=0.9, lam=1.0)  # A^H of the lone segment = G_0 - V(s_0)
    starts = turn == 0
    np.testing.assert_allclose(res.a_high[starts], mc.advantages[starts], atol=1e-12)
    np.testing.assert_array_equal(res.a_high[~starts], 0.0)


def _loop_hae(r, switch, vh, vl, gamma, lam, lam_seg):
    n = len(r)
    starts = [i for i in range(n) if i == 0 or switch[i]]
    bounds = list(zip(starts, starts[1:] + [n]))
    a_low = np.zeros(n)
    for k, (s, e) in enumerate(bounds):
        boot = vh[bounds[k + 1][0]] if k + 1 < len(bounds) else 0.0
        acc = 0.0
        for i in reversed(range(s, e)):
            nv = vl[i + 1] if i + 1 < e else boot
            acc = r[i] + gamma * nv - vl[i] + gamma * lam * acc
            a_low[i] = acc
    a_high = np.zeros(n)
    acc = 0.0
    for k in reversed(range(len(bounds))):
        s, e = bounds[k]
        d = e - s
        R = sum(gamma**j * r[s + j] for j in range(d))
        nxt = vh[bounds[k + 1][0]] if k + 1 < len(bounds) else 0.0
        acc = R + gamma**d * nxt - vh[s] + (gamma**d * lam_seg) * acc
        a_high[s] = acc
    return a_low, a_high


def test_hae_matches_loop_reference_on_shuffled_batch():
    rng = np.random.default_rng(6)
    lengths = rng.integers(1, 25, size=10)
    traj = np.repeat(np.arange(10) * 3, lengths)
    turn = np.concatenate([np.arange(x) for x in lengths])
    r, vh, vl = rng.normal(size=(3, traj.size))
    switch = rng.random(traj.size) < 0.3
    exp_low, exp_high = np.zeros(traj.size), np.zeros(traj.size)
    for t in np.unique(traj):
        sel = traj == t
        exp_low[sel], exp_high[sel] = _loop_hae(r[sel], switch[sel], vh[sel], vl[sel], 0.9, 0.8, 0.6)
    perm = rng.permutation(traj.size)
    res = hierarchical_advantages(r[perm], traj[perm], turn[perm], switch[perm], vh[perm], vl[perm], gamma=0.9, lam=0.8, lam_seg=0.6)
    np.testing.assert_allclose(res.a_low, exp_low[perm], atol=1e-10)
    np.testing.assert_allclose(res.a_high, exp_high[perm], atol=1e-10)
    # sanity: a flat GAE differs when there are segment boundaries
    flat = gae_advantages(r, vl, traj, turn, gamma=0.9, lam=0.8)
    assert not np.allclose(flat.advantages, exp_low)


def test_hierarchical_token_assignment():
    #             sw sub sub act act pad
    switch_m = np.array([[1, 0, 0, 0, 0, 0], [1, 0, 0, 0, 0, 0]], dtype=bool)
    sub_m = np.array([[0, 1, 1, 0, 0, 0], [0, 1, 1, 0, 0, 0]], dtype=bool)
    act_m = np.array([[0, 0, 0, 1, 1, 0], [0, 0, 0, 1, 1, 0]], dtype=bool)
    seg_start = np.array([True, False])  # row 1 is a KEEP turn: its subgoal is a copy
    adv, mask = hierarchical_token_advantages(act_m, sub_m, switch_m, seg_start, np.array([1.0, 2.0]), np.array([10.0, 20.0]), np.array([-1.0, -2.0]))
    np.testing.assert_allclose(adv, [[-1, 10, 10, 1, 1, 0], [-2, 0, 0, 2, 2, 0]])
    assert mask.tolist() == [[True] * 5 + [False], [True, False, False, True, True, False]]
    with pytest.raises(ValueError, match="more than one"):
        hierarchical_token_advantages(act_m | sub_m, sub_m, switch_m, seg_start, np.zeros(2), np.zeros(2), np.zeros(2))


# ----------------------------------------------------------------------------- step filters


def test_entropy_filter_ignores_padding():
    # turn 0: real mean 2.0; turn 1: real mean 1.0; turn 2: real mean 0.5 but huge values on padding
    ent = np.array([[2.0, 2.0, 0.0, 0.0], [1.0, 1.0, 1.0, 1.0], [0.5, 50.0, 50.0, 50.0]])
    mask = np.array([[1, 1, 0, 0], [1, 1, 1, 1], [1, 0, 0, 0]])
    naive = ent.mean(axis=1)  # what averaging over padding would rank
    assert naive.argmax() == 2
    res = entropy_step_filter(ent, mask, np.array([0, 1, 2]), rho=1 / 3)
    assert res.keep.tolist() == [True, False, False]
    np.testing.assert_allclose(res.turn_entropy, [2.0, 1.0, 0.5])
    res2 = entropy_step_filter(ent, mask, np.array([0, 1, 2]), rho=0.5)  # ceil(1.5) = 2 turns
    assert res2.keep.tolist() == [True, True, False]


def test_entropy_filter_pools_rows_of_a_turn_and_ranks_within_groups():
    ent = np.array([[3.0, 0.0], [1.0, 1.0], [0.2, 0.0], [5.0, 0.0], [0.1, 0.0], [9.0, 9.0]])
    mask = np.array([[1, 0], [1, 1], [1, 0], [1, 0], [1, 0], [0, 0]])
    turn = np.array([7, 7, 8, 9, 10, 11])  # turn 7 spans two rows: (3+1+1)/3; turn 11 has no real token
    group = np.array([0, 0, 0, 1, 1, 1])
    res = entropy_step_filter(ent, mask, turn, rho=0.5, group_ids=group)
    np.testing.assert_allclose(res.turn_entropy[:5], [5 / 3, 5 / 3, 0.2, 5.0, 0.1])
    assert np.isnan(res.turn_entropy[5])
    # group 0: turns {7, 8} keep 1 -> 7; group 1: turns {9, 10, 11} keep ceil(1.5)=2 -> 9, 10 (11 never)
    assert res.keep.tolist() == [True, True, False, True, True, False]
    everything = entropy_step_filter(ent, mask, turn, rho=1.0)
    assert everything.keep.tolist() == [True] * 5 + [False]


def test_judge_step_filter():
    scores = np.array([0.9, 0.2, np.nan, 0.5])
    assert judge_step_filter(scores, 0.5).tolist() == [True, False, True, True]
    assert judge_step_filter(scores, 0.5, keep_ungraded=False).tolist() == [True, False, False, True]
    assert judge_step_filter(np.array([True, False])).tolist() == [True, False]
