"""The column player of the Prisoner's Dilemma task. 0 = cooperate, 1 = defect.

Every round it picks one of eleven strategies uniformly at random and plays that strategy's
move. ``history`` is a list of (row_move, column_move) tuples; "they" below is the row player.
"""

import random


def noisy_random(history):
    """Defect first; then cooperate 1/3, defect 1/6, repeat own last move 0.4, else the
    opposite of their last move."""
    if not history:
        return 1
    their, mine = history[-1]
    r = random.random()
    if r < 0.3333:
        return 0
    if r < 0.5:
        return 1
    if r < 0.9:
        return mine
    return 1 - their


def tit_for_tat(history):
    return history[-1][0] if history else 0


def always_cooperate(history):
    return 0


def always_defect(history):
    return 1


def uniform_random(history):
    return random.choice((0, 1))


def grim_trigger(history):
    return 1 if any(their == 1 for their, _ in history) else 0


def pavlov(history):
    """Cooperate first, and whenever both played the same last round; else defect."""
    if not history:
        return 0
    their, mine = history[-1]
    return 0 if their == mine else 1


def tit_for_two_tats(history):
    return 1 if len(history) >= 2 and history[-1][0] == 1 and history[-2][0] == 1 else 0


def suspicious_tit_for_tat(history):
    return history[-1][0] if history else 1


def coin_flip(history):
    return 0 if random.random() < 0.5 else 1


def forgiving_tit_for_tat(history):
    """Tit for tat, except that two defections in a row are forgiven."""
    if not history:
        return 0
    if len(history) >= 2 and history[-1][0] == 1 and history[-2][0] == 1:
        return 0
    return history[-1][0]


STRATEGIES = [noisy_random, tit_for_tat, always_cooperate, always_defect, uniform_random, grim_trigger,
              pavlov, tit_for_two_tats, suspicious_tit_for_tat, coin_flip, forgiving_tit_for_tat]


def target_column_strategy(history):
    return random.choice(STRATEGIES)(history)
