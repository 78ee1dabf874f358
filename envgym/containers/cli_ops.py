"""What ``envgym containers build/ls/prune`` do (the typer CLI in :mod:`envgym.cli` calls these)."""

from __future__ import annotations

from typing import Any


def build(name_or_env_id: str, base: str | None = None, force: bool = False) -> str:
    """Build a recipe (``base``, ``sandbox``…) or the image of a registered env id (for a plugin env:
    its own recipe, its prebuilt tag, or an overlay with its distribution); return the tag."""
    from envgym.containers.images import build_image

    if "/" in name_or_env_id:
        import envgym
        from envgym.containers.plugin_images import image_for_spec

        return image_for_spec(envgym.spec(name_or_env_id), base=base, force=force)
    return build_image(name_or_env_id, base=base, force=force)


def ls() -> list[dict[str, Any]]:
    """Every envgym-managed container on the engine: id, name, image, role, env_id, status, owner…"""
    from envgym.containers.runtime import list_containers

    return list_containers()


def prune(all_owners: bool = False) -> int:
    """Remove managed containers whose owner process is gone (``all_owners``: every managed one)."""
    from envgym.containers.runtime import prune_containers

    return prune_containers(all_owners=all_owners)
