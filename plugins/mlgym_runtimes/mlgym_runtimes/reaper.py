"""Container reaper: ``python -m mlgym_runtimes.reaper --watch PID`` removes PID's containers when PID dies.

Started by the docker runtime with a pipe on its stdin whose only writer is the owner: the read
below returns at the owner's exit, whatever ended it. ``--dead`` removes the containers of every
dead owner once (what ``mlgym gc`` does).
"""

from __future__ import annotations

import argparse
import os
import signal
import sys


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(prog="mlgym_runtimes.reaper")
    p.add_argument("--watch", type=int, help="owner pid: wait for its exit, then remove its containers")
    p.add_argument("--dead", action="store_true", help="remove the containers of dead owners, once")
    a = p.parse_args(argv)
    signal.signal(signal.SIGINT, signal.SIG_IGN)  # a Ctrl-C of the owner's terminal must not stop us
    if a.watch:
        try:
            while os.read(0, 4096):
                pass
        except OSError:
            pass
    from .docker_runtime import reap

    try:
        removed = reap(owner=a.watch) if a.watch else reap()
    except Exception as exc:
        print(f"mlgym reaper: {exc}", file=sys.stderr)
        return 1
    for name in removed:
        print(name)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
