"""The stdlib helper behind the viewer and editor, called the way the shell functions call it."""

import subprocess
import sys

from mlgym_tools.tools import SCRIPTS

ACI = str(SCRIPTS / "_aci.py")


def aci(*args, stdin=""):
    res = subprocess.run([sys.executable, ACI, *map(str, args)], input=stdin, capture_output=True, text=True)
    return res.returncode, res.stdout.rstrip("\n").split("\n")


def test_view_clamps_and_prints_the_window(tmp_path):
    f = tmp_path / "f.txt"
    f.write_text("".join(f"l{i}\n" for i in range(1, 31)))
    rc, out = aci("view", f, 28, 10)  # centre clamped to 30 - 5 = 25: lines 21..30
    assert rc == 0 and out[0] == "25"
    assert out[1:] == [f"[File: {f} (30 lines total)]", "(20 more lines above)"] + [f"{i}:l{i}" for i in range(21, 31)]
    rc, out = aci("view", f, 6, 11)  # odd window: floor/round as MLGym's jq arithmetic
    assert out == ["6", f"[File: {f} (30 lines total)]"] + [f"{i}:l{i}" for i in range(1, 12)] + [
        "(19 more lines below)"]  # 30 - 6 - 5.5 = 18.5 rounds half away from zero, like jq


def test_file_without_final_newline_and_empty_file(tmp_path):
    f = tmp_path / "g.py"
    f.write_text("a = 1\nb = 2")
    assert aci("view", f, 500, 1000)[1][1:] == [f"[File: {f} (2 lines total)]", "1:a = 1", "2:b = 2"]
    e = tmp_path / "e.txt"
    e.write_text("")
    assert aci("view", e, 500, 1000)[1][1:] == [f"[File: {e} (0 lines total)]"]


def test_insert_shifts_pre_existing_errors_below_the_insertion(tmp_path):
    f = tmp_path / "h.py"
    f.write_text("import os\nprint(missing_a)\nprint(missing_b)\n")
    rc, out = aci("insert", f, 1, 500, 1000, stdin="x = 1\ny = 2\n")
    assert rc == 0 and out[-1].startswith("File updated.")
    assert f.read_text() == "import os\nx = 1\ny = 2\nprint(missing_a)\nprint(missing_b)\n"


def test_edit_deleting_lines_and_new_error_inside_window(tmp_path):
    f = tmp_path / "k.py"
    f.write_text("a = 1\nb = 2\nc = 3\n")
    rc, out = aci("edit", f, 2, 3, 500, 1000, stdin="")
    assert f.read_text() == "a = 1\n" and out[0] == "500"
    rc, out = aci("edit", f, 1, 1, 500, 1000, stdin="a = nope\n")
    assert "- F821 undefined name 'nope'" in out and f.read_text() == "a = 1\n"
    assert out[0] == "500"  # CURRENT_LINE restored after a reverted edit


def test_image_detection(tmp_path):
    png = tmp_path / "x.dat"
    png.write_bytes(b"\x89PNG\r\n\x1a\n....")
    txt = tmp_path / "BMnotes.txt"
    txt.write_text("BM is not a bitmap here\n")
    assert aci("is_image", png)[0] == 0 and aci("is_image", txt)[0] == 1
