"""The ACI through a real sandbox (local runtime under bubblewrap): exact MLGym output formats."""

import json
import shutil

import pytest


def run(env, action):
    obs = env.step(action)[0]
    assert not obs.endswith("\n") and "\n\n" not in obs, obs  # MLGym drops empty lines
    return obs


needs_bwrap = pytest.mark.skipif(shutil.which("bwrap") is None, reason="bubblewrap is not installed")

pytestmark = needs_bwrap
WS = "/home/agent/workspace"


def _png_1x1():
    import struct
    import zlib

    def chunk(kind, data):
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))

    ihdr = struct.pack(">IIBBBBB", 1, 1, 8, 2, 0, 0, 0)
    return (b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", ihdr) + chunk(b"IDAT", zlib.compress(b"\x00\xff\x00\x00"))
            + chunk(b"IEND", b""))


PNG_1X1 = _png_1x1()


def numbered(a, b, fn=str):
    return [f"{i}:{fn(i)}" for i in range(a, b + 1)]


@pytest.fixture(scope="module")
def env():
    import os
    import shutil
    import tempfile

    from mlgym_core.env import MLGymEnv
    from mlgym_core.testing import fixture_task

    d = tempfile.mkdtemp(prefix="mt-")
    with fixture_task() as spec:  # core's one-file task: no task pack needed
        e = MLGymEnv(spec, tools=["default"], runtime="local", max_steps=1000, work_dir=os.path.join(d, "w"))
        e.reset(seed=0)
        assert e.isolation == "bwrap"
        run(e, "seq 1 3000 > big.txt && seq 1 5000 > huge.txt && printf 'a\\nb\\nc\\n' > abc.txt")
        yield e
        e.close()
    shutil.rmtree(d, ignore_errors=True)


def test_open_whole_small_file(env):
    src = (env.workspace_host / "answer.py").read_text().split("\n")[:-1]
    obs = run(env, "open answer.py").split("\n")
    assert obs[0] == f"[File: {WS}/answer.py ({len(src)} lines total)]"
    assert obs[1:] == [f"{i}:{t}" for i, t in enumerate(src, 1)]


def test_windowing_goto_scroll(env):
    obs = run(env, "open big.txt").split("\n")
    assert obs == [f"[File: {WS}/big.txt (3000 lines total)]", *numbered(1, 1000), "(2000 more lines below)"]
    obs = run(env, "goto 1500").split("\n")  # centre 1500 + 500 - 166 = 1834
    assert obs == [f"[File: {WS}/big.txt (3000 lines total)]", "(1334 more lines above)", *numbered(1335, 2334),
                   "(666 more lines below)"]
    obs = run(env, "scroll_down").split("\n")  # 1834 + 998, clamped to 3000 - 500
    assert obs == [f"[File: {WS}/big.txt (3000 lines total)]", "(2000 more lines above)", *numbered(2001, 3000)]
    obs = run(env, "scroll_up").split("\n")  # 2500 - 998 = 1502
    assert obs == [f"[File: {WS}/big.txt (3000 lines total)]", "(1002 more lines above)", *numbered(1003, 2002),
                   "(998 more lines below)"]
    assert json.loads(run(env, "state")) == {"open_file": f"{WS}/big.txt", "working_dir": WS}


def test_open_with_line_numbers(env):
    obs = run(env, "open abc.txt 7").split("\n")
    assert obs == ["Warning: <line_number> (7) is greater than the number of lines in the file (3)",
                   "Warning: Setting <line_number> to 3", f"[File: {WS}/abc.txt (3 lines total)]", "1:a", "2:b", "3:c"]
    assert run(env, "open abc.txt x") == 'Usage: open "<file>" [<line_number>]\nError: <line_number> must be a number'
    assert run(env, "open huge.txt 10") == ("The file is larger than 20000 characters, please use "
                                            "'head -n NUM_LINES' to open it")
    obs = run(env, "open big.txt 2000").split("\n")  # 2000 + 334 = 2334
    assert obs[1:3] == ["(1834 more lines above)", "1835:1835"] and obs[-1] == "(166 more lines below)"


def test_open_errors(env):
    assert run(env, "open nope.txt") == "File nope.txt not found"
    assert run(env, "open data") == "File data not found"  # the fixture task has no data folder
    run(env, "mkdir -p sub")
    assert run(env, "open sub") == ("Error: sub is a directory. You can only open files. Use cd or ls to navigate "
                                    "directories.")
    (env.workspace_host / "pic.png").write_bytes(PNG_1X1)
    assert run(env, "open pic.png") == ("Error: pic.png is an image file. Current environment does not support "
                                        "image viewing.")
    # by content, as MLGym's `file --mime-type` test: a renamed image is refused, a text .png opens
    (env.workspace_host / "pic.dat").write_bytes(PNG_1X1)
    assert run(env, "open pic.dat").startswith("Error: pic.dat is an image file.")
    run(env, "echo 'not a picture' > text.png")
    assert run(env, "open text.png") == f"[File: {WS}/text.png (1 lines total)]\n1:not a picture"
    assert run(env, "goto 1 2") == "goto allows only one line number at a time."
    run(env, "open abc.txt")
    assert run(env, "goto 9") == "Error: <line> must be less than or equal to 3"
    assert run(env, "goto x") == "Usage: goto <line>\nError: <line> must be a number"


def test_create(env):
    assert run(env, "create new_file.py") == f"[File: {WS}/new_file.py (1 lines total)]\n1:"
    assert run(env, "create abc.txt").split("\n")[:2] == ["Error: File 'abc.txt' already exists.",
                                                           f"[File: {WS}/abc.txt (3 lines total)]"]


def test_search_commands(env):
    run(env, "mkdir -p s/.hidden && printf 'foo\\nbar foo\\n' > s/one.txt && printf 'foo\\n' > s/two.txt "
             "&& printf 'foo\\n' > s/.hidden/three.txt")
    assert run(env, "search_dir foo s").split("\n") == [
        f'Found 3 matches for "foo" in {WS}/s:', f"{WS}/s/one.txt (2 matches)", f"{WS}/s/two.txt (1 matches)",
        f'End of matches for "foo" in {WS}/s']
    assert run(env, "search_dir zzz_nothing") == f'No matches found for "zzz_nothing" in {WS}'
    assert run(env, "search_dir foo nodir") == "Directory nodir not found"
    assert run(env, "search_file foo s/one.txt").split("\n") == [
        f'Found 2 matches for "foo" in {WS}/s/one.txt:', "Line 1:foo", "Line 2:bar foo",
        f'End of matches for "foo" in {WS}/s/one.txt']
    assert run(env, "search_file foo missing.txt") == ("Usage: search_file <search_term> [<file>]\n"
                                                       "Error: File name missing.txt not found. Please provide a "
                                                       "valid file name.")
    obs = run(env, "find_file '*.txt' s").split("\n")
    assert obs[0] == f'Found 3 matches for "*.txt" in {WS}/s:'
    assert sorted(obs[1:]) == [f"{WS}/s/.hidden/three.txt", f"{WS}/s/one.txt", f"{WS}/s/two.txt"]
    assert run(env, "find_file nothing.md") == f'No matches found for "nothing.md" in {WS}'
    run(env, "seq 1 150 | sed 's/^/hit /' > many.txt")  # MLGym's 100-line limit never fires: all are printed
    assert run(env, "search_file hit many.txt").split("\n") == [
        f'Found 150 matches for "hit" in {WS}/many.txt:', *[f"Line {i}:hit {i}" for i in range(1, 151)],
        f'End of matches for "hit" in {WS}/many.txt']
    # names with spaces are printed whole (MLGym prints only the first word: a defect)
    run(env, "mkdir -p 'sp ace' && echo needle > 'sp ace/a b.txt'")
    assert run(env, "search_dir needle 'sp ace'").split("\n") == [
        f'Found 1 matches for "needle" in {WS}/sp ace:', f"{WS}/sp ace/a b.txt (1 matches)",
        f'End of matches for "needle" in {WS}/sp ace']


def test_edit_and_insert(env):
    run(env, "printf 'def f(x):\\n    return x\\n\\n\\nprint(f(1))\\n' > m.py")
    run(env, "open m.py")
    obs = run(env, "edit 2:2\n    y = x + 1\n    return y\nend_of_edit").split("\n")
    assert obs == [f"[File: {WS}/m.py (6 lines total)]", "1:def f(x):", "2:    y = x + 1", "3:    return y", "4:",
                   "5:", "6:print(f(1))",
                   "File updated. Please review the changes and make sure they are correct (correct indentation, no "
                   "duplicate lines, etc). Edit the file again if necessary."]
    obs = run(env, "insert 0\nimport os\nend_of_insert").split("\n")
    assert obs[:3] == [f"[File: {WS}/m.py (7 lines total)]", "1:import os", "2:def f(x):"]
    assert (env.workspace_host / "m.py").read_text() == ("import os\ndef f(x):\n    y = x + 1\n    return y\n\n\n"
                                                         "print(f(1))\n")
    assert run(env, "edit 2\nfoo\nend_of_edit") == "Usage: edit <start_line>:<end_line>"
    assert run(env, "edit a:2\nfoo\nend_of_edit") == ("Usage: edit <start_line>:<end_line>\n"
                                                     "Error: start_line must be a number")
    assert run(env, "insert x\nfoo\nend_of_insert") == ("Usage: insert <line_number>\n"
                                                       "Error: line_number must be a number")


def test_malformed_edit_is_refused_without_running(env):
    obs = run(env, "edit 1:1\nimport sys")
    assert obs.startswith("Malformed edit command")


def test_lint_revert_shows_errors_and_both_versions(env):
    run(env, "printf 'def f(x):\\n    return x\\n' > lint.py")
    run(env, "open lint.py")
    obs = run(env, "edit 2:2\n    return undefined_thing\nend_of_edit")
    rule = "-------------------------------------------------"
    assert obs.split("\n") == [
        "Your proposed edit has introduced new syntax error(s). Please read this error message carefully and then "
        "retry editing the file.", "ERRORS:", "- F821 undefined name 'undefined_thing'",
        "This is how your edit would have looked if applied", rule, f"[File: {WS}/lint.py (2 lines total)]",
        "1:def f(x):", "2:    return undefined_thing", rule,
        "This is the original code before your edit", rule, f"[File: {WS}/lint.py (2 lines total)]",
        "1:def f(x):", "2:    return x", rule,
        "Your changes have NOT been applied. Please fix your edit command and try again.",
        "You either need to 1) Specify the correct start/end line arguments or 2) Correct your edit code.",
        "DO NOT re-run the same failed edit command. Running it again will lead to the same error."]
    assert run(env, "cat lint.py") == "def f(x):\n    return x"
    obs = run(env, "insert 1\n  bad_indent = 1\nend_of_insert")
    assert "Your proposed insertion has introduced new syntax error(s)" in obs
    assert "- E999 IndentationError: unexpected indent" in obs.split("\n")
    assert run(env, "cat lint.py") == "def f(x):\n    return x"


def test_pre_existing_errors_are_not_reported(env):
    run(env, "printf 'a = 1\\nb = 2\\nprint(missing)\\n' > old.py")
    run(env, "open old.py")
    obs = run(env, "edit 1:1\nx = 1\ny = 2\nend_of_edit")  # shifts the old F821 from line 3 to line 4
    assert obs.endswith("Edit the file again if necessary.")
    assert run(env, "cat old.py") == "x = 1\ny = 2\nb = 2\nprint(missing)"
    obs = run(env, "insert 0\nimport os\nend_of_insert")
    assert obs.endswith("Edit the file again if necessary.")


def test_non_python_files_are_not_linted(env):
    run(env, "open abc.txt")
    obs = run(env, "edit 1:1\n  undefined(\nend_of_edit")
    assert obs.split("\n")[:2] == [f"[File: {WS}/abc.txt (3 lines total)]", "1:  undefined("]


def test_read_only_files_are_refused(env):
    before = run(env, "cat evaluate.py")
    run(env, "open evaluate.py")
    assert run(env, "edit 1:1\nimport os\nend_of_edit") == f"Error: You cannot edit read-only file {WS}/evaluate.py"
    assert run(env, "insert 0\nimport os\nend_of_insert") == f"Error: You cannot edit read-only file {WS}/evaluate.py"
    assert run(env, "cat evaluate.py") == before
    assert run(env, "create data/new.py") == ("Error: You cannot create file data/new.py: its folder is read-only "
                                              "or missing")
    assert json.loads(run(env, "state"))["open_file"] == f"{WS}/evaluate.py"


def test_no_file_open_messages(make_env):
    env = make_env()
    env.reset(seed=0)
    assert json.loads(run(env, "state")) == {"open_file": "n/a", "working_dir": WS}
    assert run(env, "goto 3") == "No file open. Use the open command first."
    assert run(env, "scroll_down") == "No file open. Use the open command first."
    assert run(env, "edit 1:1\nx\nend_of_edit") == "No file open. Use the `open` command first."
    assert run(env, "search_file foo") == "No file open. Use the open command first."


def test_observations_are_shown_as_mlgym_shows_them(env):
    # empty lines, a trailing newline, CRLF and tqdm progress bars never reach the agent
    assert run(env, "echo a; echo; echo b; echo") == "a\nb"
    assert run(env, "printf 'x\\r\\ny\\r\\n'") == "x\ny"
    assert run(env, "echo ' 50%|#####     | 5/10 [00:01<00:01,  4.2it/s]'; echo done") == "done"
    # MLGym's container aliases ls='ls -F': folders end in /, executables (the read-only evaluator) in *
    run(env, "mkdir -p lsdir")
    listing = run(env, "ls").split("\n")
    assert "evaluate.py*" in listing and "lsdir/" in listing and "answer.py" in listing


def test_edit_edge_cases(env):
    run(env, "printf 'a\\nb\\nc\\n' > e.txt")
    run(env, "open e.txt")
    # line 0 and an end before start - 1 are refused, the file unchanged (MLGym: a bash error, or
    # duplicated lines)
    assert run(env, "edit 0:1\nX\nend_of_edit") == ("Usage: edit <start_line>:<end_line>\n"
                                                   "Error: start_line must be at least 1")
    assert run(env, "edit 3:1\nX\nend_of_edit") == ("Usage: edit <start_line>:<end_line>\n"
                                                   "Error: end_line (1) must not be less than start_line - 1 (2)")
    assert (env.workspace_host / "e.txt").read_text() == "a\nb\nc\n"
    # end = start - 1 inserts before start, as in MLGym
    assert run(env, "edit 2:1\nX\nend_of_edit").split("\n")[:5] == [
        f"[File: {WS}/e.txt (4 lines total)]", "1:a", "2:X", "3:b", "4:c"]
    # deleting every line leaves one empty line, and the viewer shows it
    assert run(env, "edit 1:4\nend_of_edit").split("\n")[:2] == [f"[File: {WS}/e.txt (1 lines total)]", "1:"]
    assert (env.workspace_host / "e.txt").read_text() == "\n"
    # an edit that is not on the first line of the action is wrapped too (and the line before runs)
    obs = run(env, "echo first\nedit 1:1\nY\nend_of_edit").split("\n")
    assert obs[:3] == ["first", f"[File: {WS}/e.txt (1 lines total)]", "1:Y"]
    obs = run(env, "edit 1:1\nP\nend_of_edit\ninsert 1\nQ\nend_of_insert").split("\n")
    assert obs[-3:-1] == ["1:P", "2:Q"]
    assert (env.workspace_host / "e.txt").read_text() == "P\nQ\n"


def test_edit_in_a_read_only_folder_is_refused(env):
    run(env, "mkdir -p rodir && echo q > rodir/f.txt && chmod 555 rodir")
    run(env, "open rodir/f.txt")  # the file itself is writable; MLGym refuses (its backup copy fails)
    assert run(env, "edit 1:1\nZ\nend_of_edit") == f"Error: You cannot edit read-only file {WS}/rodir/f.txt"
    assert (env.workspace_host / "rodir" / "f.txt").read_text() == "q\n"
    run(env, "chmod 755 rodir")
