"""Evaluation of the Colonel Blotto task: prints {"Score": mean row payoff}.

A game's payoff is +1 when the row player wins more battlefields than the column player,
-1 when it wins fewer, 0 on a tie. An invalid allocation ends the evaluation with an error. As
in MLGym, an allocation is a list (or tuple) of non-negative Python ints (bools count, numpy
integers do not) summing to at most 120; entries past the sixth are not fought over but count
in the sum. Unlike MLGym, fewer than six entries are refused: MLGym compares only the fields
given, so ``[120]`` would win almost every round.
"""

import json

from gamerunner import fail, play, shown
from target import FIELDS, SOLDIERS, target_column_strategy


def check_allocation(a):
    if (not isinstance(a, list) or len(a) < FIELDS or not all(type(x) is int and x >= 0 for x in a)
            or sum(a) > SOLDIERS):
        fail(f"invalid allocation {shown(a)}: need a list of {FIELDS} non-negative ints (not numpy integers)"
             f" summing to at most {SOLDIERS}")
    return a


def payoff(row, col):
    won = sum(r > c for r, c in zip(row, col))
    lost = sum(r < c for r, c in zip(row, col))
    return (1, -1) if won > lost else (-1, 1) if won < lost else (0, 0)


if __name__ == "__main__":
    print(json.dumps({"Score": play(payoff, target_column_strategy, check_allocation, kind="allocation")}))
