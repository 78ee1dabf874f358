"""Spaces for language environments.

Gymnasium's :class:`gymnasium.spaces.Text` only holds alphanumeric characters, which cannot hold a
shell command, a SQL query or a sentence in French.  These spaces hold any Unicode text and the
structured observations and actions that LLM agents exchange with environments.

* :class:`UnicodeText` — a string of any Unicode characters, bounded in length.
* :class:`ActionSpace` — free text, a function-call string such as ``click("12")``, or a structured
  tool call ``{"name": ..., "arguments": {...}}`` (OpenAI function-calling shape).
* :class:`ObservationSpace` — a dict observation, see :mod:`envgym.observation` for its keys.
"""

from __future__ import annotations

import string
from collections.abc import Mapping
from typing import Any

import numpy as np
from gymnasium.spaces import Space

# Characters drawn by ``sample()``: printable ASCII plus a handful of non-ASCII letters, symbols and
# whitespace, so that environments are exercised with the kind of text LLMs really emit.
SAMPLE_CHARSET = (
    string.ascii_letters
    + string.digits
    + string.punctuation
    + " \n\t"
    + "éüßøçñ你好世界мирλπ→✓😀"
)


class UnicodeText(Space[str]):
    """A string of Unicode characters with ``min_length <= len(s) <= max_length``.

    >>> space = UnicodeText(max_length=10)
    >>> "héllo wörld"[:10] in space
    True
    """

    def __init__(
        self,
        max_length: int = 100_000,
        *,
        min_length: int = 0,
        sample_charset: str = SAMPLE_CHARSET,
        seed: int | np.random.Generator | None = None,
    ):
        if min_length < 0 or max_length < min_length:
            raise ValueError(f"need 0 <= min_length <= max_length, got {min_length}, {max_length}")
        self.min_length = int(min_length)
        self.max_length = int(max_length)
        self.sample_charset = sample_charset
        super().__init__(dtype=str, seed=seed)

    def sample(self, mask: Any = None, probability: Any = None) -> str:
        """A random string of length up to ``min(max_length, 64)`` drawn from ``sample_charset``."""
        upper = min(self.max_length, max(self.min_length, 64))
        length = int(self.np_random.integers(self.min_length, upper + 1))
        chars = self.np_random.choice(list(self.sample_charset), size=length)
        return "".join(chars.tolist())

    def contains(self, x: Any) -> bool:
        return isinstance(x, str) and self.min_length <= len(x) <= self.max_length

    @property
    def is_np_flattenable(self) -> bool:
        return False

    def __repr__(self) -> str:
        return f"UnicodeText(min_length={self.min_length}, max_length={self.max_length})"

    def __eq__(self, other: object) -> bool:
        return (
            isinstance(other, UnicodeText)
            and other.min_length == self.min_length
            and other.max_length == self.max_length
        )


def is_tool_call(x: Any) -> bool:
    """True for a mapping shaped like an OpenAI tool call: ``{"name": str, "arguments": dict|str}``."""
    return (
        isinstance(x, Mapping)
        and isinstance(x.get("name"), str)
        and isinstance(x.get("arguments", {}), (Mapping, str))
    )


class ActionSpace(Space[Any]):
    """Actions an agent may send: text (free form or ``name(args)``) or a structured tool call.

    ``sample()`` returns arbitrary text or tool calls with random names — mostly *invalid* actions.
    That is deliberate: environments must answer them with ``info["action_error"]``, not raise.
    """

    def __init__(
        self,
        max_length: int = 100_000,
        tool_names: tuple[str, ...] = (),
        seed: int | np.random.Generator | None = None,
    ):
        self.text = UnicodeText(max_length=max_length)
        self.tool_names = tuple(tool_names)
        super().__init__(dtype=object, seed=seed)

    def seed(self, seed: int | None = None) -> list[int]:
        seeds = super().seed(seed)
        self.text.seed(int(self.np_random.integers(2**31)))
        return seeds

    def sample(self, mask: Any = None, probability: Any = None) -> Any:
        text = self.text.sample()
        if self.np_random.random() < 0.5:
            return text
        names = list(self.tool_names) or ["unknown_tool"]
        name = names[int(self.np_random.integers(len(names)))]
        return {"name": name, "arguments": {"input": text}}

    def contains(self, x: Any) -> bool:
        return self.text.contains(x) or is_tool_call(x)

    @property
    def is_np_flattenable(self) -> bool:
        return False

    def __repr__(self) -> str:
        return f"ActionSpace(max_length={self.text.max_length}, tool_names={self.tool_names})"

    def __eq__(self, other: object) -> bool:
        return (
            isinstance(other, ActionSpace)
            and other.text == self.text
            and other.tool_names == self.tool_names
        )


class ObservationSpace(Space[dict]):
    """Dict observations with a required ``text`` and optional structured keys.

    See :data:`envgym.observation.OBSERVATION_KEYS` for the keys and their types.  Unknown keys are
    allowed (environments may add their own) as long as they are JSON-like values.
    """

    def __init__(self, max_text_length: int = 1_000_000, seed: int | np.random.Generator | None = None):
        self.text = UnicodeText(max_length=max_text_length)
        super().__init__(dtype=object, seed=seed)

    def sample(self, mask: Any = None, probability: Any = None) -> dict:
        return {"text": self.text.sample()}

    def contains(self, x: Any) -> bool:
        from envgym.observation import validate_observation

        return validate_observation(x) is None

    @property
    def is_np_flattenable(self) -> bool:
        return False

    def __repr__(self) -> str:
        return "ObservationSpace()"

    def __eq__(self, other: object) -> bool:
        return isinstance(other, ObservationSpace)
