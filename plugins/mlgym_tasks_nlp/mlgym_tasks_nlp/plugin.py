"""Entry point of mlgym-tasks-nlp: two tasks, two datasets and ``mlgym data prepare``. Cheap to import."""

from importlib.resources import files

from mlgym_core import hookimpl, load_datasets, load_tasks


@hookimpl
def register_tasks():
    return load_tasks(files("mlgym_tasks_nlp") / "tasks", plugin="tasks_nlp")


@hookimpl
def register_datasets():
    return load_datasets(files("mlgym_tasks_nlp") / "datasets", plugin="tasks_nlp")


@hookimpl
def register_commands(cli):
    from .commands import add_data_commands

    add_data_commands(cli)
