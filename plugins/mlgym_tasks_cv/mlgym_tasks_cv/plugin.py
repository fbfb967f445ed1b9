"""Entry point of the computer-vision task pack. Cheap to import: no torch, datasets or PIL here."""

from importlib.resources import files

from mlgym_core import hookimpl, load_datasets, load_tasks


@hookimpl
def register_tasks():
    return load_tasks(files("mlgym_tasks_cv") / "tasks", plugin="tasks_cv")


@hookimpl
def register_datasets():
    return load_datasets(files("mlgym_tasks_cv") / "datasets", plugin="tasks_cv")
