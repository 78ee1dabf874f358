"""envgym/PythonSandbox-v0: code runs only in a locked-down container, and hostile code is contained.

Real containers (the engine is started as in ``tests/test_containers.py``).  One sandbox env serves
most tests, which also proves that it keeps serving after every attack.
"""

from __future__ import annotations

import json
import socket
from pathlib import Path

import pytest
from gymnasium.utils.env_checker import check_env

import envgym
from envgym.agents.loop import run_episode
from envgym.agents.oracle import OracleAgent
from envgym.containers.engine import docker_client
from envgym.envs.python_sandbox import PythonSandboxEnv, answers_match

REPO = Path(__file__).resolve().parents[1]
ENV_ID = "envgym/PythonSandbox-v0"
TIME_LIMIT_S = 3.0

pytestmark = pytest.mark.timeout(900)  # the first run on a bare machine installs podman and bootstraps


@pytest.fixture(scope="module")
def env(engine):
    sandbox = envgym.make(ENV_ID, time_limit_s=TIME_LIMIT_S)
    sandbox.reset(options={"task": "binary-2024"})
    yield sandbox.unwrapped
    sandbox.close()


def run(env: PythonSandboxEnv, code: str):
    return env.run_code(code)


def assert_still_serving(env: PythonSandboxEnv) -> None:
    result = run(env, "print(6 * 7)")
    assert result.exit_code == 0 and result.stdout.strip() == "42", result


# ---------------------------------------------------------------------- the env contract
def test_check_env_passes(engine):
    sandbox = envgym.make(ENV_ID, time_limit_s=TIME_LIMIT_S)
    try:
        check_env(sandbox.unwrapped, skip_render_check=True)
    finally:
        sandbox.close()


def test_oracle_solves_every_task_by_running_its_code_in_the_sandbox(env):
    assert len(env.tasks) >= 20
    for task in env.tasks:
        code_action, answer_action = task.golden.actions
        obs, _ = env.reset(options={"task": task})
        obs, reward, terminated, _, info = env.step(code_action)
        assert info["exit_code"] == 0, obs["text"]
        assert task.golden.answer in obs["text"]  # the sandbox's Python prints the golden answer
        obs, reward, terminated, _, info = env.step(answer_action)
        assert (reward, terminated, info["success"]) == (1.0, True, True), (task.task_id, obs["text"])
    episode = run_episode(env, OracleAgent(env), task=env.tasks[0].task_id)
    assert episode.turns[-1].reward == 1.0 and episode.turns[-1].info["success"] is True


def test_oracle_action_falls_back_to_the_golden_answer(env):
    env.reset(options={"task": "lcm-1-to-20"})
    assert env.oracle_action()["name"] == "python"
    env.step(env.oracle_action())
    assert env.oracle_action() == {"name": "answer", "arguments": {"text": "232792560"}}


def test_wrong_answers_and_invalid_actions(env):
    env.reset(options={"task": "roman-1994"})
    obs, reward, terminated, _, info = env.step("just tell me")
    assert reward == 0.0 and not terminated and "python(" in info["action_error"]
    obs, reward, terminated, _, info = env.step({"name": "python", "arguments": {"input": "x"}})
    assert "code" in info["action_error"]
    obs, reward, terminated, _, info = env.step('answer(text="MCMXCIV ")')  # whitespace is forgiven
    assert (reward, terminated, info["success"]) == (1.0, True, True)
    env.reset(options={"task": "roman-1994"})
    obs, reward, terminated, _, info = env.step('answer("MDCCCCLXXXXIIII")')
    assert (reward, terminated, info["success"]) == (0.0, True, False)


def test_answer_matching_rules():
    assert answers_match("2880067194370816120", "2880067194370816120")
    assert not answers_match("2880067194370816121", "2880067194370816120")  # integers are exact
    assert answers_match("0.30000000001", "0.3") and answers_match(" 49 ", "49")
    assert not answers_match("saturday", "Saturday")
    assert answers_match("saturday", "Saturday", case_sensitive=False)


def test_state_records_the_transcript(env):
    env.reset(options={"task": "binary-2024"})
    env.step('python("print(bin(2024))")')
    state = env.get_state()
    assert state["task_id"] == "binary-2024" and state["turn"] == 1
    assert json.loads(json.dumps(state))["history"][0]["result"]["stdout"].strip() == "0b11111101000"


def test_workspace_persists_within_an_episode_and_reset_wipes_it(env):
    env.reset(options={"task": "binary-2024"})
    assert run(env, "open('notes.txt', 'w').write('kept')").exit_code == 0
    assert run(env, "print(open('/workspace/notes.txt').read())").stdout.strip() == "kept"
    env.reset(options={"task": "binary-2024"})
    assert "FileNotFoundError" in run(env, "open('/workspace/notes.txt')").stderr


def test_container_runtime_returns_the_same_env_in_process(engine):
    sandbox = envgym.make(ENV_ID, runtime="container", time_limit_s=TIME_LIMIT_S)
    try:
        assert isinstance(sandbox.unwrapped, PythonSandboxEnv)
        obs, info = sandbox.reset(options={"task": "binary-2024"})
        obs, reward, *_ = sandbox.step({"name": "python", "arguments": {"code": "print(bin(2024)[2:])"}})
        assert "11111101000" in obs["text"]
    finally:
        sandbox.close()


# ---------------------------------------------------------------------- containment
def test_the_sandbox_container_is_locked_down(env):
    attrs = docker_client().api.inspect_container(env.runner.handle.container_id)
    host = attrs["HostConfig"]
    assert host["NetworkMode"] == "none"
    assert host["ReadonlyRootfs"] is True
    assert host["Memory"] == 256 * 1024 * 1024 and host["MemorySwap"] == host["Memory"]
    assert host["PidsLimit"] == 64
    assert host["NanoCpus"] == 1_000_000_000
    assert "no-new-privileges" in host["SecurityOpt"]
    assert not host.get("Binds") and not [m for m in attrs.get("Mounts", []) if m.get("Type") == "bind"]
    # What the code itself sees: an unprivileged user with no capabilities and no way to gain any.
    status = run(env, "import os\nprint(os.getuid())\nprint(open('/proc/self/status').read())").stdout
    assert status.splitlines()[0] != "0"
    fields = dict(line.split(":", 1) for line in status.splitlines()[1:] if ":" in line)
    assert int(fields["CapEff"].strip(), 16) == 0 and int(fields["CapBnd"].strip(), 16) == 0
    assert fields["NoNewPrivs"].strip() == "1"


def test_host_files_are_not_visible(env, tmp_path):
    host_name = socket.gethostname()
    secret = tmp_path / "secret.txt"
    secret.write_text("host only")
    result = run(env, textwrap_code(f"""
        import os
        print(open('/etc/hostname').read().strip())
        print(sorted(os.listdir('/')))
        for path in ({str(REPO / 'pyproject.toml')!r}, {str(secret)!r}, '/work', '/run/envgym/podman.sock', '/var/run/docker.sock'):
            print(path, os.path.exists(path))
        try:
            open('/etc/passwd', 'a')
        except OSError as exc:
            print('write denied', exc.errno)
    """))
    lines = result.stdout.splitlines()
    assert lines[0] != host_name
    assert "'work'" not in lines[1]
    assert all(line.endswith("False") for line in lines[2:7]), lines
    assert lines[7].startswith("write denied")
    assert_still_serving(env)


def test_network_is_unreachable(env):
    result = run(env, textwrap_code("""
        import socket
        print(sorted(line.split(':')[0].strip() for line in open('/proc/net/dev').readlines()[2:]))
        for target in (('1.1.1.1', 53), ('10.0.2.2', 80), ('172.17.0.1', 80)):
            try:
                socket.create_connection(target, timeout=2)
                print('connected', target)
            except OSError as exc:
                print('refused', target, exc.errno)
        try:
            socket.getaddrinfo('example.com', 80)
            print('resolved')
        except OSError:
            print('no dns')
    """))
    lines = result.stdout.splitlines()
    assert lines[0] == "['lo']", result
    assert all(line.startswith("refused") for line in lines[1:4]), lines
    assert lines[4] == "no dns"
    assert_still_serving(env)


def test_fork_bomb_is_contained_by_the_pids_limit(env):
    result = run(env, textwrap_code("""
        import os
        while True:
            try:
                os.fork()
            except OSError:
                pass
    """))
    assert result.timed_out, result
    # Every process of the bomb is gone: only PID 1 and this snippet's runner and interpreter remain.
    procs = run(env, "import os\nprint(len([p for p in os.listdir('/proc') if p.isdigit()]))")
    assert procs.exit_code == 0 and int(procs.stdout) <= 3, procs
    assert_still_serving(env)


def test_huge_allocations_are_stopped_by_the_memory_limits(env):
    huge = run(env, "data = b'x' * (10 * 1024 ** 3)\nprint(len(data))")
    assert huge.exit_code != 0 and "10737418240" not in huge.stdout
    assert "MemoryError" in huge.stderr or huge.exit_code == -9 or huge.oom_killed, huge
    # Growing in small steps passes the address-space rlimit; the container's 256 MiB cgroup kills it.
    creeping = run(env, "chunks = []\nfor _ in range(100):\n    chunks.append(b'\\x01' * (10 << 20))\nprint('survived')")
    assert "survived" not in creeping.stdout
    assert creeping.exit_code == -9 or creeping.oom_killed or creeping.sandbox_restarted, creeping
    assert_still_serving(env)


def test_endless_loops_and_background_processes_are_killed(env):
    looping = run(env, "while True:\n    pass")
    assert looping.timed_out
    spawn = run(env, textwrap_code("""
        import subprocess, sys
        child = subprocess.Popen([sys.executable, '-c', 'import time; time.sleep(600)'], start_new_session=True)
        print(child.pid)
    """))
    assert spawn.exit_code == 0
    check = run(env, f"import os\nprint(os.path.exists('/proc/{spawn.stdout.strip()}'))")
    assert check.stdout.strip() == "False"
    assert_still_serving(env)


def test_output_is_capped(env):
    result = run(env, "print('x' * 100000)")
    assert result.truncated and len(result.stdout) <= env.max_output_bytes
    assert_still_serving(env)


def test_a_container_killed_from_outside_is_an_infra_error_and_reset_replaces_it(env):
    docker_client().api.kill(env.runner.handle.container_id)
    with pytest.raises(envgym.InfraError, match="died|gone"):
        run(env, "print('after kill')")
    env.reset(options={"task": "binary-2024"})
    assert_still_serving(env)


def textwrap_code(code: str) -> str:
    import textwrap

    return textwrap.dedent(code).strip() + "\n"
