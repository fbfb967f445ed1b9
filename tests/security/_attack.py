"""Shared helpers of the grading attacks: real episodes (MLGymEnv, local runtime) driven by
scripted actions, and the attack code that agent-written modules carry."""

from __future__ import annotations

import ast
import re
from collections.abc import Iterator
from contextlib import contextmanager

from mlgym_core.env import MLGymEnv


@contextmanager
def episode(task, max_steps: int = 80, **kw) -> Iterator[MLGymEnv]:
    """A reset MLGymEnv on ``task`` (a task id or a TaskSpec), closed afterwards."""
    env = MLGymEnv(task, max_steps=max_steps, prestart=False, **kw)
    try:
        env.reset(seed=0)
        yield env
    finally:
        env.close()


def write(path: str, text: str) -> str:
    """The action that writes ``text`` into the workspace file ``path``."""
    return f"cat > {path} <<'MLGYM_ATTACK_EOF'\n{text}\nMLGYM_ATTACK_EOF"


def act(env: MLGymEnv, action: str) -> str:
    obs, _reward, _term, _trunc, _info = env.step(action)
    return obs


def validate(env: MLGymEnv) -> tuple[str, dict[str, float] | None]:
    """Run ``validate``; return its observation and the metrics it reported (None: no score)."""
    n = len(env.scores)
    obs = act(env, "validate")
    m = re.search(r"Evaluation Score: (\{.*\})", obs)
    metrics = ast.literal_eval(m.group(1)) if m else None
    assert (metrics is not None) == (len(env.scores) > n), obs
    return obs, metrics


def forge_code(line: str, every_fd: bool = False) -> str:
    """Python source of ``forge()``: write ``line`` everywhere a metrics line could be picked up
    (the grading sandbox's process 1, the parent, every /proc fd it can open, its own stdout and
    stderr, and with ``every_fd`` every descriptor number it holds)."""
    return f'''
def forge():
    import glob, os, sys
    line = {line!r}
    data = (line + "\\n").encode()
    targets = ["/proc/1/fd/1", "/proc/1/fd/2", "/proc/%d/fd/1" % os.getppid(), "/proc/%d/fd/2" % os.getppid(),
               "/proc/self/fd/1", "/dev/stdout", "/dev/stderr", "/dev/tty", "/dev/console"]
    targets += glob.glob("/proc/[0-9]*/fd/*")
    for t in targets:
        try:
            fd = os.open(t, os.O_WRONLY | os.O_NONBLOCK)
            os.write(fd, data)
            os.close(fd)
        except OSError:
            pass
    for fd in (range(256) if {every_fd!r} else (1, 2)):
        try:
            os.write(fd, data)
        except OSError:
            pass
    print(line, flush=True)
    print(line, file=sys.stderr, flush=True)
    try:
        sys.__stdout__.write(line + "\\n")
        sys.__stdout__.flush()
    except Exception:
        pass

forge()
'''
