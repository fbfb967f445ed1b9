"""mlgym-tools helper for the windowed viewer and the linting editor (standard library only).

Called by the shell functions in defaults.sh and edit_linting.sh:
  _aci.py view FILE CURRENT_LINE WINDOW
  _aci.py edit FILE START END CURRENT_LINE WINDOW     (replacement text on stdin)
  _aci.py insert FILE AFTER CURRENT_LINE WINDOW      (text on stdin)
  _aci.py is_image FILE                              (exit status 0 when FILE is an image)
  _aci.py state OPEN_FILE WORKING_DIR
The first line printed by view/edit/insert is the new CURRENT_LINE; the rest is the observation.
"""

import json
import math
import os
import re
import shutil
import subprocess
import sys

LINT_SELECT = "F821,F822,F831,E111,E112,E113,E999,E902"
IMAGE_MAGIC = (b"\x89PNG", b"\xff\xd8\xff", b"GIF87a", b"GIF89a", b"II*\x00", b"MM\x00*", b"8BPS",
               b"\x00\x00\x00\x0cjP  ")
RULE = "-------------------------------------------------"


def read_lines(path):
    """The file's lines as bash's mapfile -t sees them (a final newline does not add a line)."""
    with open(path, "rb") as f:
        data = f.read()
    text = data.decode("utf-8", "surrogateescape")
    if not text:
        return []
    lines = text.split("\n")
    if lines[-1] == "":
        lines.pop()
    return lines


def jq_round(x):
    return math.floor(x + 0.5) if x >= 0 else -math.floor(-x + 0.5)


def constrain(cur, total, window):
    half = math.floor(window / 2)
    cur = min(cur, total - half)
    return max(cur, half)


def render(path, lines, cur, window):
    """MLGym's viewer output for the window centred on ``cur``."""
    total = len(lines)
    out = [f"[File: {os.path.realpath(path)} ({total} lines total)]"]
    above = max(0, math.floor(cur - window / 2))
    below = jq_round(max(0, total - cur - window / 2))
    if above > 0:
        out.append(f"({above} more lines above)")
    head = math.floor(max(cur + window / 2, window / 2))
    numbered = [f"{i}:{t}" for i, t in enumerate(lines[:head], start=1)]
    out.extend(numbered[-int(window):] if window > 0 else [])
    if below > 0:
        out.append(f"({below} more lines below)")
    return out


def emit(cur, body):
    sys.stdout.buffer.write(("\n".join([str(cur), *body]) + "\n").encode("utf-8", "surrogateescape"))


def cmd_view(path, cur, window):
    lines = read_lines(path)
    cur = constrain(cur, len(lines), window)
    emit(cur, render(path, lines, cur, window))


def flake8_command():
    exe = shutil.which("flake8")
    if exe:
        return [exe]
    for py in (sys.executable, "/usr/bin/python3"):
        if py and os.path.exists(py):
            probe = subprocess.run([py, "-c", "import flake8"], capture_output=True)
            if probe.returncode == 0:
                return [py, "-m", "flake8"]
    return None


def lint(path):
    cmd = flake8_command()
    if cmd is None:
        return None
    res = subprocess.run(cmd + ["--isolated", f"--select={LINT_SELECT}", path], capture_output=True, text=True)
    return res.stdout + res.stderr


def parse_errors(text):
    errs = []
    for line in (text or "").splitlines():
        line = line.strip()
        m = re.match(r"^(.*):(\d+):(\d+): (.*)$", line)
        if m:
            errs.append((m.group(1), int(m.group(2)), int(m.group(3)), m.group(4)))
    return errs


def new_errors(after, before, first, last, n_lines):
    """Errors of ``after`` that were not in ``before`` once lines first..last became n_lines lines."""
    shift = n_lines - (last - first + 1)
    old = set()
    for fn, ln, col, msg in parse_errors(before):
        if ln < first:
            old.add((fn, ln, col, msg))
        elif ln > last:
            old.add((fn, ln + shift, col, msg))
    return [f"- {msg}" for fn, ln, col, msg in parse_errors(after) if (fn, ln, col, msg) not in old]


def writable(path):
    """Really writable: permission bits and mount (a read-only bind mount fails the open), and in a
    writable folder (MLGym refuses there too: its editor first copies the file next to itself)."""
    if not os.access(path, os.W_OK) or not os.access(os.path.dirname(os.path.abspath(path)), os.W_OK):
        return False
    try:
        with open(path, "r+b"):
            pass
    except OSError:
        return False
    return True


def write_lines(path, lines):
    data = "".join(f"{t}\n" for t in lines) if lines else "\n"
    with open(path, "wb") as f:
        f.write(data.encode("utf-8", "surrogateescape"))


def read_stdin_lines():
    data = sys.stdin.buffer.read().decode("utf-8", "surrogateescape")
    lines = data.split("\n")
    lines.pop()  # text after the last newline is not a complete line (bash `read` drops it too)
    return lines


def change(path, first, last, new, cur, window, kind):
    """Replace lines first..last (1-based, inclusive; last = first - 1 inserts) with ``new``."""
    if not writable(path):
        emit(cur, [f"Error: You cannot edit read-only file {path}"])
        return 1
    if kind == "edit" and (first < 1 or last < first - 1):
        # MLGym: line 0 aborts its editor with a bash error; an end line before start - 1 duplicates
        # the lines in between. Both are refused here, the file unchanged.
        why = "start_line must be at least 1" if first < 1 else \
            f"end_line ({last}) must not be less than start_line - 1 ({first - 1})"
        emit(cur, ["Usage: edit <start_line>:<end_line>", f"Error: {why}"])
        return 1
    original_bytes = open(path, "rb").read()
    lines = read_lines(path)
    is_py = path.endswith(".py")
    before = lint(path) if is_py else None
    updated = lines[:first - 1] + new + lines[last:]
    write_lines(path, updated)
    updated = updated or [""]  # deleting every line leaves one empty line, as in MLGym
    errors = []
    if is_py and before is not None:
        errors = new_errors(lint(path), before, first, last, len(new))
    if not errors:
        cur = constrain(first - 1 if kind == "edit" else first, len(updated), window)
        emit(cur, render(path, updated, cur, window) + [
            "File updated. Please review the changes and make sure they are correct (correct indentation, "
            "no duplicate lines, etc). Edit the file again if necessary."])
        return 0
    noun, verb = ("edit", "editing") if kind == "edit" else ("insertion", "inserting into")
    body = [f"Your proposed {noun} has introduced new syntax error(s). Please read this error message "
            f"carefully and then retry {verb} the file.", "", "ERRORS:", *errors, ""]
    n = len(new)
    w1 = n + 10
    c1 = constrain((n // 2) + first - 1, len(updated), w1)
    body += [f"This is how your {noun} would have looked if applied", RULE, *render(path, updated, c1, w1), RULE, ""]
    with open(path, "wb") as f:
        f.write(original_bytes)
    if kind == "edit":
        s, e = first - 1, last
        w2 = e - s + 10
        c2 = constrain(((e - s + 1) // 2) + s, len(lines), w2)
    else:
        w2 = 10
        c2 = constrain(first - 1, len(lines), w2)
    body += [f"This is the original code before your {noun}", RULE, *render(path, lines, c2, w2), RULE]
    if kind == "edit":
        body += ["Your changes have NOT been applied. Please fix your edit command and try again.",
                 "You either need to 1) Specify the correct start/end line arguments or 2) Correct your edit code.",
                 "DO NOT re-run the same failed edit command. Running it again will lead to the same error."]
    else:
        body += ["Your changes have NOT been applied. Please fix your insert command and try again.",
                 "You either need to 1) Specify the correct line number argument or 2) Correct your insertion code.",
                 "DO NOT re-run the same failed insert command. Running it again will lead to the same error."]
    emit(cur, body)
    return 0


def is_image(path):
    """An image by content, as `file --mime-type` says image/* (MLGym's test); the name does not count."""
    try:
        with open(path, "rb") as f:
            head = f.read(1024)
    except OSError:
        return False
    if head.startswith(IMAGE_MAGIC):
        return True
    if head.startswith(b"RIFF"):
        return head[8:12] == b"WEBP"
    if head.startswith(b"BM") and len(head) >= 18:
        return int.from_bytes(head[14:18], "little") in (12, 40, 52, 56, 64, 108, 124)
    if head[4:12] in (b"ftypavif", b"ftypheic", b"ftypheix", b"ftypmif1"):
        return True
    if len(head) >= 3 and head[0:1] == b"P" and head[1:2] in b"1234567" and head[2:3] in b" \t\r\n":
        return True
    text = head.lstrip()
    return text.startswith(b"<svg") or (text.startswith(b"<?xml") and b"<svg" in head)


def cmd_state(open_file, working_dir):
    state = {"open_file": os.path.realpath(open_file) if open_file else "n/a", "working_dir": working_dir}
    sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
    try:
        import _mlgym_client

        footer = _mlgym_client.memory_footer()
    except Exception:
        footer = None
    if footer is not None:
        state["memory_records_number"] = footer["records"]
        state["memory_key_words"] = " | ".join(footer["key_words"])
    print(json.dumps(state))


def main(argv):
    op = argv[1] if len(argv) > 1 else ""
    try:
        if op == "view":
            cmd_view(argv[2], int(argv[3]), int(argv[4]))
        elif op == "edit":
            return change(argv[2], int(argv[3]), int(argv[4]), read_stdin_lines(), int(argv[5]), int(argv[6]),
                          "edit")
        elif op == "insert":
            after = int(argv[3])
            return change(argv[2], after + 1, after, read_stdin_lines(), int(argv[4]), int(argv[5]), "insert")
        elif op == "is_image":
            return 0 if is_image(argv[2]) else 1
        elif op == "state":
            cmd_state(argv[2], argv[3])
        else:
            print(f"_aci.py: unknown operation {op!r}")
            return 2
    except (OSError, ValueError, IndexError) as exc:
        print(f"Error: {op}: {exc}")
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
