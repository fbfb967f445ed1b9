"""Your strategy for the iterated Prisoner's Dilemma. Edit row_strategy; keep its name and signature.
0 = cooperate, 1 = defect."""

import random


def row_strategy(history):
    """Choose the row player's move for the next round.

    Args:
        history: list of (row_move, column_move) tuples of the rounds played so far in this game.
    Returns:
        0 or 1.
    """
    if not history:
        return random.randint(0, 1)
    own_last, partner_last = history[-1]
    r = random.random()
    if partner_last == 1:
        if r < 0.75:
            return 1
        return own_last if r < 0.9 else 0
    if r < 0.6:
        return 0
    return own_last if r < 0.9 else 1
