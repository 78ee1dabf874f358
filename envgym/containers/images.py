"""Building env images from ``containers/<name>/``, tagged by content hash so rebuilds are skipped.

A recipe is a directory ``containers/<name>/`` with a ``Dockerfile`` and, optionally, a
``context.txt`` listing repository paths (files or directories) to copy into the build context and
a line ``requirements: extra1,extra2`` asking for a generated ``requirements.txt``
(``[project.dependencies]`` of ``pyproject.toml`` plus those extras).  The build context is the
recipe directory's files, those repository paths, the generated requirements and the host's CA
bundle (``ca-certificates.crt``, empty when there is none).

The tag is ``envgym/<name>:<hash12>``, where the hash covers every byte of that context plus the
base image name::

    hash = sha256( recipe name ‖ base image ‖ for each context file, sorted by path:
                   path ‖ mode ‖ sha256(content) )

so a second build of unchanged sources is a lookup, and any edit to a copied file makes a new tag.

Base image: ``base=`` argument, else ``$ENVGYM_BASE_IMAGE``, else the registry-free
``envgym/base-debian:bookworm`` built by ``containers/bootstrap-base.sh`` (run automatically when
missing).  With a registry, ``ENVGYM_BASE_IMAGE=python:3.11-slim`` (``docker.io/library/python:3.11-slim``
for podman, which does not guess registries) builds on the official image instead.
"""

from __future__ import annotations

import hashlib
import io
import json
import logging
import os
import subprocess
import tarfile
from pathlib import Path

from envgym.containers.engine import BUILD_TIMEOUT_S, docker_client, repo_root
from envgym.errors import InfraError

logger = logging.getLogger(__name__)

DEFAULT_BASE_IMAGE = "envgym/base-debian:bookworm"
HOST_CA_BUNDLE = "/etc/ssl/certs/ca-certificates.crt"
#: Images kept per recipe after a build (older content-hash tags are removed).
KEEP_TAGS = 3
_SKIP_DIRS = {"__pycache__", ".git", ".pytest_cache", ".mypy_cache", "tests", "node_modules"}
_SKIP_SUFFIXES = (".pyc", ".pyo")


def base_image(base: str | None = None) -> str:
    """The base image a build uses: ``base``, ``$ENVGYM_BASE_IMAGE`` or :data:`DEFAULT_BASE_IMAGE`."""
    return base or os.environ.get("ENVGYM_BASE_IMAGE") or DEFAULT_BASE_IMAGE


def image_exists(tag: str) -> bool:
    import docker.errors

    try:
        docker_client().images.get(tag)
        return True
    except docker.errors.ImageNotFound:
        return False


def ensure_base_image(base: str) -> None:
    """Bootstrap the default base image when it is the one asked for and missing (no registry needed)."""
    if base != DEFAULT_BASE_IMAGE or image_exists(base):
        return
    script = repo_root() / "containers" / "bootstrap-base.sh"
    logger.info("bootstrapping %s with %s (about 90 s the first time)", base, script)
    proc = subprocess.run(["bash", str(script)], capture_output=True, text=True, timeout=1800)
    if proc.returncode != 0 or not image_exists(base):
        raise InfraError(f"{script} failed (exit {proc.returncode}):\n{proc.stderr[-4000:]}")


def build_context(name: str, *, ca_bundle: str | None = None, root: Path | None = None) -> dict[str, tuple[bytes, int]]:
    """The build context of recipe ``name`` as ``{path: (content, mode)}``."""
    root = root or repo_root()
    recipe = root / "containers" / name
    if not (recipe / "Dockerfile").is_file():
        known = sorted(p.name for p in (root / "containers").iterdir() if (p / "Dockerfile").is_file())
        raise FileNotFoundError(f"no image recipe containers/{name}/Dockerfile; recipes: {', '.join(known)}")
    files: dict[str, tuple[bytes, int]] = {}
    _add_tree(files, recipe, "")
    files.pop("context.txt", None)
    repo_paths, extras = _read_context_spec(recipe / "context.txt")
    for rel in repo_paths:
        source = root / rel
        if source.is_dir():
            _add_tree(files, source, rel)
        elif source.is_file():
            files[rel] = (source.read_bytes(), _mode(source))
        else:
            raise FileNotFoundError(f"containers/{name}/context.txt lists {rel!r}, which does not exist")
    if extras is not None:
        files["requirements.txt"] = (_requirements(root / "pyproject.toml", extras).encode(), 0o644)
    bundle = ca_bundle or os.environ.get("ENVGYM_CA_BUNDLE") or HOST_CA_BUNDLE
    files["ca-certificates.crt"] = (Path(bundle).read_bytes() if Path(bundle).is_file() else b"", 0o644)
    return files


def content_hash(name: str, base: str, files: dict[str, tuple[bytes, int]]) -> str:
    """sha256 over the recipe name, the base image and every context file (path, mode, content)."""
    digest = hashlib.sha256(f"{name}\0{base}\0".encode())
    for path in sorted(files):
        content, mode = files[path]
        digest.update(f"{path}\0{mode:o}\0{hashlib.sha256(content).hexdigest()}\0".encode())
    return digest.hexdigest()


def image_tag(name: str, *, base: str | None = None, ca_bundle: str | None = None, root: Path | None = None) -> str:
    """The tag :func:`build_image` would produce for the current sources, without building."""
    base = base_image(base)
    return f"envgym/{name}:{content_hash(name, base, build_context(name, ca_bundle=ca_bundle, root=root))[:12]}"


def build_image(
    name: str,
    *,
    base: str | None = None,
    force: bool = False,
    ca_bundle: str | None = None,
    root: Path | None = None,
) -> str:
    """Build ``containers/<name>/Dockerfile`` and return its tag ``envgym/<name>:<hash12>``.

    Skips the build when that tag already exists (unless ``force``).  Raises :class:`InfraError`
    with the tail of the build log when the build fails.
    """
    base = base_image(base)
    ensure_base_image(base)
    return build_files(name, build_context(name, ca_bundle=ca_bundle, root=root), base=base, force=force)


def build_files(name: str, files: dict[str, tuple[bytes, int]], *, base: str, force: bool = False) -> str:
    """Build the context ``files`` (its ``Dockerfile`` with ``BASE_IMAGE=base``) as
    ``envgym/<name>:<hash12>`` of :func:`content_hash`; a lookup when that tag exists (unless ``force``)."""
    digest = content_hash(name, base, files)
    tag = f"envgym/{name}:{digest[:12]}"
    if not force and image_exists(tag):
        logger.debug("image %s is up to date", tag)
        return tag
    logger.info("building %s FROM %s", tag, base)
    client = docker_client(timeout=BUILD_TIMEOUT_S)
    log_lines: list[str] = []
    error = None
    stream = client.api.build(
        fileobj=_tar(files),
        custom_context=True,
        tag=tag,
        buildargs={"BASE_IMAGE": base},
        labels={"envgym.recipe": name, "envgym.content_hash": digest},
        rm=True,
        forcerm=True,
        pull=False,
        decode=True,
    )
    for chunk in stream:
        if "stream" in chunk:
            text = chunk["stream"].rstrip()
            if text:
                log_lines.append(text)
                logger.debug("build %s: %s", name, text)
        if "error" in chunk:
            error = chunk.get("error") or json.dumps(chunk.get("errorDetail"))
    if error is not None or not image_exists(tag):
        tail = "\n".join(log_lines[-40:])
        raise InfraError(f"building {tag} ({name}) failed: {error}\n{tail}")
    prune_old_tags(name, keep=KEEP_TAGS)
    return tag


def prune_old_tags(name: str, keep: int = 3) -> int:
    """Remove all but the ``keep`` newest images of recipe ``name`` (an image a container still uses
    is kept); return how many were removed.  Every source edit makes a new tag, so without this they
    pile up (their layers are mostly shared, the tags are not)."""
    import docker.errors

    client = docker_client()
    try:
        images = client.api.images(filters={"label": f"envgym.recipe={name}"})
    except docker.errors.APIError:
        return 0
    images.sort(key=lambda image: image.get("Created", 0), reverse=True)
    removed = 0
    for image in images[keep:]:
        try:
            client.api.remove_image(image["Id"], force=False)
            removed += 1
        except docker.errors.APIError:  # in use by a container, or already gone (another process)
            pass
    return removed


def _tar(files: dict[str, tuple[bytes, int]]) -> io.BytesIO:
    buffer = io.BytesIO()
    with tarfile.open(fileobj=buffer, mode="w") as archive:
        for path in sorted(files):
            content, mode = files[path]
            info = tarfile.TarInfo(path)
            info.size = len(content)
            info.mode = mode
            info.mtime = 0
            archive.addfile(info, io.BytesIO(content))
    buffer.seek(0)
    return buffer


def _mode(path: Path) -> int:
    return 0o755 if os.access(path, os.X_OK) else 0o644


def _add_tree(files: dict[str, tuple[bytes, int]], directory: Path, prefix: str) -> None:
    for dirpath, dirnames, filenames in os.walk(directory):
        dirnames[:] = sorted(d for d in dirnames if d not in _SKIP_DIRS and not d.endswith(".egg-info"))
        for filename in sorted(filenames):
            if filename.endswith(_SKIP_SUFFIXES):
                continue
            path = Path(dirpath) / filename
            rel = path.relative_to(directory).as_posix()
            files[f"{prefix}/{rel}" if prefix else rel] = (path.read_bytes(), _mode(path))


def _read_context_spec(path: Path) -> tuple[list[str], list[str] | None]:
    """Repository paths and requested extras (``None``: no requirements.txt) from ``context.txt``."""
    if not path.is_file():
        return [], None
    paths: list[str] = []
    extras: list[str] | None = None
    for raw in path.read_text().splitlines():
        line = raw.strip()
        if not line or line.startswith("#"):
            continue
        if line.startswith("requirements:"):
            extras = [e.strip() for e in line.partition(":")[2].split(",") if e.strip()]
        else:
            paths.append(line.rstrip("/"))
    return paths, extras


def _requirements(pyproject: Path, extras: list[str]) -> str:
    """Dependencies plus the requested extras (nested ``envgym[...]`` extras expanded), one per line;
    setuptools and wheel first, for the ``--no-build-isolation`` install of the source."""
    try:
        import tomllib
    except ModuleNotFoundError:  # Python 3.10
        import tomli as tomllib  # type: ignore[no-redef]

    project = tomllib.loads(pyproject.read_text())["project"]
    optional = project.get("optional-dependencies", {})
    requirements: list[str] = ["setuptools>=68", "wheel"]
    seen_extras: set[str] = set()

    def add(requirement: str) -> None:
        name = requirement.split("[", 1)[0].strip()
        if name == project["name"] and "[" in requirement:
            for extra in requirement.split("[", 1)[1].split("]", 1)[0].split(","):
                add_extra(extra.strip())
        elif requirement not in requirements:
            requirements.append(requirement)

    def add_extra(extra: str) -> None:
        if extra in seen_extras:
            return
        if extra not in optional:
            raise ValueError(f"pyproject.toml has no extra {extra!r}")
        seen_extras.add(extra)
        for requirement in optional[extra]:
            add(requirement)

    for requirement in project.get("dependencies", []):
        add(requirement)
    for extra in extras:
        add_extra(extra)
    return "\n".join(requirements) + "\n"
