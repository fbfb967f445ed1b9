from importlib.resources import files

from mlgym_core import hookimpl, load_datasets, load_tasks, with_baseline_script


@hookimpl
def register_tasks():
    tasks = files("mlgym_tasks_tabular") / "tasks"
    # the L1 variant gives no baseline code: the baseline agent runs the main task's baseline.py
    return with_baseline_script(load_tasks(tasks, plugin="tasks_tabular"), "regressionKaggleHousePriceL1",
                                tasks / "regressionKaggleHousePrice" / "baseline.py")


@hookimpl
def register_datasets():
    return load_datasets(files("mlgym_tasks_tabular") / "datasets", plugin="tasks_tabular")
