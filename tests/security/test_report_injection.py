"""Agent-written text (actions, thoughts, observations) cannot break out of the HTML report's data.

The report embeds trajectories as JSON inside <script type="application/json"> blocks; an agent
that writes "</script><script>..." or "<!--<script>" into its trajectory must not get markup or
script into the page a researcher opens (also served live by `mlgym view`).
"""

from __future__ import annotations

import json
import re
import shutil
from pathlib import Path

from click.testing import CliRunner

from mlgym_core.cli import cli

FIX = Path(__file__).resolve().parents[1] / "fixtures" / "reports" / "basic"
PAYLOADS = ["</script><script>window.PWNED=1</script>", "<!--<script>", "</SCRIPT ><img src=x onerror=alert(1)>"]


def _scripts(html: str) -> int:
    return len(re.findall(r"<script\b", html, flags=re.I))


def _carried_text(html: str) -> str:
    """Everything the page carries as data: its JSON blocks, with the packed steps unpacked."""
    import base64
    import gzip

    blocks = re.findall(r'<script type="application/json" id="([\w-]+)">(.*?)</script>', html, flags=re.S)
    out = []
    for name, body in blocks:
        value = json.loads(body)
        out.append(json.dumps(value))
        if name == "steps-data":
            out += [gzip.decompress(base64.b64decode(b)).decode() for b in value if b]
    return "\n".join(out)


def test_agent_text_cannot_open_a_script_in_the_report(tmp_path: Path) -> None:
    clean, evil = tmp_path / "clean", tmp_path / "evil"
    for d in (clean, evil):
        shutil.copytree(FIX, d)
    trajs = sorted(evil.rglob("*.traj"))
    assert trajs
    for t in trajs:
        data = json.loads(t.read_text())
        for step in data["trajectory"]:
            step["action"] = step.get("action", "") + PAYLOADS[0]
            step["observation"] = step.get("observation", "") + PAYLOADS[1] + PAYLOADS[2]
            step["thought"] = str(step.get("thought", "")) + PAYLOADS[0]
        t.write_text(json.dumps(data))
    pages = {}
    for name, d in (("clean", clean), ("evil", evil)):
        out = tmp_path / f"{name}.html"
        res = CliRunner().invoke(cli, ["report", str(d), "--html", str(out)])
        assert res.exit_code == 0, res.output
        pages[name] = out.read_text()
    assert _scripts(pages["evil"]) == _scripts(pages["clean"])
    assert "PWNED" in _carried_text(pages["evil"])  # the text is there, as data
    assert "PWNED" not in pages["evil"]  # and only as data
    assert pages["evil"].lower().count("<img") == pages["clean"].lower().count("<img")
    assert "<!--<script>" not in pages["evil"]
