from importlib.resources import files

from mlgym_core import hookimpl, load_datasets, load_tasks


@hookimpl
def register_tasks():
    return load_tasks(files("mlgym_tasks_games") / "tasks", plugin="tasks_games")


@hookimpl
def register_datasets():
    return load_datasets(files("mlgym_tasks_games") / "datasets", plugin="tasks_games")
