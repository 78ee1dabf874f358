"""Test doubles and helpers shared by the tests and the benchmarks (not installed with envgym).

* :mod:`tests.support.openai_stub` — a real OpenAI-compatible HTTP server on 127.0.0.1 serving scripted replies;
* :mod:`tests.support.synth_scripts` — scripted synthesis roles, household cases and reward code;
* :mod:`tests.support.echo_envs` — small envs for transport tests (``envgym-test/Echo-v0``, ``NoOp-v0``);
* :mod:`tests.support.containers` — engine bootstrap, leftover checks and polling for container tests.

Benchmarks put the repository root on ``sys.path`` to import them.
"""
