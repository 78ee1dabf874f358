"""Recorded episodes: the one on-disk format for everything an episode produced.

An :class:`Episode` holds :class:`Turn` records — the observation the agent saw, the action it sent,
the reward and info it got — plus room for what training needs: prompt and completion token ids,
per-token logprobs, the policy version that sampled them, and hierarchical segment ids.

Files are JSONL, one episode per line.  Writers never leave a corrupt file behind:

* :func:`write_episodes` replaces a file atomically (temp file + fsync + rename);
* :class:`EpisodeWriter` appends one whole line per ``write`` under a file lock and fsyncs it; before
  appending it cuts a torn last line left by a killed process, so a file holds only complete episodes,
  and several writers (threads or processes) on one file lose nothing.

Bytes (screenshots) are stored as ``{"$bytes": "<base64>"}`` and restored as ``bytes`` on read, so a
round trip is lossless.
"""

from __future__ import annotations

import base64
import json
import os
import time
import uuid
from collections.abc import Iterable, Iterator
from dataclasses import asdict, dataclass, field, fields
from typing import Any

from envgym.fileio import JsonlAppender, atomic_write, locked


@dataclass(kw_only=True)
class TokenFields:
    """What a model-backed agent records per turn for the trainer (never re-tokenised): the exact
    prompt and completion ids, the completion's logprobs and the policy version that sampled them;
    for hierarchical agents the segment and level; for vision-language agents ``images``, one ref per
    image of the prompt in placeholder order (``{"id", "settings", "pixels", "size", "source_size"}``:
    the file in the content-addressed :class:`envgym.image_store.ImageStore`, the key of the processor
    settings, a digest of the pixel tensors, the size the model saw and the screenshot's size).
    ``Decision`` (the agent's answer) and :class:`Turn` (the stored record) both carry these fields;
    :func:`token_fields` copies them."""

    prompt_ids: list[int] | None = None
    completion_ids: list[int] | None = None
    logprobs: list[float] | None = None
    policy_version: int | None = None
    segment_id: int | None = None
    level: str | None = None
    images: list[dict[str, Any]] | None = None
    extra: dict[str, Any] = field(default_factory=dict)


def token_fields(record: TokenFields) -> dict[str, Any]:
    """The :class:`TokenFields` of ``record`` as keyword arguments (``extra`` copied)."""
    out = {f.name: getattr(record, f.name) for f in fields(TokenFields)}
    out["extra"] = dict(out["extra"])
    return out


@dataclass
class Turn(TokenFields):
    """One agent step: observation seen → action taken → outcome (+ the :class:`TokenFields`)."""

    index: int
    observation: dict[str, Any]
    action: Any
    reward: float = 0.0
    terminated: bool = False
    truncated: bool = False
    info: dict[str, Any] = field(default_factory=dict)


@dataclass
class Episode:
    """A whole episode.  ``infra_error`` set means the env failed: do not train on it as a 0."""

    env_id: str
    task_id: str | None = None
    seed: int | None = None
    agent: str | None = None
    turns: list[Turn] = field(default_factory=list)
    success: bool = False
    infra_error: str | None = None
    episode_id: str = field(default_factory=lambda: uuid.uuid4().hex)
    started_at: float = field(default_factory=time.time)
    duration_s: float = 0.0
    reset_info: dict[str, Any] = field(default_factory=dict)
    metadata: dict[str, Any] = field(default_factory=dict)

    @property
    def total_return(self) -> float:
        return float(sum(turn.reward for turn in self.turns))

    @property
    def num_turns(self) -> int:
        return len(self.turns)

    def to_dict(self) -> dict[str, Any]:
        data = asdict(self)
        data["total_return"] = self.total_return
        return encode_value(data)

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> Episode:
        data = decode_value(dict(data))
        data.pop("total_return", None)
        names = {f.name for f in fields(cls)}
        turn_names = {f.name for f in fields(Turn)}
        turns = [Turn(**{k: v for k, v in t.items() if k in turn_names}) for t in data.pop("turns", [])]
        return cls(turns=turns, **{k: v for k, v in data.items() if k in names})

    def to_json(self) -> str:
        return json.dumps(self.to_dict(), ensure_ascii=False, separators=(",", ":"))


def encode_value(value: Any) -> Any:
    """JSON-safe form of ``value``: bytes become ``{"$bytes": base64}``, NaN ``None``, numpy scalars
    Python numbers.  :func:`decode_value` inverts it (used on disk and on the wire)."""
    if isinstance(value, (bytes, bytearray)):
        return {"$bytes": base64.b64encode(bytes(value)).decode("ascii")}
    if isinstance(value, dict):
        return {str(k): encode_value(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [encode_value(v) for v in value]
    if isinstance(value, float) and value != value:  # NaN is not JSON
        return None
    if hasattr(value, "item") and callable(value.item):  # numpy scalars
        return value.item()
    if isinstance(value, (str, int, float, bool)) or value is None:
        return value
    return repr(value)


def decode_value(value: Any) -> Any:
    if isinstance(value, dict):
        if len(value) == 1 and "$bytes" in value:
            return base64.b64decode(value["$bytes"])
        return {k: decode_value(v) for k, v in value.items()}
    if isinstance(value, list):
        return [decode_value(v) for v in value]
    return value


def write_episodes(path: str | os.PathLike, episodes: Iterable[Episode]) -> None:
    """Replace ``path`` with these episodes, atomically; appenders wait, then append to the new file."""
    text = "".join(episode.to_json() + "\n" for episode in episodes)
    with locked(path):
        atomic_write(path, text)


def read_episodes(path: str | os.PathLike) -> list[Episode]:
    """All complete episodes of a JSONL file (a torn last line, if any, is ignored)."""
    return list(iter_episodes(path))


def iter_episodes(path: str | os.PathLike) -> Iterator[Episode]:
    with open(path, "rb") as handle:
        for lineno, raw in enumerate(handle, 1):
            if not raw.endswith(b"\n"):
                return  # torn tail from a killed writer: not a complete record
            line = raw.strip()
            if not line:
                continue
            try:
                yield Episode.from_dict(json.loads(line))
            except (json.JSONDecodeError, TypeError) as exc:
                raise ValueError(f"{path}:{lineno}: not an episode record: {exc}") from None


class EpisodeWriter(JsonlAppender):
    """Append episodes to a JSONL file, durably, one complete line per episode
    (see :class:`envgym.fileio.JsonlAppender`).

    >>> with EpisodeWriter("runs/episodes.jsonl") as writer:   # doctest: +SKIP
    ...     writer.write(episode)
    """

    def write(self, episode: Episode) -> None:
        self.append_line(episode.to_json())
