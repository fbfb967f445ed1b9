"""Evaluation of the 3-SAT heuristic task.

Runs the pristine DPLL solver with your heuristic on each instance of data/dataset.pkl (the
first 3 are skipped), in a separate worker process, and checks every answer: a SAT answer
must come with an assignment that satisfies the formula, an UNSAT answer must match the
instance's label. Prints {"Time": seconds, "Correct": n, "Incorrect": n, "Decisions": n}, Time
being the wall time spent solving. As in MLGym, the first incorrect answer ends the evaluation
without a score (an evaluation format error: the evaluation does not count).
"""

import json
import os
import pickle
import sys
import time

try:
    import mlgym_worker  # laid next to the evaluator by mlgym (grader folder and workspace)
except ImportError:  # run from elsewhere (the pack's own tests): core's copy
    from mlgym_core import worker_lib

    mlgym_worker = worker_lib()

TIMEOUT = 600.0  # per instance
# The worker (a nested sandbox: it sees the pristine solver and the agent's code, never data/,
# the grader's folder or this process) solves one instance per request.
WORKER = r"""
import sys
import mlgym_worker
sys.path[:0] = [sys.argv[1], sys.argv[2]]  # the pristine solver first, then the agent's heuristic
from solver import DPLL
try:
    from heuristic import heuristic_fn
except BaseException as exc:
    mlgym_worker.send_error(f"cannot import heuristic_fn from heuristic.py: {type(exc).__name__}: {exc}")
    raise SystemExit(1)

def solve(clauses, _payload):
    s = DPLL(clauses["clauses"], heuristic_fn)
    sat, assignment = s.solve()
    return {"sat": sat, "assignment": {str(k): v for k, v in assignment.items()}, "decisions": s.decisions}, b""

mlgym_worker.serve(solve)
"""


def satisfied(clauses, assignment):
    return all(any(assignment.get(str(abs(lit))) == (lit > 0) for lit in c) for c in clauses)


def main():
    with open("data/dataset.pkl", "rb") as f:
        instances = pickle.load(f)[3:]
    here = os.path.dirname(os.path.abspath(__file__))
    worker = mlgym_worker.spawn(WORKER, [here, os.getcwd()], code=os.getcwd(), files=[os.path.join(here, "solver.py")])
    correct = decisions = 0
    total = 0.0
    try:
        for _idx, _nv, _nc, clauses, is_sat, _ in instances:
            t0 = time.perf_counter()
            msg, _ = worker.request({"clauses": clauses}, timeout=TIMEOUT)
            total += time.perf_counter() - t0
            if not isinstance(msg.get("sat"), bool) or not isinstance(msg.get("assignment"), dict):
                raise mlgym_worker.WorkerError(f"bad worker message: {str(msg)[:300]}")
            decisions += int(msg.get("decisions", 0))
            ok = (msg["sat"] and is_sat and satisfied(clauses, msg["assignment"])) or (not msg["sat"] and not is_sat)
            if not ok:
                print("Evaluation failed: the solver gave a wrong answer with your heuristic (a SAT answer without"
                      " a satisfying assignment, or a wrong SAT/UNSAT verdict), so there is no score.",
                      file=sys.stderr)
                raise SystemExit(1)
            correct += 1
    except (mlgym_worker.WorkerError, TypeError, ValueError) as exc:
        print(f"Evaluation failed: {exc}", file=sys.stderr)
        raise SystemExit(1) from None
    finally:
        worker.close()
    print(json.dumps({"Time": round(total, 3), "Correct": correct, "Incorrect": 0, "Decisions": decisions}))


if __name__ == "__main__":
    main()
