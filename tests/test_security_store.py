"""Trajectory stores with several writers: nothing is lost, nothing is cut.

Real processes and threads append to one JSONL file at once; every test counts what arrived.  Large
records make a write span many pages, so a reader (or a writer's torn-tail repair) can see a line
half-written: exactly where an unlocked repair used to cut another writer's line.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import textwrap
import threading
import time
from collections import defaultdict

from envgym import Episode, EpisodeWriter, Turn, read_episodes, write_episodes

WRITER = textwrap.dedent(
    """
    import os, sys
    from envgym import Episode, EpisodeWriter, Turn
    path, name, count, size, reopen = sys.argv[1], sys.argv[2], int(sys.argv[3]), int(sys.argv[4]), sys.argv[5] == "1"
    pad = "x" * size
    print("ready", flush=True)
    sys.stdin.readline()  # start together
    writer = EpisodeWriter(path, fsync=False)
    i = 0
    while i < count if count >= 0 else not os.path.exists(path + ".stop"):  # count < 0: until told to stop
        if reopen:  # a new writer per episode: its open-time repair used to cut others' lines
            writer.close()
            writer = EpisodeWriter(path, fsync=False)
        writer.write(Episode(env_id="e", task_id=f"{name}:{i}", turns=[Turn(index=0, observation={"text": pad}, action="a")]))
        i += 1
    writer.close()
    print(i, flush=True)
    """
)


def start_writers(path, specs):
    """One process per ``(name, count, size, reopen)``; returns them once all are ready to write."""
    procs = []
    for name, count, size, reopen in specs:
        proc = subprocess.Popen([sys.executable, "-c", WRITER, str(path), name, str(count), str(size), "1" if reopen else "0"],
                                stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True)
        assert proc.stdout.readline().strip() == "ready"
        procs.append(proc)
    for proc in procs:
        proc.stdin.write("go\n")
        proc.stdin.flush()
    return procs


def by_writer(path) -> dict[str, list[int]]:
    """Each line must be a complete episode; returns ``{writer: [index, ...]}`` in file order."""
    seen: dict[str, list[int]] = defaultdict(list)
    with open(path, "rb") as handle:
        data = handle.read()
    assert data.endswith(b"\n"), "the file ends in a torn line"
    for line in data.splitlines():
        record = json.loads(line)  # raises on a cut or interleaved line
        name, index = record["task_id"].rsplit(":", 1)
        seen[name].append(int(index))
    return seen


def run_until_fixed_writers_finish(path, specs) -> dict[str, int]:
    """Start writers (count -1: keep writing until the fixed-count ones are done); ``{name: written}``."""
    procs = start_writers(path, specs)
    for (_, count, _, _), proc in zip(specs, procs):
        if count >= 0:
            assert proc.wait(timeout=180) == 0
    open(f"{path}.stop", "w").close()
    counts = {}
    for (name, _, _, _), proc in zip(specs, procs):
        assert proc.wait(timeout=60) == 0
        counts[name] = int(proc.stdout.read().split()[-1])
    return counts


def test_processes_writing_one_file_lose_nothing(tmp_path):
    path = tmp_path / "shared.jsonl"
    specs = [(f"p{i}", 40 if i % 2 else -1, 150_000 if i % 2 else 300, i % 2 == 0) for i in range(6)]
    counts = run_until_fixed_writers_finish(path, specs)
    seen = by_writer(path)
    assert seen == {name: list(range(n)) for name, n in counts.items()}, {k: (len(v), counts[k]) for k, v in seen.items()}
    assert all(counts[f"p{i}"] == 40 for i in (1, 3, 5)) and min(counts.values()) > 20


def test_a_writer_opening_while_another_writes_a_huge_line_cuts_nothing(tmp_path):
    """The case the torn-tail repair got wrong: 8 MB lines in flight while others open and append
    (the small writers keep reopening for as long as the big one writes)."""
    path = tmp_path / "huge.jsonl"
    counts = run_until_fixed_writers_finish(path, [("big", 16, 8_000_000, False), ("small-a", -1, 100, True),
                                                    ("small-b", -1, 100, True)])
    assert counts["big"] == 16 and min(counts["small-a"], counts["small-b"]) > 20, counts
    assert by_writer(path) == {name: list(range(n)) for name, n in counts.items()}


def test_threads_with_own_and_shared_writers_lose_nothing(tmp_path):
    path = tmp_path / "threads.jsonl"
    shared = EpisodeWriter(path, fsync=False)
    pad = "y" * 50_000

    def work(name: str, own: bool) -> None:
        writer = EpisodeWriter(path, fsync=False) if own else shared
        for i in range(30):
            writer.write(Episode(env_id="e", task_id=f"{name}:{i}", turns=[Turn(index=0, observation={"text": pad}, action="a")]))
        if own:
            writer.close()

    threads = [threading.Thread(target=work, args=(f"t{i}", i < 4)) for i in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    shared.close()
    seen = by_writer(path)
    assert {name: len(v) for name, v in seen.items()} == {f"t{i}": 30 for i in range(8)}
    assert all(v == list(range(30)) for v in seen.values())


KILLED = textwrap.dedent(
    """
    import sys
    from envgym import Episode, EpisodeWriter, Turn
    pad = "z" * 4_000_000
    with EpisodeWriter(sys.argv[1], fsync=False) as writer:
        i = 0
        while True:
            writer.write(Episode(env_id="e", task_id=f"victim:{i}", turns=[Turn(index=0, observation={"text": pad}, action="a")]))
            i += 1
            if i == 2:
                print("ready", flush=True)
    """
)


def test_a_writer_killed_mid_line_loses_only_its_torn_line_and_others_keep_writing(tmp_path):
    path = tmp_path / "killed.jsonl"
    victim = subprocess.Popen([sys.executable, "-c", KILLED, str(path)], stdout=subprocess.PIPE, text=True)
    assert victim.stdout.readline().strip() == "ready"
    survivors = start_writers(path, [("s1", 80, 2000, False), ("s2", 80, 2000, True)])
    time.sleep(0.3)
    os.kill(victim.pid, signal.SIGKILL)
    victim.wait()
    for proc in survivors:
        assert proc.wait(timeout=120) == 0
    with EpisodeWriter(path) as writer:  # the next append after the kill cuts the torn tail, if any
        writer.write(Episode(env_id="e", task_id="after:0"))
    seen = by_writer(path)
    assert seen["s1"] == list(range(80)) and seen["s2"] == list(range(80)) and seen["after"] == [0]
    assert seen["victim"] == list(range(len(seen["victim"]))) and len(seen["victim"]) >= 2
    assert len(read_episodes(path)) == 161 + len(seen["victim"])


def test_a_torn_tail_is_cut_before_the_next_append_even_by_a_writer_that_was_already_open(tmp_path):
    path = tmp_path / "torn.jsonl"
    writer = EpisodeWriter(path)
    writer.write(Episode(env_id="e", task_id="w:0"))
    with open(path, "ab") as handle:  # a killed foreign writer's half line
        handle.write(b'{"env_id": "e", "task_id": "dead:0", "tu')
    writer.write(Episode(env_id="e", task_id="w:1"))
    writer.close()
    assert by_writer(path) == {"w": [0, 1]}


def test_appends_after_the_file_is_replaced_or_deleted_go_to_the_new_file(tmp_path):
    path = tmp_path / "replaced.jsonl"
    writer = EpisodeWriter(path)
    writer.write(Episode(env_id="e", task_id="w:0"))
    write_episodes(path, [Episode(env_id="e", task_id="fresh:0")])  # a new inode at the same path
    writer.write(Episode(env_id="e", task_id="w:1"))
    assert by_writer(path) == {"fresh": [0], "w": [1]}
    os.unlink(path)
    writer.write(Episode(env_id="e", task_id="w:2"))
    writer.close()
    assert by_writer(path) == {"w": [2]}
