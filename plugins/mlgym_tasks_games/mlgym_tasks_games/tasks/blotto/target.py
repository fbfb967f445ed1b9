"""The column player of the Colonel Blotto task: a random allocation of 120 soldiers over 6 battlefields."""

import random

SOLDIERS = 120
FIELDS = 6


def target_column_strategy(history):
    """Draw 6 integers in [0, 120], scale them to sum to 120 (truncating), and add the
    soldiers lost to truncation to one random battlefield."""
    raw = [random.randint(0, SOLDIERS) for _ in range(FIELDS)]
    total = sum(raw) or 1
    alloc = [x * SOLDIERS // total for x in raw]
    alloc[random.randrange(FIELDS)] += SOLDIERS - sum(alloc)
    return alloc
