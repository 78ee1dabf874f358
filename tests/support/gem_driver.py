"""Plays envgym envs through GEM's own registry and vectorised loop; runs in the ``gem`` peer venv
(which sees envgym through its system site-packages).  ``python gem_driver.py SPEC_JSON`` prints JSON:
``{"reset": [obs...], "steps": [[obs, reward, terminated, truncated] per env...] per round}``."""

from __future__ import annotations

import json
import sys

import gem

from envgym.adapters.gem import EnvgymGemEnv, register


def main() -> None:
    spec = json.loads(sys.argv[1])
    name = register(spec["env_id"], **spec.get("env_kwargs", {}))
    single = gem.make(name, seed=spec["seed"])
    assert isinstance(single, EnvgymGemEnv) and isinstance(single, gem.Env)
    envs = gem.make_vec([name] * len(spec["rounds"][0]), seed=spec["seed"])
    obs, _ = envs.reset()
    out = {"single_reset": single.reset()[0], "reset": list(obs), "steps": []}
    for actions in spec["rounds"]:
        obs, rewards, terminated, truncated, _ = envs.step(actions)
        out["steps"].append([[o, float(r), bool(t), bool(u)] for o, r, t, u in zip(obs, rewards, terminated, truncated)])
    print(json.dumps(out))


if __name__ == "__main__":
    main()
