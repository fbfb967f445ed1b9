"""Your strategy for Colonel Blotto. Edit row_strategy; keep its name and signature."""

import random

SOLDIERS = 120
FIELDS = 6


def row_strategy(history):
    """Return an allocation: 6 non-negative integers summing to at most 120.

    Args:
        history: list of (row_allocation, column_allocation) tuples of the rounds played so far.
    """
    # Reinforce a random number of randomly chosen battlefields with 10-30 soldiers each.
    alloc = [0] * FIELDS
    for _ in range(random.randint(1, FIELDS)):
        alloc[random.randrange(FIELDS)] += random.randint(10, 30)
    # Fields left empty, in order, each take a random part of the soldiers still unassigned.
    left = SOLDIERS - sum(alloc)
    if left > 0:
        for i in range(FIELDS):
            if alloc[i] == 0:
                alloc[i] = random.randint(0, left)
                left -= alloc[i]
    # Scale to 120 soldiers, then fix the rounding one soldier at a time.
    total = sum(alloc)
    alloc = [x * SOLDIERS // total for x in alloc]
    while sum(alloc) != SOLDIERS:
        i = random.randrange(FIELDS)
        if sum(alloc) < SOLDIERS:
            alloc[i] += 1
        elif alloc[i] > 0:
            alloc[i] -= 1
    return alloc
