"""Evaluation of the Battle of the Sexes task: prints {"Score": mean row payoff}."""

import json

from gamerunner import binary_move, play
from target import target_column_strategy

PAYOFFS = {(0, 0): (2, 1), (1, 1): (1, 2), (0, 1): (0, 0), (1, 0): (0, 0)}


def payoff(row, col):
    return PAYOFFS[(row, col)]


if __name__ == "__main__":
    print(json.dumps({"Score": play(payoff, target_column_strategy, binary_move)}))
