"""Set ANSWER to a number as close to the target as you can (the task description says how it is scored)."""

ANSWER = 40
