"""``mlgym image build``: the agent image from the Dockerfile shipped in this package."""

from __future__ import annotations

import hashlib
import shutil
import tempfile
from importlib.resources import files
from pathlib import Path

from mlgym_core import MlgymError

from .docker_runtime import DEFAULT_IMAGE, client


def requirements_of_tasks() -> list[str]:
    """The pip requirements the installed task packs declare (task.yaml ``requirements``)."""
    from mlgym_core import tasks

    reqs: set[str] = set()
    for t in tasks().values():
        reqs.update(r.strip() for r in t.requirements if r.strip())
    return sorted(reqs)


def build_context(dest: Path, extra_requirements: list[str]) -> str:
    """Copy the Dockerfile folder into ``dest``, adding requirements; return the content hash."""
    src = files("mlgym_runtimes") / "image"
    for name in ("Dockerfile", "requirements.txt"):
        (dest / name).write_bytes((src / name).read_bytes())
    if extra_requirements:
        with open(dest / "requirements.txt", "a") as f:
            f.write("\n".join(extra_requirements) + "\n")
    h = hashlib.sha256()
    for name in ("Dockerfile", "requirements.txt"):
        h.update((dest / name).read_bytes())
    return h.hexdigest()[:16]


def build_image(base: str = "debian:bookworm-slim", tag: str = DEFAULT_IMAGE, *, with_tasks: bool = True,
                network: str = "host", log: object = None) -> str:
    """Build ``tag`` from ``base``; the build runs with host networking (apt/pip where the base lacks them)."""
    cl = client(timeout=1800)
    reqs = requirements_of_tasks() if with_tasks else []
    tmp = Path(tempfile.mkdtemp(prefix="mlgym-image-"))
    try:
        digest = build_context(tmp, reqs)
        try:
            image, logs = cl.images.build(path=str(tmp), tag=tag, buildargs={"BASE": base}, rm=True,
                                          forcerm=True, network_mode=network, labels={"mlgym.dockerfile": digest})
        except Exception as exc:
            detail = "".join(str(x.get("stream", "")) for x in getattr(exc, "build_log", []) or [])[-2000:]
            raise MlgymError(f"mlgym image build: docker build from '{base}' failed: {exc}\n{detail}") from None
        if callable(log):
            for chunk in logs:
                if chunk.get("stream"):
                    log(chunk["stream"].rstrip())
        return image.id
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
