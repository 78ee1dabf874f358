"""Credit assignment as the papers meant it: the hierarchical choice agent's token spans reach the
learner (A^low / A^H / A^term per token, KEEP copies untrained, three-head critic), HiPER's switch
target, the parity options (dual clip, GAE whitening, GSPO aggregation), subgoal candidates and step
grades from the envs, and the step judges in the data manager."""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch

import envgym
from envgym.agents.backends.choice_backend import ChoiceTransformersBackend
from envgym.agents.choice_trie import add_choice, allowed_along, trie_of
from envgym.agents.hierarchical_choice import HierarchicalChoiceAgent
from envgym.agents.observation_formatters import household, maze_rooms
from envgym.agents.tiny_policy import tiny_policy
from envgym.trajectory import Episode, Turn
from envgym.trainers.algorithms.estimators import estimate, hae_token_advantages
from envgym.trainers.algorithms.hierarchical import (
    PART_ACTION,
    PART_NONE,
    PART_PAD,
    PART_SUBGOAL,
    PART_SWITCH,
    hierarchical_advantages,
)
from envgym.trainers.algorithms.losses import policy_loss, ppo_clip_loss_matrix
from envgym.trainers.batching import token_batch, turn_rows
from envgym.trainers.config import ConfigError, load_config
from envgym.trainers.data_manager import Group, TaskRef
from envgym.trainers.learner import Learner, _advantage_tensor

TINY = {"hidden_size": 32, "layers": 1, "heads": 2, "seed": 0}


@pytest.fixture(scope="module")
def policy():
    torch.manual_seed(0)
    return tiny_policy(**TINY)


def _config(*extra: str):
    return load_config(None, [f"policy.tiny.{k}={v}" for k, v in TINY.items()] + list(extra))


# ----------------------------------------------------------------------------- parity options


def test_dual_clip_caps_the_loss_of_negative_advantages_as_verl_does():
    ratio = torch.tensor([[0.5, 1.0, 2.0, 5.0, 5.0]])
    adv = torch.tensor([[-1.0, -1.0, -1.0, -1.0, 1.0]])
    plain, _, _ = ppo_clip_loss_matrix(ratio.log(), adv, 0.2, 0.2)
    dual, _, clipped = ppo_clip_loss_matrix(ratio.log(), adv, 0.2, 0.2, clip_ratio_c=3.0)
    # verl: clip_pg_losses1 = max(-A·ρ, -A·clip(ρ)); for A < 0 the loss is min(that, -A·c)
    np.testing.assert_allclose(plain[0].numpy(), [0.8, 1.0, 2.0, 5.0, -1.2], rtol=1e-6)
    np.testing.assert_allclose(dual[0].numpy(), [0.8, 1.0, 2.0, 3.0, -1.2], rtol=1e-6)
    assert clipped[0].tolist() == [True, False, False, True, True]
    logp = torch.tensor([[math.log(5.0)]], requires_grad=True)
    loss, metrics = policy_loss(logp, torch.zeros(1, 1), torch.tensor([-1.0]), torch.ones(1, 1), clip_ratio_c=3.0)
    loss.backward()
    assert logp.grad.item() == 0.0 and metrics["clip_frac"] == 1.0  # the exploded ratio stops pushing
    with pytest.raises(ValueError, match="clip_ratio_c"):
        ppo_clip_loss_matrix(ratio.log(), adv, 0.2, 0.2, clip_ratio_c=0.9)


def test_gspo_defaults_to_seq_mean_token_mean_and_explicit_settings_win():
    assert _config("loss.kind=gspo").loss.agg == "seq-mean-token-mean"
    assert _config("loss.kind=ppo").loss.agg == "token-mean"
    assert _config("loss.kind=gspo", "loss.agg=token-mean").loss.agg == "token-mean"
    assert _config().loss.clip_ratio_c is None
    with pytest.raises(ConfigError, match="clip_ratio_c"):
        _config("loss.clip_ratio_c=1.0")


def test_gae_advantages_are_whitened_unless_switched_off():
    rng = np.random.default_rng(0)
    arr = {"reward": rng.normal(size=12), "traj": np.repeat([0, 1, 2], 4), "turn": np.tile(np.arange(4), 3)}
    values = {"v_low": rng.normal(size=12)}
    white, _ = estimate("gae", arr, _config().algo, values)
    raw, targets = estimate("gae", arr, _config("algo.gae_whiten=false").algo, values)
    assert abs(white.mean()) < 1e-9 and abs(white.std() - 1) < 1e-6
    np.testing.assert_allclose(white, (raw - raw.mean()) / (raw.std() + 1e-8))
    np.testing.assert_allclose(targets["v_low"], raw + values["v_low"])  # targets are not whitened


# ----------------------------------------------------------------------------- HAE


def _loop_switch_target(r, switch, vh, gamma):
    """HiPER's released code, per trajectory: ret_term over a segment, bootstrapped with V_high at
    the next segment's start."""
    n = len(r)
    starts = [i for i in range(n) if i == 0 or switch[i]]
    out = np.zeros(n)
    for k, s in enumerate(starts):
        e = starts[k + 1] if k + 1 < len(starts) else n
        ret = vh[starts[k + 1]] if k + 1 < len(starts) else 0.0
        for i in reversed(range(s, e)):
            ret = r[i] + gamma * ret
            out[i] = ret
    return out


def test_switch_head_target_follows_hipers_code_on_a_shuffled_batch():
    rng = np.random.default_rng(3)
    lengths = rng.integers(1, 20, size=8)
    traj = np.repeat(np.arange(8) * 5, lengths)
    turn = np.concatenate([np.arange(x) for x in lengths])
    r, vh, vl, vt = rng.normal(size=(4, traj.size))
    switch = rng.random(traj.size) < 0.3
    expected = np.zeros(traj.size)
    for t in np.unique(traj):
        sel = traj == t
        expected[sel] = _loop_switch_target(r[sel], switch[sel], vh[sel], 0.9)
    perm = rng.permutation(traj.size)
    res = hierarchical_advantages(r[perm], traj[perm], turn[perm], switch[perm], vh[perm], vl[perm], vt[perm], gamma=0.9)
    np.testing.assert_allclose(res.returns_term, expected[perm], atol=1e-10)
    np.testing.assert_allclose(res.a_term, expected[perm] - vt[perm], atol=1e-10)


def test_hae_token_advantages_train_keep_copies_never_and_normalise_each_level():
    # rows: SWITCH turn, KEEP turn, malformed turn (no parts), all of one trajectory
    sw, sg, ac, no, pad = PART_SWITCH, PART_SUBGOAL, PART_ACTION, PART_NONE, PART_PAD
    parts = np.array([[sw, sg, sg, ac, ac, no], [sw, sg, sg, ac, no, pad], [no, no, no, pad, pad, pad]], dtype=np.int8)
    res = hierarchical_advantages(np.array([0.0, 0.0, 1.0]), np.zeros(3, int), np.arange(3), np.array([True, False, False]),
                                  np.array([0.1, 0.2, 0.3]), np.array([0.4, -0.2, 0.1]), np.array([0.0, 0.5, 0.2]), gamma=0.9)
    raw = hae_token_advantages(parts, res, normalize=False)
    assert np.isnan(raw[1, 1:3]).all()  # the KEEP turn's subgoal copy is not trained
    assert np.isnan(raw[0, 5]) and np.isnan(raw[1, 5]) and np.isnan(raw[2, 3:]).all()  # end of turn, padding
    np.testing.assert_allclose(raw[0, :5], [res.a_term[0], res.a_high[0], res.a_high[0], res.a_low[0], res.a_low[0]])
    np.testing.assert_allclose(raw[1, [0, 3]], [res.a_term[1], res.a_low[1]])
    np.testing.assert_allclose(raw[2, :3], res.a_low[2])  # malformed: every token gets the executor's advantage
    norm = hae_token_advantages(parts, res, normalize=True)
    low = res.a_low
    np.testing.assert_allclose(norm[:, 3][:2], ((low - low.mean()) / (low.std() + 1e-8))[:2])
    assert norm[0, 1] == res.a_high[0]  # a single SWITCH turn: nothing to whiten against
    assert np.array_equal(np.isnan(norm), np.isnan(raw))


def test_advantage_tensor_turns_nan_into_an_untrained_token():
    adv = np.array([[1.0, np.nan, 2.0], [np.nan, 3.0, np.nan]])
    values, mask = _advantage_tensor(adv, np.array([1, 0]), 4, "cpu")
    assert values.tolist() == [[0.0, 3.0, 0.0, 0.0], [1.0, 0.0, 2.0, 0.0]]
    assert mask.tolist() == [[0.0, 1.0, 0.0, 0.0], [1.0, 0.0, 1.0, 0.0]]
    flat, none = _advantage_tensor(np.array([0.5, -0.5]), np.array([1]), 4, "cpu")
    assert flat.tolist() == [-0.5] and none is None


# ----------------------------------------------------------------------------- tries and the agent


def test_trie_shares_its_tail_and_rejects_prefixes():
    tail = trie_of([[7, 9], [8, 9]])
    trie: dict = {}
    add_choice(trie, [1, 2], tail)
    add_choice(trie, [1, 3], tail)
    assert trie[1][2] is tail and trie[1][3] is tail
    assert allowed_along(trie, [1, 3, 8, 9]) == [[1], [2, 3], [7, 8], [9]]
    assert trie_of([[1, 2], [1, 2], [3]]) == {1: {2: {}}, 3: {}}  # a repeated choice is one choice
    for bad in ([[1, 2], [1, 2, 3]], [[1, 2, 3], [1, 2]]):
        with pytest.raises(ValueError, match="prefix"):
            trie_of(bad)
    with pytest.raises(ValueError, match="not one of"):
        allowed_along(trie, [1, 4])
    with pytest.raises(ValueError, match="stops before"):
        allowed_along(trie, [1, 2, 7])


def _play(agent, backend, env, obs, info, turns):
    decisions = []
    for _ in range(turns):
        decision = agent.finish(backend.generate([agent.prepare(obs, info)])[0])
        decisions.append(decision)
        obs, _r, term, trunc, info = env.step(decision.action)
        if term or trunc:
            break
    return decisions


def test_hierarchical_choice_agent_writes_hipers_format_with_exact_spans(policy):
    model, tok = policy
    backend = ChoiceTransformersBackend(model, tok)
    env = envgym.make("envgym/Household-v0", max_turns=12)
    obs, info = env.reset(options={"task": env.unwrapped.task_split("test", limit=1)[0].task_id})
    agent = HierarchicalChoiceAgent(tok, observation="household", seed=3)
    agent.reset(obs, info)
    decisions = _play(agent, backend, env, obs, info, 12)
    assert decisions[0].level == "high" and decisions[0].extra["switch"]  # the first turn must choose a subgoal
    for d in decisions:
        text = tok.decode(d.completion_ids, skip_special_tokens=True)
        subgoal, action = d.extra["subgoal"], d.action
        assert text == f"<switch>{'SWITCH' if d.extra['switch'] else 'KEEP'}</switch><subgoal>{subgoal}</subgoal><action>{action}</action>"
        for part, piece in (("switch", text[: text.index("<subgoal>")]), ("subgoal", f"<subgoal>{subgoal}</subgoal>"),
                            ("action", f"<action>{action}</action>")):
            ids = [i for i, m in zip(d.completion_ids, d.extra[f"{part}_mask"]) if m]
            assert tok.decode(ids) == piece
        assert d.completion_ids[-1] == agent.end_id and not any(d.extra[f"{p}_mask"][-1] for p in ("switch", "subgoal", "action"))
        sub_positions = [j for j, m in enumerate(d.extra["subgoal_mask"]) if m]
        forced = all(len(d.extra["allowed_ids"][j]) == 1 for j in sub_positions)
        assert forced == (not d.extra["switch"])  # a KEEP turn copies its subgoal: no decision there
    assert [d.segment_id for d in decisions] == list(np.cumsum([d.level == "high" for d in decisions]) - 1)
    assert "subgoal " + decisions[-1].extra["subgoal"] in agent.user_text(obs)


def test_hierarchical_choice_agent_forces_the_envs_subgoal_and_rejects_envs_without_candidates(policy):
    model, tok = policy
    env = envgym.make("envgym/Household-v0")
    obs, info = env.reset(options={"task": env.unwrapped.task_split("train", limit=1)[0].task_id})
    agent = HierarchicalChoiceAgent(tok, observation="household")
    agent.reset(obs, info)
    agent.prepare(obs, info)
    oracle = env.unwrapped.oracle_action()
    decision = agent.finish(agent.force(oracle))
    assert decision.action == oracle and decision.extra["subgoal"] == info["subgoal"] and decision.logprobs is None
    with pytest.raises(ValueError, match="admissible_subgoals"):
        agent.prepare({"text": "x", "admissible_actions": ["a"]}, {})


def test_learner_recomputes_the_hierarchical_sampling_logprobs_and_reads_v_low_after_the_subgoal(policy):
    model, tok = policy
    backend = ChoiceTransformersBackend(model, tok)
    env = envgym.make("envgym/Maze-v0", width=4, height=4)
    obs, info = env.reset(seed=1)
    agent = HierarchicalChoiceAgent(tok, observation="maze_rooms", seed=5)
    agent.reset(obs, info)
    decisions = _play(agent, backend, env, obs, info, 8)
    turns = [Turn(index=i, observation={}, action=d.action, reward=0.0, prompt_ids=d.prompt_ids, completion_ids=d.completion_ids,
                  logprobs=d.logprobs, policy_version=0, level=d.level, extra=d.extra) for i, d in enumerate(decisions)]
    rows = turn_rows([Group("g", (0, 0), TaskRef("m", "t"), [Episode(env_id="e", turns=turns)], 0)])
    assert rows.switch == [d.level == "high" for d in decisions]
    parts = rows.arrays()["parts"]
    assert parts.shape == (len(decisions), max(len(d.completion_ids) for d in decisions))
    learner = Learner(model, tok, _config("algo.estimator=hae"))
    batch = token_batch(rows, np.arange(len(rows)), learner.pad_id)
    with torch.no_grad():
        logp, _, hidden = learner.completion_logprobs(batch, need_hidden=True)
    for r, d in enumerate(decisions):
        n = len(d.completion_ids)
        assert torch.allclose(logp[r, :n], torch.tensor(d.logprobs) * batch.comp_mask[r, :n], atol=1e-5)
        last_subgoal = len(d.prompt_ids) + max(j for j, m in enumerate(d.extra["subgoal_mask"]) if m)
        assert int(batch.subgoal_end[r]) == last_subgoal and int(batch.prompt_end[r]) == len(d.prompt_ids) - 1
    assert hidden.shape == (len(decisions), 2, TINY["hidden_size"])


# ----------------------------------------------------------------------------- envs and formatters


def test_household_offers_subgoal_candidates_and_grades_steps_by_the_plan():
    env = envgym.make("envgym/Household-v0")
    for task in env.unwrapped.task_split("test", limit=6):  # one task of each goal type
        obs, info = env.reset(options={"task": task.task_id})
        candidates = obs["admissible_subgoals"]
        assert len(candidates) == len(set(candidates)) >= 4
        done = False
        while not done:
            assert info["subgoal"] in candidates
            obs, _r, term, trunc, info = env.step(env.unwrapped.oracle_action())
            assert info["step_grade"] == 1.0 and obs["admissible_subgoals"] == candidates
            done = term or trunc
        assert info["success"]
        env.reset(options={"task": task.task_id})
        _obs, _r, _t, _tr, info = env.step("look")
        assert info["step_grade"] == 0.0
        assert household(obs).startswith(f"task {obs['instruction']}")


def test_maze_names_quarters_and_grades_moves_by_distance():
    env = envgym.make("envgym/Maze-v0", width=6, height=6)
    obs, _ = env.reset(seed=4)
    assert obs["admissible_subgoals"][0] == "reach the goal" and len(obs["admissible_subgoals"]) == 5
    for _ in range(30):
        before = env.unwrapped.shortest_path_length()
        move = env.unwrapped.oracle_action() if before % 2 else "north"
        obs, _r, term, _tr, info = env.step(move)
        assert info["step_grade"] == (1.0 if env.unwrapped.shortest_path_length() < before else 0.0)
        row, col = env.unwrapped.pos
        quarter = f"{'north' if row < 3 else 'south'}-{'west' if col < 3 else 'east'}"
        assert maze_rooms(obs).endswith(f"\nin {quarter}")
        if term:
            break


# ----------------------------------------------------------------------------- step judges


def _household_episode(actions_from_oracle: list[bool]) -> Episode:
    """A real Household episode: the oracle's command where True, ``look`` where False."""
    env = envgym.make("envgym/Household-v0", max_turns=20)
    task = env.unwrapped.task_split("train", limit=1)[0]
    obs, info = env.reset(options={"task": task.task_id})
    episode = Episode(env_id="envgym/Household-v0", task_id=task.task_id, reset_info=dict(info))
    for i, oracle in enumerate(actions_from_oracle):
        action = env.unwrapped.oracle_action() if oracle else "look"
        nxt, reward, term, trunc, info = env.step(action)
        episode.turns.append(Turn(index=i, observation=obs, action=action, reward=reward, terminated=term, truncated=trunc, info=info))
        obs = nxt
        if term or trunc:
            break
    return episode


def test_env_step_judge_keeps_the_steps_the_env_graded_good():
    from envgym.trainers.step_judge import make_step_judge

    episode = _household_episode([True, False, True, False])
    judge = make_step_judge(_config("data.step_judge.kind=env").data.step_judge)
    metrics = judge.annotate([episode])
    assert [t.extra["step_keep"] for t in episode.turns] == [True, False, True, False]
    assert metrics == {"judge/turns": 4.0, "judge/graded": 1.0, "judge/kept": 0.5}
    assert make_step_judge(_config().data.step_judge) is None


def test_llm_step_judge_over_http_reports_agreement_and_never_drops_on_failure():
    from envgym.trainers.step_judge import make_step_judge
    from tests.support.openai_stub import ScriptedOpenAIServer

    def verdict(endpoint, body):  # a judge that calls every step GOOD unless the action was "look"
        user = body["messages"][-1]["content"]
        return "BAD" if "\nAction: look\n" in user else "GOOD."

    episode = _household_episode([True, False, True, True])
    with ScriptedOpenAIServer(verdict) as server:
        cfg = _config("data.step_judge.kind=llm", f"data.step_judge.base_url={server.base_url}", "data.step_judge.model=judge",
                      "data.store_observations=text").data.step_judge
        judge = make_step_judge(cfg)
        try:
            metrics = judge.annotate([episode])
        finally:
            judge.close()
        asked = [body for endpoint, body in server.requests if endpoint == "chat"]
    assert metrics["judge/errors"] == 0.0, judge.last_error  # a failed call names its cause
    assert len(asked) == 4 and all("Task: " in b["messages"][-1]["content"] for b in asked)
    assert [t.extra["step_grade"] for t in episode.turns] == [1.0, 0.0, 1.0, 1.0]
    assert metrics["judge/agreement"] == 1.0 and metrics["judge/kept"] == 0.75 and metrics["judge/errors"] == 0.0

    with ScriptedOpenAIServer(lambda endpoint, body: "no idea") as server:  # unparseable verdicts: ungraded
        cfg = cfg.model_copy(update={"base_url": server.base_url})
        judge = make_step_judge(cfg)
        try:
            metrics = judge.annotate([episode])
        finally:
            judge.close()
    assert metrics["judge/graded"] == 0.0 and metrics["judge/kept"] == 1.0
    with pytest.raises(ConfigError, match="store_observations"):
        _config("data.step_judge.kind=llm", "data.step_judge.base_url=http://x/v1", "data.step_judge.model=m",
                "data.store_observations=none")
    with pytest.raises(ConfigError, match="base_url and model"):
        _config("data.step_judge.kind=llm", "data.store_observations=text")


def test_llm_step_judge_outage_keeps_every_step(monkeypatch):
    from envgym.trainers.step_judge import make_step_judge
    from tests.support.openai_stub import ScriptedOpenAIServer

    episode = _household_episode([True, False])
    with ScriptedOpenAIServer(["GOOD"], cycle=True) as server:
        server.add_fault("http_500", times=50)
        cfg = _config("data.step_judge.kind=llm", f"data.step_judge.base_url={server.base_url}", "data.step_judge.model=j",
                      "data.step_judge.timeout_s=5", "data.store_observations=text").data.step_judge
        judge = make_step_judge(cfg)
        try:
            metrics = judge.annotate([episode])
        finally:
            judge.close()
    assert metrics["judge/errors"] == 2.0 and metrics["judge/kept"] == 1.0 and metrics["judge/graded"] == 0.0


# ----------------------------------------------------------------------------- the trainer, end to end


@pytest.mark.timeout(900)
def test_trainer_runs_the_hierarchical_agent_with_hae_the_step_judge_and_a_warm_start(tmp_path, monkeypatch):
    from envgym.trainers.metrics import read_metrics
    from envgym.trainers.train import run

    monkeypatch.setenv("ENVGYM_CACHE", str(tmp_path / "cache"))

    overrides = [
        f"run.out_dir={tmp_path / 'run'}", "run.steps=2", "run.progress=false", "run.tensorboard=false", "run.plot=false",
        "agent.kind=hierarchical_choice", "agent.observation=maze_rooms", "algo.estimator=hae",
        "data.step_judge.kind=env", "policy.warm_start.steps=4", "policy.warm_start.lr=0.003", "data.seed_with_oracle=true",
        "rollout.group_size=4", "rollout.batch_episodes=8", "envs.0.workers=8",
        "envs.0.kwargs={width: 4, height: 4, max_turns: 12}", "envs.0.tasks={split: train, limit: 4}",
        "eval.episodes_per_task=1", "eval.tasks={split: test, limit: 2}", "eval.train_tasks=2",
        *[f"policy.tiny.{k}={v}" for k, v in TINY.items()],
    ]
    summary = run("configs/maze_heldout.yaml", overrides)
    assert summary["steps"] == 2 and summary["heldout_success_after"] is not None
    records = read_metrics(tmp_path / "run" / "metrics.jsonl")
    (warm,) = [r for r in records if r.get("event") == "warm_start"]
    (oracle,) = [r for r in records if r.get("event") == "oracle_seed"]
    assert warm["demos"] == oracle["successes"] >= 1 and warm["steps"] == 4
    assert warm["loss_last"] < warm["loss_first"]  # the oracle's moves got likelier
    first_eval = next(i for i, r in enumerate(records) if r.get("event") == "eval")
    assert records.index(warm) < first_eval  # eval_before measures the cloned policy
    steps = [r for r in records if "train/rows" in r]
    for record in steps:
        assert record["train/value_loss"] > 0
        assert 0 < record["data/judge/kept"] < 1 and record["data/judge/graded"] == 1.0
        assert record["train/adv_nonzero"] <= record["data/judge/kept"] + 1e-9  # judged-out turns get no gradient
    stored = envgym.read_episodes(tmp_path / "run" / "trajectories.jsonl")
    levels = {t.level for ep in stored for t in ep.turns}
    assert levels == {"high", "low"}


def test_warm_start_clones_the_oracle_and_caches_the_result(policy, tmp_path, monkeypatch):
    from envgym.agents.choice_agent import ChoiceAgent
    from envgym.trainers.warm_start import warm_start

    monkeypatch.setenv("ENVGYM_CACHE", str(tmp_path))
    _model, tok = policy
    env = envgym.make("envgym/Maze-v0", width=4, height=4)
    episodes = []
    for task in env.unwrapped.task_split("train", limit=3):
        agent = ChoiceAgent(tok, observation="maze_rooms")
        obs, info = env.reset(options={"task": task.task_id})
        episode = Episode(env_id="maze", task_id=task.task_id)
        done = False
        while not done:
            agent.prepare(obs, info)
            decision = agent.finish(agent.force(env.unwrapped.oracle_action()))
            obs, reward, term, trunc, info = env.step(decision.action)
            episode.turns.append(Turn(index=len(episode.turns), observation={}, action=decision.action, reward=reward,
                                      prompt_ids=decision.prompt_ids, completion_ids=decision.completion_ids, extra=decision.extra))
            done = term or trunc
        episode.success = info["success"]
        episodes.append(episode)
    cfg = _config("policy.warm_start.steps=5", "policy.warm_start.batch_rows=256", "policy.warm_start.lr=0.003").policy.warm_start  # every row, every step

    def fresh_learner():
        torch.manual_seed(0)
        model, tok = tiny_policy(**TINY)
        return Learner(model, tok, _config())

    first, second = fresh_learner(), fresh_learner()
    stats = warm_start(first, episodes, cfg)
    assert stats["cached"] == 0.0 and stats["demos"] == 3 and stats["loss_last"] < stats["loss_first"]
    again = warm_start(second, episodes, cfg)
    assert again["cached"] == 1.0 and again["loss_last"] == stats["loss_last"]
    for (name, a), (_, b) in zip(first.model.state_dict().items(), second.model.state_dict().items()):
        assert torch.equal(a, b), name
    assert len(list((tmp_path / "warm_start").iterdir())) == 1
    other = warm_start(fresh_learner(), episodes, cfg.model_copy(update={"lr": 1e-2}))
    assert other["cached"] == 0.0 and len(list((tmp_path / "warm_start").iterdir())) == 2  # other settings, other key


# ----------------------------------------------------------------------------- the study, quick mode


@pytest.mark.timeout(1500)
def test_credit_suite_quick_mode_searches_runs_and_reports(tmp_path, monkeypatch):
    from envgym.trainers import compare

    monkeypatch.setenv("ENVGYM_CACHE", str(tmp_path / "cache"))
    out = tmp_path / "study"
    argv = ["--suite", "credit", "--mode", "quick", "--envs", "maze", "--methods", "grpo", "hae", "--out", str(out)]
    payload = compare.main(argv)
    runs = payload["runs"]
    assert {(r["method"], r["seed"]) for r in runs} == {("grpo", 0), ("hae", 0)}
    assert all(r["env_steps"] >= r["env_steps_budget"] == 300 for r in runs)  # training rollouts: one batch covers it
    assert all(r["commit"] and r["load_after"] > 0 for r in runs)
    assert any("agent.kind=hierarchical_choice" in r["overrides"] for r in runs)
    chosen = [o for r in runs for o in r["overrides"] if o.startswith("optim.lr=")]
    assert len(chosen) == 2  # each final run carries the learning rate its search chose
    text = (out / "results.md").read_text()
    assert "`python -m envgym.trainers.compare --suite credit --mode quick" in text and "Commit of the runs: `" in text
    assert "| maze | grpo |" in text and "| maze | hae |" in text and "chosen" in text  # the search table
    assert "| GRPO |" in text and "| HAE + hierarchical agent (HiPER) |" in text and "(baseline)" in text
    assert (out / "maze.png").stat().st_size > 10_000
    assert len(list((out / "search").iterdir())) == 4  # 2 methods x 2 learning rates (run directories inside --out)
    stamps = {p: p.stat().st_mtime for p in out.rglob("result.json")}
    compare.main(argv)  # a second call reuses every finished run
    assert {p: p.stat().st_mtime for p in out.rglob("result.json")} == stamps


def test_credit_suite_without_a_search_runs_the_one_option_and_reports_only_finished_runs(tmp_path):
    from envgym.trainers import compare

    out = tmp_path / "study"
    argv = ["--suite", "credit", "--mode", "full", "--envs", "maze", "--methods", "grpo", "gigpo", "--seeds", "0", "1",
            "--env-steps", "500", "--grid", "optim.lr=1e-4", "--out", str(out), "--report-only"]
    payload = compare.main(argv)  # nothing finished: nothing runs, the report says so
    assert payload["runs"] == [] and not (out / "search").exists() and not (out / "runs").exists()
    text = (out / "results.md").read_text()
    assert "Report of the 0 finished runs of the 4 planned (--report-only)" in text
    assert "Hyper-parameter search: none: every method runs `optim.lr=1e-4`" in text


# ----------------------------------------------------------------------------- a pretrained free-text model


@pytest.mark.timeout(600)
def test_a_pretrained_free_text_model_trains_as_a_hierarchical_agent_with_hae(tmp_path):
    """SmolLM2-135M-Instruct writes the <switch>/<subgoal>/<action> format as free text (the
    ``hierarchical`` agent, LoRA) on Household, whose subgoal candidates its prompt lists, and one HAE
    step trains on its turns with the three-head critic (kept small: 2 one-turn episodes)."""
    from envgym.trainers.metrics import read_metrics
    from envgym.trainers.train import run

    overrides = [
        f"run.out_dir={tmp_path}", "run.steps=1", "run.progress=false", "run.tensorboard=false", "run.plot=false",
        "policy.source=smollm2-135m-instruct", "policy.lora.r=4", "agent.kind=hierarchical", "agent.max_new_tokens=32",
        "agent.window=1", "algo.estimator=hae", "policy.warm_start.steps=0", "envs.0.kwargs={max_turns: 1}",
        "envs.0.tasks={split: train, limit: 1}", "envs.0.workers=2", "rollout.group_size=2", "rollout.batch_episodes=2",
        "data.seed_with_oracle=false", "data.drop_uniform_groups=false", "eval.episodes_per_task=0", "optim.lr=1e-4",
        "optim.minibatches=1",
    ]
    summary = run("configs/household_heldout.yaml", overrides)
    assert summary["policy_version"] == 1
    (step,) = [r for r in read_metrics(tmp_path / "metrics.jsonl") if "train/rows" in r]
    assert step["train/rows"] == 2 and step["train/value_loss"] > 0  # every turn trained, the critic too


def test_free_text_demonstrations_switch_to_the_envs_subgoal_with_part_masks(policy):
    from envgym.agents.backends.scripted import ScriptedBackend
    from envgym.agents.hierarchical import HierarchicalAgent

    _model, tok = policy
    env = envgym.make("envgym/Household-v0")
    obs, info = env.reset(options={"task": env.unwrapped.task_split("train", limit=1)[0].task_id})
    agent = HierarchicalAgent(ScriptedBackend(tok, ["unused"]))
    agent.reset(obs, info)
    request = agent.prepare(obs, info)
    prompt = tok.decode(request.prompt_ids)
    assert "Subgoals to choose from: " + "; ".join(obs["admissible_subgoals"]) in prompt
    oracle = env.unwrapped.oracle_action()
    first = agent.finish(agent.force(oracle))
    assert first.level == "high" and first.extra["subgoal"] == info["subgoal"] and first.action == oracle
    obs, _r, _t, _tr, info2 = env.step(oracle)
    agent.prepare(obs, info2)
    second = agent.finish(agent.force(env.unwrapped.oracle_action()))
    assert second.level == ("low" if info2["subgoal"] == info["subgoal"] else "high")
    rows = turn_rows([Group("g", (0, 0), TaskRef("h", "t"), [Episode(env_id="h", turns=[
        Turn(index=i, observation={}, action=d.action, prompt_ids=d.prompt_ids, completion_ids=d.completion_ids,
             level=d.level, extra=d.extra) for i, d in enumerate((first, second))])], 0)])
    parts = rows.arrays()["parts"]
    for r in range(2):
        assert {PART_SWITCH, PART_SUBGOAL, PART_ACTION} <= set(parts[r].tolist())
