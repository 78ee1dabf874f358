"""What the command line records besides the turns: screenshots of GUI envs (on by default, bounded
in size) and the observation the episode ended on.

* :func:`recording_kwargs` turns screenshots on for GUI envs (tags in :data:`GUI_TAGS`) unless the
  user set ``screenshot`` themselves (``--kw screenshot=false`` turns them off).
* :class:`ObservationTap` wraps an env and remembers the last observation it returned.
* :func:`finish_episode` stores that final observation in ``episode.metadata["final_observation"]``
  and bounds the episode's screenshots: each is scaled to at most :data:`MAX_SIDE` pixels per side
  (JPEG, when Pillow is installed), and when an episode's screenshots still exceed
  :data:`BUDGET_BYTES`, every k-th one is kept, and the last, where k is the smallest stride that
  fits (if none does, only the last).  ``episode.metadata["screenshots"]`` says what was kept and the
  original screen size (pixel actions are in those coordinates).
"""

from __future__ import annotations

import io
from typing import Any

import gymnasium

from envgym.trajectory import Episode

#: Registry tags of envs with a screen.
GUI_TAGS = frozenset({"web", "desktop", "gui"})
MAX_SIDE = 1024
JPEG_QUALITY = 72
BUDGET_BYTES = 6 * 1024 * 1024


def is_gui(env_id: str) -> bool:
    import envgym

    try:
        return bool(GUI_TAGS & set(envgym.spec(env_id).tags))
    except envgym.UnknownEnvError:
        return False


def recording_kwargs(env_id: str, kwargs: dict[str, Any]) -> dict[str, Any]:
    """``kwargs`` plus ``screenshot=True`` for GUI envs that were not told otherwise."""
    if "screenshot" in kwargs or not is_gui(env_id):
        return dict(kwargs)
    return {**kwargs, "screenshot": True}


class ObservationTap(gymnasium.Wrapper):
    """Remembers the last observation the env returned (``last``)."""

    def __init__(self, env: Any):
        super().__init__(env)
        self.last: dict[str, Any] | None = None

    def reset(self, **kwargs: Any):
        observation, info = self.env.reset(**kwargs)
        self.last = observation
        return observation, info

    def step(self, action: Any):
        result = self.env.step(action)
        self.last = result[0]
        return result

    def __getattr__(self, name: str) -> Any:  # oracle_action, screenshot_bytes, … of the env
        return getattr(self.env, name)


def finish_episode(episode: Episode, final_observation: dict[str, Any] | None, *, max_side: int = MAX_SIDE,
                   budget_bytes: int = BUDGET_BYTES) -> Episode:
    """Store the final observation and bound the screenshots (see the module docstring); in place."""
    if final_observation is not None and episode.turns:
        episode.metadata["final_observation"] = dict(final_observation)
    holders = [turn.observation for turn in episode.turns]
    if "final_observation" in episode.metadata:
        holders.append(episode.metadata["final_observation"])
    holders = [h for h in holders if isinstance(h.get("image"), (bytes, bytearray))]
    if not holders:
        return episode
    original = image_size(holders[0]["image"])
    for holder in holders:
        holder["image"] = shrink_image(bytes(holder["image"]), max_side)
    kept = _thin_to_budget(holders, budget_bytes)
    episode.metadata["screenshots"] = {"kept": kept, "dropped": len(holders) - kept,
                                       "screen_size": list(original) if original else None}
    return episode


def _thin_to_budget(holders: list[dict[str, Any]], budget_bytes: int) -> int:
    sizes = [len(h["image"]) for h in holders]
    last = len(holders) - 1
    for stride in range(1, len(holders) + 1):
        keep = set(range(0, len(holders), stride)) | {last}
        if sum(sizes[i] for i in keep) <= budget_bytes:
            break
    else:
        keep = {last}
    for index, holder in enumerate(holders):
        if index not in keep:
            del holder["image"]
    return len(keep)


def image_size(data: bytes) -> tuple[int, int] | None:
    """``(width, height)`` of a PNG or JPEG, read from its header (no decoder needed)."""
    if data[:8] == b"\x89PNG\r\n\x1a\n" and len(data) >= 24:
        return int.from_bytes(data[16:20], "big"), int.from_bytes(data[20:24], "big")
    if data[:2] == b"\xff\xd8":
        index = 2
        while index + 9 < len(data):
            if data[index] != 0xFF:
                return None
            marker, length = data[index + 1], int.from_bytes(data[index + 2:index + 4], "big")
            if 0xC0 <= marker <= 0xCF and marker not in (0xC4, 0xC8, 0xCC):
                return int.from_bytes(data[index + 7:index + 9], "big"), int.from_bytes(data[index + 5:index + 7], "big")
            index += 2 + length
    return None


def shrink_image(data: bytes, max_side: int = MAX_SIDE, quality: int = JPEG_QUALITY) -> bytes:
    """``data`` scaled down to at most ``max_side`` pixels per side and re-encoded as JPEG, or unchanged
    when it is already smaller than that encoding or Pillow is not installed."""
    try:
        from PIL import Image
    except ImportError:
        return data
    try:
        with Image.open(io.BytesIO(data)) as image:
            image.thumbnail((max_side, max_side))
            buffer = io.BytesIO()
            image.convert("RGB").save(buffer, "JPEG", quality=quality, optimize=True)
    except (OSError, ValueError):
        return data
    smaller = buffer.getvalue()
    return smaller if len(smaller) < len(data) else data
