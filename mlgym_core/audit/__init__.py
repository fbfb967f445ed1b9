"""``mlgym audit``: does a task measure what it claims?

For each task, in real episodes: the baseline reproduces (its spread is the task's noise floor),
doing nothing does not pay, no attack of the library pays (:mod:`.attacks`, run by the
``cheater`` agent), and the evaluator is sound. :func:`~.runner.audit_task` runs one task;
``mlgym audit`` prints a table per task (or JSON) and exits non-zero when any task fails.

The public names (``AttackSpec``, ``load_attacks``, ``attacks``) are exported from ``mlgym_core``;
this package imports nothing, so ``mlgym --help`` stays cheap.
"""
