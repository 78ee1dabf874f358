"""Role prompts, kept as versioned files: ``envgym/synth/prompts/<family>/<role>.<version>.md``.

A file holds a header comment naming it, the system prompt, a ``<!-- user -->`` line, and the user
message template.  ``{{name}}`` placeholders are filled by :meth:`Prompt.messages`; unknown
placeholders are an error (a typo would otherwise reach the model).  An env's adapter may keep its
family's prompts beside the env (``adapter.prompt_dir``), searched first.  A family without its own
file for a role falls back to ``generic``.  The header comment stays in the system message so recorded
requests say which role and prompt version produced them.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path

PROMPT_DIR = Path(__file__).with_name("prompts")
ROLES = ("proposer", "generator", "discriminator", "critic", "review")
_PLACEHOLDER = re.compile(r"\{\{(\w+)\}\}")
_USER_MARK = "<!-- user -->"


@dataclass(frozen=True)
class Prompt:
    id: str  # "household/proposer.v1"
    role: str
    system: str
    user: str

    def render_user(self, **values: str) -> str:
        return _fill(self.user, values, self.id)

    def messages(self, **values: str) -> list[dict[str, str]]:
        """``[system, user]`` chat messages with the placeholders filled."""
        out = []
        system = _fill(self.system, values, self.id).strip()
        if system:
            out.append({"role": "system", "content": system})
        out.append({"role": "user", "content": self.render_user(**values).strip()})
        return out


def load_prompt(family: str, role: str, version: str = "v1", directory: Path | None = None) -> Prompt:
    """The prompt of ``role`` for ``family`` at ``version``: from ``directory`` (the family's own
    prompt folder), else ``PROMPT_DIR/<family>``, else ``PROMPT_DIR/generic``."""
    if role not in ROLES:
        raise ValueError(f"unknown role {role!r}; roles are {', '.join(ROLES)}")
    places = ([(family, directory)] if directory is not None else []) + [(fam, PROMPT_DIR / fam) for fam in (family, "generic")]
    for fam, folder in places:
        path = folder / f"{role}.{version}.md"
        if path.exists():
            text = path.read_text(encoding="utf-8")
            if _USER_MARK not in text:
                raise ValueError(f"{path}: missing the {_USER_MARK} line between system and user parts")
            system, user = text.split(_USER_MARK, 1)
            return Prompt(f"{fam}/{role}.{version}", role, system.strip(), user.strip())
    raise FileNotFoundError(f"no prompt {family}/{role}.{version}.md (nor generic) under {PROMPT_DIR}")


def _fill(template: str, values: dict[str, str], where: str) -> str:
    def replace(match: re.Match[str]) -> str:
        name = match.group(1)
        if name not in values:
            raise KeyError(f"prompt {where} needs a value for {{{{{name}}}}}")
        return str(values[name])

    return _PLACEHOLDER.sub(replace, template)
