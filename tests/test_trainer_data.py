"""Data manager: admission, grouping, curation (drop/resample, success replay, infra exclusion), store."""

from __future__ import annotations

import json

import pytest

from envgym.trajectory import Episode, Turn, read_episodes
from envgym.trainers.config import DataConfig
from envgym.trainers.data_manager import DataManager, TaskRef, admission_open

TASKS = [TaskRef("maze", "t0"), TaskRef("maze", "t1")]


def make_dm(tmp_path, *, G=2, B=4, staleness=0, **data):
    dm = DataManager(DataConfig(fsync=False, **data), TASKS, group_size=G, batch_episodes=B, staleness=staleness,
                     store_dir=tmp_path, seed=0)
    dm.open_store()
    return dm


def episode(item, *, success=False, infra=None):
    reward = 1.0 if success else 0.0
    turn = Turn(index=0, observation={"text": "x"}, action="north", reward=reward, terminated=success,
                prompt_ids=[1, 2], completion_ids=[3], logprobs=[-0.5], policy_version=0)
    return Episode(env_id="envgym/Maze-v0", task_id=item.task.task_id, turns=[turn], success=success, infra_error=infra)


def test_admission_rule_formula():
    # accepted + running < (eta + version + 1) * B
    assert admission_open(accepted=0, running=0, version=0, batch=4, staleness=0, incoming=4)
    assert not admission_open(accepted=0, running=4, version=0, batch=4, staleness=0, incoming=1)
    assert admission_open(accepted=4, running=0, version=1, batch=4, staleness=0, incoming=4)
    assert not admission_open(accepted=8, running=0, version=1, batch=4, staleness=0, incoming=1)
    assert admission_open(accepted=8, running=3, version=1, batch=4, staleness=1, incoming=1)
    assert not admission_open(accepted=8, running=4, version=1, batch=4, staleness=1, incoming=1)


def test_lockstep_admission_then_opens_with_version(tmp_path):
    dm = make_dm(tmp_path, G=2, B=4, staleness=0, drop_uniform_groups=False, replay_successes=False)
    first = dm.admit()
    assert len(first) == 4 and dm.running == 4
    assert dm.admit() == []  # (0 + 0 + 1) * 4 reached: nothing more for version 0
    for k, item in enumerate(first):
        dm.add_episode(item, episode(item, success=k % 2 == 0))
    assert dm.admit() == []  # accepted = 4: still version 0
    batch = dm.take_batch()
    assert [len(g.episodes) for g in batch] == [2, 2]
    dm.set_version(1)
    assert len(dm.admit()) == 4


def test_an_episode_finished_before_the_rest_of_its_group_still_holds_its_place(tmp_path):
    """Lockstep whatever order episodes finish in: half of each group done admits nothing new."""
    dm = make_dm(tmp_path, G=2, B=4, staleness=0, drop_uniform_groups=False, replay_successes=False)
    first = dm.admit()
    for item in first[::2]:  # one member of each group finishes
        dm.add_episode(item, episode(item))
    assert dm.admit() == [], "a group of the next version started before this version's batch was in"

def test_async_admission_allows_eta_versions_ahead(tmp_path):
    dm = make_dm(tmp_path, G=2, B=4, staleness=2)
    assert len(dm.admit()) == 12  # (2 + 0 + 1) * 4 episodes may run before the learner moves


def test_uniform_group_is_dropped_and_resampled_then_accepted(tmp_path):
    dm = make_dm(tmp_path, G=2, B=2, staleness=0, replay_successes=False, max_resamples=1)
    items = dm.admit()
    assert {i.slot_id for i in items} == {"g0"}
    assert len({i.seed for i in items}) == 1  # a group = same task, same reset seed
    for item in items:
        dm.add_episode(item, episode(item, success=False))
    assert dm.counts["groups_dropped_uniform"] == 1 and dm.ready_groups() == 0
    again = dm.admit()
    assert {i.slot_id for i in again} == {"g0r1"}  # resampled slot (task redrawn)
    for item in again:
        dm.add_episode(item, episode(item, success=False))
    # max_resamples reached: accepted anyway, counted
    assert dm.counts["groups_uniform_accepted"] == 1 and dm.ready_groups() == 1


def test_stored_success_is_replayed_into_a_group_without_success(tmp_path):
    dm = make_dm(tmp_path, G=2, B=2, staleness=0, drop_uniform_groups=True)
    items = dm.admit()
    task = items[0].task
    # a success of this task (oracle demonstration or an earlier own success) sits in the bank
    banked = episode(items[0], success=True)
    dm.add_success(task.key, banked)  # pre-collected: bank key (-1,), older than any version
    for item in items:
        dm.add_episode(item, episode(item, success=False))
    groups = dm.take_batch()
    assert len(groups) == 1
    members = groups[0].episodes
    assert sum(ep.success for ep in members) == 1
    replayed = [ep for ep in members if ep.metadata.get("replay")]
    assert len(replayed) == 1 and replayed[0].metadata["replayed_from"] == banked.episode_id
    assert dm.counts["groups_replayed"] == 1 and dm.counts["groups_dropped_uniform"] == 0


def test_own_successes_enter_the_bank_and_are_replayed_from_the_next_version_on(tmp_path):
    dm = make_dm(tmp_path, G=2, B=2, staleness=0, max_resamples=0)
    items = dm.admit()
    dm.add_episode(items[0], episode(items[0], success=True))
    dm.add_episode(items[1], episode(items[1], success=False))
    key = items[0].task.key
    assert len(dm.bank[key]) == 1
    dm.take_batch()
    dm.set_version(1)
    later = [w for w in dm.admit()]
    for w in later:
        w.task = items[0].task  # same task again, both fail
        dm._slots[w.slot_id].task = items[0].task
        dm.add_episode(w, episode(w, success=False))
    (group,) = dm.take_batch()
    assert sum(ep.success for ep in group.episodes) == 1 and group.replayed == 1


def test_infra_failed_episodes_are_excluded_counted_and_rerun(tmp_path):
    dm = make_dm(tmp_path, G=2, B=2, staleness=0, replay_successes=False, drop_uniform_groups=False)
    items = dm.admit()
    dm.add_episode(items[0], episode(items[0], success=True))
    dm.add_episode(items[1], episode(items[1], infra="InfraError: container died"))
    assert dm.counts["infra_excluded"] == 1
    retry = dm.admit()
    assert len(retry) == 1 and retry[0].slot_id == items[1].slot_id and retry[0].member == 2
    dm.add_episode(retry[0], episode(retry[0], success=False))
    groups = dm.take_batch()
    assert len(groups[0].episodes) == 2
    assert all(ep.infra_error is None for ep in groups[0].episodes)
    # the failed episode is still recorded in the store (with its error), just never trained on
    stored = read_episodes(dm.store_path)
    assert len(stored) == 3 and sum(1 for ep in stored if ep.infra_error) == 1


def test_store_is_cut_back_to_the_checkpoint_cursor_on_resume(tmp_path):
    dm = make_dm(tmp_path, G=2, B=2, staleness=0, drop_uniform_groups=False, replay_successes=False)
    items = dm.admit()
    dm.add_episode(items[0], episode(items[0], success=True))
    state = dm.state_dict()  # checkpoint while items[1] is still running
    dm.add_episode(items[1], episode(items[1], success=False))  # written after the checkpoint
    dm.close()
    assert len(read_episodes(dm.store_path)) == 2

    resumed = make_dm(tmp_path / "unused", G=2, B=2, staleness=0, drop_uniform_groups=False, replay_successes=False)
    resumed.store_path = dm.store_path
    resumed.load_state_dict(state)
    resumed.open_store(offset=state["store_offset"])
    assert len(read_episodes(dm.store_path)) == 1  # the post-checkpoint episode moved to the orphan file
    orphan = dm.store_path.with_name("trajectories.orphaned.jsonl")
    assert len(read_episodes(orphan)) == 1
    rerun = resumed.admit()  # the unfinished member is re-run, nothing else
    assert [(w.slot_id, w.member) for w in rerun] == [(items[1].slot_id, items[1].member)]
    resumed.add_episode(rerun[0], episode(rerun[0], success=False))
    groups = resumed.take_batch()
    assert len(groups) == 1 and len(groups[0].episodes) == 2
    keys = [(ep.metadata["slot_id"], ep.metadata["member"]) for ep in read_episodes(dm.store_path)]
    assert len(keys) == len(set(keys)) == 2


def test_adaptive_task_weights_prefer_unsolved_tasks(tmp_path):
    dm = make_dm(tmp_path, G=2, B=2, staleness=0, min_task_weight=0.1)
    dm.task_success[TASKS[0].key] = 1.0
    dm.task_success[TASKS[1].key] = 0.0
    dm.set_version(0)
    drawn = [dm._draw_task(f"g{k}") for k in range(400)]
    share_unsolved = sum(t == TASKS[1] for t in drawn) / len(drawn)
    assert share_unsolved > 0.8
    state = json.loads(json.dumps({k: v for k, v in dm.state_dict().items() if k != "bank"}))
    assert state["task_success"][TASKS[0].key] == pytest.approx(1.0)
