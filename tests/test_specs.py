"""Task/dataset descriptors: YAML validated, unknown keys forbidden, errors name plugin, file and field."""

from __future__ import annotations

import pytest

from mlgym_core import DescriptorError, load_datasets, load_tasks

GOOD = """id: t1
name: T1
description: do it
submission: python
metric: Score
baseline_scores: {Score: 1.0}
"""


def _task(tmp_path, text, name="t1"):
    d = tmp_path / "tasks" / name
    d.mkdir(parents=True)
    (d / "task.yaml").write_text(text)
    return tmp_path / "tasks"


def test_good_descriptor_loads_frozen(tmp_path):
    (spec,) = load_tasks(_task(tmp_path, GOOD), plugin="p")
    assert spec.id == "t1" and spec.metric == "Score" and spec.files.name == "t1"
    with pytest.raises(Exception):
        spec.id = "other"  # frozen


@pytest.mark.parametrize("text, field, msg", [
    (GOOD + "colour: red\n", "colour", "unknown key"),
    (GOOD.replace("metric: Score\n", ""), "metric", "required field is missing"),
    (GOOD.replace("submission: python", "submission: zip"), "submission", "Input should be"),
    (GOOD + "training_timeout: soon\n", "training_timeout", "valid integer"),
    (GOOD + "resources: {gpus: many}\n", "resources.gpus", "valid integer"),
])
def test_bad_descriptor_names_plugin_file_field(tmp_path, text, field, msg):
    folder = _task(tmp_path, text)
    with pytest.raises(DescriptorError) as ei:
        load_tasks(folder, plugin="tasks_x")
    line = str(ei.value)
    assert "\n" not in line
    assert line.startswith("plugin 'tasks_x', ") and "t1/task.yaml" in line
    assert f"field '{field}'" in line and msg in line


def test_invalid_yaml_names_the_line(tmp_path):
    folder = _task(tmp_path, "id: t1\nname: [unclosed\n")
    with pytest.raises(DescriptorError, match=r"task\.yaml: line \d+ invalid YAML"):
        load_tasks(folder, plugin="p")


def test_non_mapping_yaml(tmp_path):
    folder = _task(tmp_path, "- a\n- b\n")
    with pytest.raises(DescriptorError, match="expected a mapping at the top level, got list"):
        load_tasks(folder)


def test_dataset_descriptor_unknown_key(tmp_path):
    (tmp_path / "d.yaml").write_text("id: d\ndescription: x\nurl: http://x\n")
    with pytest.raises(DescriptorError, match=r"d\.yaml: field 'url': unknown key"):
        load_datasets(tmp_path, plugin="p")


def test_bad_task_id(tmp_path):
    folder = _task(tmp_path, GOOD.replace("id: t1", "id: a/b"))
    with pytest.raises(DescriptorError, match="field 'id'"):
        load_tasks(folder)
