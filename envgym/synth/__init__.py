"""Verified task synthesis: LLM roles as prompt files, an orchestrator in code.

* :mod:`envgym.synth.llm` — async OpenAI-compatible chat client (retries, JSON mode, usage/cost);
* :mod:`envgym.synth.roles` — versioned role prompts (``prompts/<family>/<role>.v1.md``);
* :mod:`envgym.synth.adapters` — what synthesis needs from an env (the generic JSON-state adapter; an
  env's own adapter lives with the env and is named by its registration's ``synthesis=``);
* :mod:`envgym.synth.web` — the base of web-app adapters (states loaded in the browser, a UI-action
  solver as oracle), bound to an app's spec language and solver by the app's subclass;
* :mod:`envgym.synth.checks` — the validity checks and their reason codes (reward code runs in
  :mod:`envgym.rewards`: static scan, kernel-enforced jail, run-time scoring);
* :mod:`envgym.synth.orchestrator` — propose → generate ∥ discriminate → verify → review rounds;
* :mod:`envgym.synth.filters` — critic vote, rollout band filter, deduplication;
* :mod:`envgym.synth.cli_ops` — ``synth(env_id, n, llm_url, model, out, **opts)`` (the CLI command).
"""

from envgym.synth.checks import REASONS

__all__ = ["REASONS"]
