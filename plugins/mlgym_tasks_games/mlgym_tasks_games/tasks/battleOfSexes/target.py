"""The column player of the Battle of the Sexes task (the opponent your strategy meets)."""

import random


def target_column_strategy(history):
    """Play 1 in the first round; afterwards follow the row player's FIRST move:
    with probability 0.8 play what the row player played first, else the other move.

    Args:
        history: list of (row_move, column_move) tuples of the rounds played so far.
    Returns:
        0 or 1.
    """
    if not history:
        return 1
    first_row_move = history[0][0]
    if random.random() < 0.8:
        return first_row_move
    return 1 - first_row_move
