import json

import pytest

from envgym import Task, TaskFileError, TaskSet, load_tasks, save_tasks

GOOD = {"task_id": "a", "env_id": "envgym/SQL-v0", "instruction": "How many?", "spec": {"difficulty": 1},
        "golden": {"answer": "3"}, "reward": {"kind": "env", "params": {"x": 1}}}


def write_lines(path, lines):
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    return path


def test_round_trip(tmp_path):
    tasks = [Task(**GOOD), Task(**{**GOOD, "task_id": "b", "initial_state": {"k": [1, 2]}})]
    save_tasks(tmp_path / "t.jsonl", tasks)
    loaded = load_tasks(tmp_path / "t.jsonl")
    assert list(loaded) == tasks and loaded["b"].initial_state == {"k": [1, 2]}
    assert loaded["b"].initial_state_hash() == Task(**{**GOOD, "initial_state": {"k": [1, 2]}}).initial_state_hash()


def test_comments_and_blank_lines_are_skipped(tmp_path):
    path = write_lines(tmp_path / "t.jsonl", ["# header", "", json.dumps(GOOD), "   "])
    assert load_tasks(path).ids() == ["a"]


@pytest.mark.parametrize(
    "line, message",
    [
        ("{not json", r"t\.jsonl:2: not valid JSON"),
        ("[1, 2]", r"t\.jsonl:2: a task must be a JSON object"),
        (json.dumps({**GOOD, "task_id": "x", "instruction": 5}), r"t\.jsonl:2: invalid task: instruction"),
        (json.dumps({**GOOD, "task_id": "x", "surprise": 1}), r"t\.jsonl:2: invalid task: surprise"),
        (json.dumps({k: v for k, v in GOOD.items() if k != "env_id"} | {"task_id": "y"}), r"t\.jsonl:2: invalid task: env_id"),
        (json.dumps({**GOOD, "task_id": "z", "reward": {"kind": "magic"}}), r"t\.jsonl:2: invalid task: reward\.kind"),
        (json.dumps(GOOD), r"t\.jsonl:2: duplicate task_id 'a'"),
    ],
)
def test_malformed_files_name_file_and_line(tmp_path, line, message):
    path = write_lines(tmp_path / "t.jsonl", [json.dumps(GOOD), line])
    with pytest.raises(TaskFileError, match=message):
        load_tasks(path)


def test_missing_file(tmp_path):
    with pytest.raises(TaskFileError, match="no such task file"):
        load_tasks(tmp_path / "nope.jsonl")


def test_taskset_lookup_sample_filter():
    import numpy as np

    tasks = TaskSet([Task(**{**GOOD, "task_id": f"t{i}", "spec": {"difficulty": i % 2}}) for i in range(6)])
    assert len(tasks.filter(difficulty=1)) == 3
    rng1, rng2 = np.random.default_rng(0), np.random.default_rng(0)
    assert [tasks.sample(rng1).task_id for _ in range(5)] == [tasks.sample(rng2).task_id for _ in range(5)]
    with pytest.raises(KeyError, match="did you mean t1"):
        tasks.get("t11")
    with pytest.raises(ValueError, match="duplicate"):
        tasks.add(Task(**{**GOOD, "task_id": "t0"}))


def test_tasks_are_immutable():
    task = Task(**GOOD)
    with pytest.raises(Exception):
        task.instruction = "changed"
