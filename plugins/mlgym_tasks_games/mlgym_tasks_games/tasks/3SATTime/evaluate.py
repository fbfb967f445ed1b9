"""Evaluation of the 3-SAT heuristic task.

Runs the pristine DPLL solver with your heuristic on each instance of data/dataset.pkl (the
first 3 are skipped), in a separate worker process, and checks every answer: a SAT answer
must come with an assignment that satisfies the formula, an UNSAT answer must match the
instance's label. Prints {"Time": seconds, "Correct": n, "Incorrect": n, "Decisions": n}.
Time is the wall time spent solving; any incorrect answer sets Time to the penalty 1e6, so
the submission is worse than the baseline.
"""

import ctypes
import json
import os
import pickle
import subprocess
import sys
import time

PENALTY = 1e6
WORKER = r"""
import json, os, sys
out = os.fdopen(os.dup(1), "w")
os.dup2(2, 1)
sys.stdout = sys.stderr
sys.path[:0] = [sys.argv[1], sys.argv[2]]  # the pristine solver first, then the agent's heuristic
from solver import DPLL
try:
    from heuristic import heuristic_fn
except BaseException as exc:
    out.write(json.dumps({"error": f"cannot import heuristic_fn from heuristic.py: {type(exc).__name__}: {exc}"}) + "\n")
    out.flush(); raise SystemExit(1)
for line in sys.stdin:
    clauses = json.loads(line)
    try:
        s = DPLL(clauses, heuristic_fn)
        sat, assignment = s.solve()
        out.write(json.dumps({"sat": sat, "assignment": {str(k): v for k, v in assignment.items()},
                              "decisions": s.decisions}) + "\n")
    except BaseException as exc:
        out.write(json.dumps({"error": f"{type(exc).__name__}: {exc}"}) + "\n")
    out.flush()
"""


def satisfied(clauses, assignment):
    return all(any(assignment.get(str(abs(l))) == (l > 0) for l in c) for c in clauses)


def main():
    try:
        ctypes.CDLL(None).prctl(4, 0, 0, 0, 0)  # PR_SET_DUMPABLE=0: the worker may not inspect us
    except OSError:
        pass
    with open("data/dataset.pkl", "rb") as f:
        instances = pickle.load(f)[3:]
    here = os.path.dirname(os.path.abspath(__file__))
    worker = subprocess.Popen([sys.executable, "-I", "-c", WORKER, here, os.getcwd()], stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                              stderr=subprocess.DEVNULL, text=True, bufsize=1, close_fds=True)
    correct = incorrect = decisions = 0
    total = 0.0
    try:
        for _idx, _nv, _nc, clauses, is_sat, _ in instances:
            t0 = time.perf_counter()
            worker.stdin.write(json.dumps(clauses) + "\n")
            worker.stdin.flush()
            line = worker.stdout.readline()
            total += time.perf_counter() - t0
            if not line:
                print("the heuristic worker exited without answering", file=sys.stderr)
                raise SystemExit(1)
            msg = json.loads(line)
            if not isinstance(msg, dict) or "sat" not in msg:
                msg = {"error": f"bad worker message: {str(msg)[:300]}"} if "error" not in msg else msg
            if "error" in msg:
                print(msg["error"], file=sys.stderr)
                raise SystemExit(1)
            decisions += int(msg.get("decisions", 0))
            ok = (msg["sat"] and is_sat and satisfied(clauses, msg["assignment"])) or (not msg["sat"] and not is_sat)
            correct += ok
            incorrect += not ok
    finally:
        worker.kill()
        worker.wait()
    print(json.dumps({"Time": round(total, 3) if incorrect == 0 else PENALTY, "Correct": correct,
                      "Incorrect": incorrect, "Decisions": decisions}))


if __name__ == "__main__":
    main()
