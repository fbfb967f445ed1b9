"""A corpus of realistic replies (the shapes real models write on MLGym) and what they parse to."""

import pytest

from mlgym_agents.history import last_n_observations
from mlgym_agents.parsing import FormatError, count_blocks, parse_thought_action, strip_discussion

EDIT_WITH_BACKTICKS = '''DISCUSSION
I'll make `row_strategy` print a Markdown fence into the log; the edit text holds a triple
backtick in the middle of a line, which must not end the block.
```
edit 1:3
def row_strategy(history):
    LOG.append("```")  # `inline` code too
    return 0
end_of_edit
```
'''

CORPUS = [
    # (id, reply, expected action or None for a format error)
    ("plain", "DISCUSSION\nLet's look around first.\n```\nls -a\n```", "ls -a"),
    ("bash-tag", "DISCUSSION\nOpen the baseline.\n```bash\nopen \"baseline.py\"\n```\n", 'open "baseline.py"'),
    ("python-tag-heredoc",
     "DISCUSSION\nWrite the strategy in one go.\n```python\ncat > strategy.py <<'EOF'\ndef row_strategy(h):\n"
     "    return 0\nEOF\n```",
     "cat > strategy.py <<'EOF'\ndef row_strategy(h):\n    return 0\nEOF"),
    ("tag-with-trailing-space", "DISCUSSION\nx\n```sh   \nvalidate\n```", "validate"),
    ("multiline-edit",
     "DISCUSSION\nFix the learning rate.\n\n```\nedit 12:14\n    lr = 3e-4\n    epochs = 20\n\n    wd = 0.01\n"
     "end_of_edit\n```",
     "edit 12:14\n    lr = 3e-4\n    epochs = 20\n\n    wd = 0.01\nend_of_edit"),
    ("edit-with-inline-backticks", EDIT_WITH_BACKTICKS,
     'edit 1:3\ndef row_strategy(history):\n    LOG.append("```")  # `inline` code too\n    return 0\nend_of_edit'),
    ("nested-tagged-fence",
     "DISCUSSION\nAdd a README with an example.\n```\ncat > README.md <<'EOF'\nUsage:\n```python\nimport x\n```\nEOF\n```",
     None),  # two complete ```...``` pairs: MLGym counts them as two blocks
    ("stray-text-after", "DISCUSSION\nSubmit now.\n```\nsubmit\n```\nI hope this scores well!", "submit"),
    ("no-discussion-word", "I will validate the current artefact.\n```\nvalidate\n```", "validate"),
    ("two-blocks", "DISCUSSION\nTwo things.\n```\nls\n```\nthen\n```\npwd\n```", None),
    ("no-block", "DISCUSSION\nI think we should train longer, then submit.", None),
    ("empty", "", None),
    ("unclosed", "DISCUSSION\nRun it.\n```\npython train.py\n", None),
    ("inline-only", "DISCUSSION\nRun `python train.py` now.", None),
    ("leading-blank-lines", "DISCUSSION\nGo.\n```\n\npython train.py --epochs 3\n\n```", "python train.py --epochs 3"),
    ("crlf-free-indent", "DISCUSSION\nInsert.\n```\ninsert 0\nimport numpy as np\nend_of_insert\n```",
     "insert 0\nimport numpy as np\nend_of_insert"),
]


@pytest.mark.parametrize("reply,expected", [c[1:] for c in CORPUS], ids=[c[0] for c in CORPUS])
def test_corpus(reply, expected):
    if expected is None:
        with pytest.raises(FormatError):
            parse_thought_action(reply)
    else:
        thought, action = parse_thought_action(reply)
        assert action.rstrip("\n") == expected and action.endswith("\n")  # MLGym keeps the final newline
        assert "```" not in thought or reply.count("```") > 2


def test_thought_is_text_outside_the_block():
    thought, action = parse_thought_action("DISCUSSION\nCheck files.\n```\nls\n```\ntrailing words")
    assert action == "ls\n"
    assert thought == "DISCUSSION\nCheck files.\ntrailing words"
    assert strip_discussion(thought) == "Check files.\ntrailing words"


def test_thought_and_action_are_mlgyms_unstripped_slices():
    # as in MLGym's published trajectories: "thought": "DISCUSSION\n...\n\n", "action": "ls\n"
    assert parse_thought_action("DISCUSSION\nLook first.\n\n```\nls\n```") == ("DISCUSSION\nLook first.\n\n", "ls\n")
    # the opening fence takes the blank lines after it, the action keeps those before the closing one
    assert parse_thought_action("D\n```\n\npython t.py\n\n```")[1] == "python t.py\n\n"


def test_crlf_reply_parses():
    thought, action = parse_thought_action("DISCUSSION\r\nList.\r\n```\r\nedit 1:1\r\nx = 1\r\nend_of_edit\r\n```\r\n")
    assert (thought, action) == ("DISCUSSION\nList.\n", "edit 1:1\nx = 1\nend_of_edit\n")


def test_several_blocks_allowed_takes_the_last():
    reply = "DISCUSSION\nA.\n```\nls\n```\nB.\n```\npwd\n```"
    assert count_blocks(reply) == 2
    assert parse_thought_action(reply, allow_several=True)[1] == "pwd\n"


def test_last5_keeps_task_and_last_five_observations():
    hist = [{"role": "system", "content": "sys", "agent": "primary_0"},
            {"role": "user", "content": "task\nline2", "agent": "primary_0"}]
    for i in range(8):
        hist.append({"role": "assistant", "content": f"a{i}", "thought": "t", "action": "ls", "agent": "primary_0"})
        hist.append({"role": "user", "content": f"obs{i}\nx\ny", "agent": "primary_0"})
    out = last_n_observations(hist, 5)
    users = [m["content"] for m in out if m["role"] == "user"]
    assert users[0] == "task\nline2"
    assert users[1:4] == ["Old output omitted (3 lines)"] * 3
    assert users[4:] == [f"obs{i}\nx\ny" for i in range(3, 8)]
    assert all(set(m) <= {"role", "content"} for m in out)  # no agent/thought/action fields reach the API
    assert [m["content"] for m in out if m["role"] == "assistant"] == [f"a{i}" for i in range(8)]
