from importlib.resources import files

from mlgym_core import hookimpl, load_datasets, load_tasks

from .tabular import with_l1_baseline


@hookimpl
def register_tasks():
    return with_l1_baseline(load_tasks(files("mlgym_tasks_tabular") / "tasks", plugin="tasks_tabular"))


@hookimpl
def register_datasets():
    return load_datasets(files("mlgym_tasks_tabular") / "datasets", plugin="tasks_tabular")
