"""Evaluation of the Colonel Blotto task: prints {"Score": mean row payoff}.

A game's payoff is +1 when the row player wins more battlefields than the column player,
-1 when it wins fewer, 0 on a tie. An invalid allocation ends the evaluation with an error.
"""

import json

from gamerunner import fail, play
from target import FIELDS, SOLDIERS, target_column_strategy


def check_allocation(a):
    if (not isinstance(a, list) or len(a) != FIELDS or not all(isinstance(x, int) and x >= 0 for x in a)
            or sum(a) > SOLDIERS):
        fail(f"invalid allocation {a!r}: need {FIELDS} non-negative integers summing to at most {SOLDIERS}")
    return a


def payoff(row, col):
    won = sum(r > c for r, c in zip(row, col))
    lost = sum(r < c for r, c in zip(row, col))
    return (1, -1) if won > lost else (-1, 1) if won < lost else (0, 0)


if __name__ == "__main__":
    print(json.dumps({"Score": play(payoff, target_column_strategy, check_allocation)}))
