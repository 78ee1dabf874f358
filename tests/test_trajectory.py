import os
import signal
import subprocess
import sys
import textwrap
import time

import pytest

from envgym import Episode, EpisodeWriter, Turn, read_episodes, write_episodes
from envgym.fileio import atomic_write


def make_episode(i: int) -> Episode:
    return Episode(
        env_id="envgym/Maze-v0", task_id=f"t{i}", seed=i, agent="oracle", success=i % 2 == 0,
        turns=[
            Turn(index=0, observation={"text": "héllo 😀", "image": bytes(range(256))}, action='click("3")', reward=0.5,
                 info={"anchor": "abc", "turn": 1}, prompt_ids=[1, 2, 3], completion_ids=[4, 5], logprobs=[-0.1, -2.5],
                 policy_version=7, segment_id=0, level="executor"),
            Turn(index=1, observation={"text": "bye"}, action={"name": "answer", "arguments": {"text": "42"}},
                 reward=1.0, terminated=True, info={"success": True}),
        ],
    )


def test_lossless_round_trip(tmp_path):
    episodes = [make_episode(i) for i in range(3)]
    write_episodes(tmp_path / "e.jsonl", episodes)
    loaded = read_episodes(tmp_path / "e.jsonl")
    assert loaded == episodes
    assert loaded[0].turns[0].observation["image"] == bytes(range(256))
    assert loaded[0].total_return == 1.5


def test_writer_appends_and_repairs_torn_tail(tmp_path):
    path = tmp_path / "e.jsonl"
    with EpisodeWriter(path) as writer:
        writer.write(make_episode(0))
    with open(path, "ab") as handle:  # what a kill in the middle of a write leaves behind
        handle.write(b'{"env_id": "envgym/Maze-v0", "turns": [{"ind')
    assert [e.task_id for e in read_episodes(path)] == ["t0"]  # readers ignore the torn tail
    with EpisodeWriter(path) as writer:  # writers cut it before appending
        writer.write(make_episode(1))
    assert [e.task_id for e in read_episodes(path)] == ["t0", "t1"]


def test_atomic_write_keeps_old_content_on_failure(tmp_path):
    path = tmp_path / "f.txt"
    atomic_write(path, "old")

    class Boom(str):
        def encode(self, *a, **k):
            raise RuntimeError("boom")

    with pytest.raises(RuntimeError):
        atomic_write(path, Boom("new"))
    assert path.read_text() == "old"
    assert [p.name for p in tmp_path.iterdir()] == ["f.txt"], "no temp files left behind"


WRITER_SCRIPT = textwrap.dedent(
    """
    import sys
    from envgym import Episode, EpisodeWriter, Turn
    big = "x" * 200_000  # large records make a kill mid-write likely
    with EpisodeWriter(sys.argv[1]) as writer:
        i = 0
        while True:
            writer.write(Episode(env_id="e", task_id=str(i), turns=[Turn(index=0, observation={"text": big}, action="a")]))
            i += 1
            if i == 5:
                print("ready", flush=True)
    """
)


@pytest.mark.parametrize("round_", range(3))
def test_sigkill_never_leaves_a_corrupt_file(tmp_path, round_):
    path = tmp_path / "killed.jsonl"
    proc = subprocess.Popen([sys.executable, "-c", WRITER_SCRIPT, str(path)], stdout=subprocess.PIPE, text=True)
    assert proc.stdout.readline().strip() == "ready"
    time.sleep(0.05 * round_)
    os.kill(proc.pid, signal.SIGKILL)
    proc.wait()
    episodes = read_episodes(path)
    assert len(episodes) >= 5
    assert [e.task_id for e in episodes] == [str(i) for i in range(len(episodes))], "complete, in order, no gaps"
    with EpisodeWriter(path) as writer:
        writer.write(Episode(env_id="e", task_id="after"))
    assert read_episodes(path)[-1].task_id == "after"
