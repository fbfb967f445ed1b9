from importlib.resources import files

from mlgym_core import hookimpl, load_tasks


@hookimpl
def register_tasks():
    return load_tasks(files("mlgym_tasks_rl") / "tasks", plugin="tasks_rl")
