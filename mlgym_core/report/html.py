"""One self-contained HTML page: tables, plots (data URIs) and a searchable trajectory viewer.

Nothing is fetched at view time. Each run's steps are stored gzip-compressed and base64-encoded
in the page and inflated by the browser (``DecompressionStream``) when the run is opened.
"""

from __future__ import annotations

import base64
import html
import json
import math
from pathlib import Path
from typing import Any

from .build import Built
from .loader import Run, pack_steps
from .render import SUMMARY_HEADER, fmt, fmt_cost, ordered_methods, summary_rows

_CSS = """
body{font-family:system-ui,-apple-system,Segoe UI,Roboto,sans-serif;margin:24px;color:#222;max-width:1400px}
h1{font-size:1.5em} h2{font-size:1.2em;margin-top:2em;border-bottom:1px solid #ddd}
table{border-collapse:collapse;margin:8px 0;font-size:13px}
th,td{border:1px solid #ddd;padding:3px 8px;text-align:right} th{background:#f4f4f4}
td:first-child,th:first-child{text-align:left}
.meta{color:#555} img{max-width:100%;border:1px solid #eee;margin:6px 0}
#runs tbody tr{cursor:pointer} #runs tbody tr:hover{background:#eef4ff} #runs tbody tr.open{background:#dde8ff}
#viewer{border:1px solid #ccc;padding:12px;margin-top:12px;display:none}
.step{border-top:1px solid #eee;padding:6px 0} .step h4{margin:4px 0;font-size:13px}
pre{white-space:pre-wrap;word-break:break-word;background:#fafafa;padding:6px;margin:4px 0;font-size:12px}
.label{font-weight:600;font-size:12px;color:#444} input[type=search]{width:340px;padding:4px;margin:6px 0}
.warn{color:#a15c00;font-size:12px} #runs td{text-align:left} svg.scores-chart{display:block}
"""

_JS = r"""
(function () {
  "use strict";
  const runs = JSON.parse(document.getElementById("runs-data").textContent);
  const blobs = JSON.parse(document.getElementById("steps-data").textContent);
  const search = document.getElementById("search");
  const rows = Array.from(document.querySelectorAll("#runs tbody tr"));
  search.addEventListener("input", function () {
    const q = search.value.toLowerCase();
    rows.forEach(function (tr) {
      tr.style.display = tr.dataset.search.indexOf(q) >= 0 ? "" : "none";
    });
  });
  function el(tag, cls, text) {
    const e = document.createElement(tag);
    if (cls) e.className = cls;
    if (text !== undefined) e.textContent = text;
    return e;
  }
  function block(label, text, limit) {
    const wrap = el("div");
    if (text.length > limit) {
      const d = el("details");
      d.appendChild(el("summary", "label", label + " (" + text.length + " characters)"));
      d.appendChild(el("pre", null, text));
      wrap.appendChild(d);
    } else {
      wrap.appendChild(el("div", "label", label));
      wrap.appendChild(el("pre", null, text));
    }
    return wrap;
  }
  function chart(values) {
    const ns = "http://www.w3.org/2000/svg";
    const svg = document.createElementNS(ns, "svg");
    svg.setAttribute("width", "420"); svg.setAttribute("height", "120");
    svg.setAttribute("class", "scores-chart");
    const finite = values.filter(function (v) { return v !== null; });
    if (!finite.length) return svg;
    const lo = Math.min.apply(null, finite), hi = Math.max.apply(null, finite);
    const span = hi - lo || 1;
    const pts = [];
    values.forEach(function (v, i) {
      if (v === null) return;
      const x = 20 + (values.length > 1 ? i * 380 / (values.length - 1) : 190);
      const y = 100 - (v - lo) / span * 80;
      pts.push(x + "," + y);
      const c = document.createElementNS(ns, "circle");
      c.setAttribute("cx", x); c.setAttribute("cy", y); c.setAttribute("r", 3);
      const t = document.createElementNS(ns, "title"); t.textContent = "evaluation " + (i + 1) + ": " + v;
      c.appendChild(t); svg.appendChild(c);
    });
    const line = document.createElementNS(ns, "polyline");
    line.setAttribute("points", pts.join(" ")); line.setAttribute("fill", "none");
    line.setAttribute("stroke", "#3366cc");
    svg.insertBefore(line, svg.firstChild);
    return svg;
  }
  async function inflate(b64) {
    const bytes = Uint8Array.from(atob(b64), function (c) { return c.charCodeAt(0); });
    const stream = new Blob([bytes]).stream().pipeThrough(new DecompressionStream("gzip"));
    return JSON.parse(await new Response(stream).text());
  }
  async function open(i) {
    const run = runs[i];
    rows.forEach(function (tr) { tr.classList.toggle("open", Number(tr.dataset.run) === i); });
    const v = document.getElementById("viewer");
    v.style.display = "block";
    v.textContent = "";
    v.appendChild(el("h3", null, run.method + " / " + run.task + " / " + run.name));
    v.appendChild(el("div", "meta", "exit status: " + run.exit_status + " | steps: " + run.steps +
      " | metric: " + run.metric + " | cost: " + run.cost));
    v.appendChild(el("div", "label", "Scores over evaluations (" + run.metric + "): " +
      run.scores.map(function (s) { return s === null ? "-" : String(s); }).join(", ")));
    v.appendChild(chart(run.scores));
    const filter = el("input"); filter.type = "search"; filter.id = "step-search";
    filter.placeholder = "Search this trajectory";
    v.appendChild(filter);
    const list = el("div"); list.id = "steps"; v.appendChild(list);
    const steps = blobs[i] ? await inflate(blobs[i]) : [];
    if (!steps.length) list.appendChild(el("p", "meta", "No trajectory file in this run directory."));
    steps.forEach(function (s, n) {
      const d = el("div", "step");
      d.dataset.search = (s[0] + "\n" + s[1] + "\n" + s[2]).toLowerCase();
      d.appendChild(el("h4", null, "Step " + (n + 1) + (s[3] !== null ? " (" + s[3].toFixed(1) + " s)" : "")));
      if (s[0]) d.appendChild(block("Thought", s[0], 600));
      d.appendChild(block("Action", s[1], 600));
      d.appendChild(block("Observation", s[2], 300));
      list.appendChild(d);
    });
    filter.addEventListener("input", function () {
      const q = filter.value.toLowerCase();
      list.querySelectorAll(".step").forEach(function (d) {
        d.style.display = d.dataset.search.indexOf(q) >= 0 ? "" : "none";
      });
    });
    v.scrollIntoView();
  }
  rows.forEach(function (tr) {
    tr.addEventListener("click", function () { open(Number(tr.dataset.run)); });
  });
})();
"""


def _e(text: Any) -> str:
    return html.escape(str(text), quote=True)


def _script_json(value: Any) -> str:
    return json.dumps(value, separators=(",", ":")).replace("</", "<\\/")


def _table(table_id: str, header: list[str], rows: list[tuple[list[str], list[dict[str, str]]]]) -> str:
    out = [f'<table id="{table_id}"><thead><tr>', *(f"<th>{_e(h)}</th>" for h in header), "</tr></thead><tbody>"]
    for cells, attrs in rows:
        out.append("<tr>")
        for cell, attr in zip(cells, attrs):
            extra = "".join(f' data-{k}="{_e(v)}"' for k, v in attr.items())
            out.append(f"<td{extra}>{_e(cell)}</td>")
        out.append("</tr>")
    out.append("</tbody></table>")
    return "".join(out)


def _num_attr(value: Any) -> str:
    return "" if value is None else repr(value)


def _run_payload(run: Run, metric: str, higher: bool) -> tuple[dict[str, Any], str]:
    from .metrics import run_values

    values: list[float | None] = []
    for entry in run.agent_scores:
        v = entry.get(metric) if isinstance(entry, dict) else None
        ok = isinstance(v, (int, float)) and not isinstance(v, bool) and math.isfinite(v)
        values.append(float(v) if ok else None)
    vals = run_values(run.agent_scores, metric)
    cost = run.cost
    meta = {"method": run.method, "task": run.task, "name": run.name, "path": str(run.path),
            "exit_status": run.exit_status if run.exit_status is not None else "unknown (no trajectory)",
            "steps": run.steps_count if run.steps_count is not None else "-", "metric": metric, "scores": values,
            "best": (max(vals) if higher else min(vals)) if vals else None,
            "cost": fmt_cost(cost)}
    blob = run.steps_blob or (pack_steps(run.steps) if run.steps else "")
    return meta, blob


def run_payloads(built: Built) -> tuple[list[dict[str, Any]], list[str]]:
    """Per run of the compared methods: its row in the viewer and its packed steps."""
    infos = {t.id: t for t in built.table.tasks}
    metas: list[dict[str, Any]] = []
    blobs: list[str] = []
    for m in built.table.methods:
        for run in built.runs.get(m, []):
            info = infos[run.task]
            meta, blob = _run_payload(run, info.metric, info.higher_is_better)
            metas.append(meta)
            blobs.append(blob)
    return metas, blobs


def render_html(built: Built, obj: dict[str, Any], images: dict[str, bytes],
                payloads: tuple[list[dict[str, Any]], list[str]] | None = None) -> str:
    methods = ordered_methods(obj)
    parts = ['<!DOCTYPE html><html lang="en"><head><meta charset="utf-8">',
             '<meta name="viewport" content="width=device-width, initial-scale=1">',
             '<link rel="icon" href="data:,">', "<title>mlgym report</title>", f"<style>{_CSS}</style></head><body>",
             "<h1>mlgym report</h1>",
             f'<p class="meta" id="methods-compared">Methods compared: {_e(", ".join(obj["methods_compared"]))}</p>',
             f'<p class="meta">τ<sub>max</sub> = <span id="tau-max" data-value="{obj["tau_max"]!r}">'
             f'{obj["tau_max"]:.1f}</span>, k = {obj["k"]}, ε = {obj["epsilon"]}'
             + (f', bootstrap: {obj["bootstrap"]["replicates"]} replicates (95% CI)' if obj.get("bootstrap") else "")
             + "</p>"]
    srows = []
    for row in summary_rows(obj):
        e = obj["methods"][row[0]]
        keys = ["", "aup_best_attempt", "aup_best_submission", "borda_best_attempt", "mean_rank_best_attempt",
                "cost_per_run", "runs", "failure_rate"]
        attrs = [{"method": row[0]} if not key else {"method": row[0], "key": key, "value": _num_attr(e.get(key))}
                 for key in keys]
        srows.append((row, attrs))
    parts += ["<h2>Summary</h2>", _table("summary", SUMMARY_HEADER, srows)]
    for which, title in (("best_attempt", "Best Attempt@k"), ("best_submission", "Best Submission@k")):
        rows = []
        for task, info in obj["tasks"].items():
            arrow = "↑" if info["higher_is_better"] else "↓"
            cells = [f"{task} ({info['metric']} {arrow})"]
            attrs = [{"task": task}]
            for m in methods:
                v = obj["methods"][m]["scores"][task][which]
                cells.append(fmt(v))
                attrs.append({"task": task, "method": m, "value": _num_attr(v)})
            rows.append((cells, attrs))
        parts += [f"<h2>{title}</h2>", _table(which.replace("_", "-"), ["Task", *methods], rows)]
    if images:
        parts.append("<h2>Plots</h2>")
        for name, data in images.items():
            b64 = base64.b64encode(data).decode("ascii")
            parts.append(f'<figure><img alt="{_e(name)}" src="data:image/png;base64,{b64}">'
                         f"<figcaption class=\"meta\">{_e(name)}</figcaption></figure>")
    if obj.get("warnings"):
        parts.append("<h2>Warnings</h2><ul>" + "".join(f'<li class="warn">{_e(w)}</li>' for w in obj["warnings"])
                     + "</ul>")
    metas, blobs = payloads if payloads is not None else run_payloads(built)
    parts += ["<h2>Trajectories</h2>",
              '<input type="search" id="search" placeholder="Filter runs: method, task, exit status, name">',
              '<table id="runs"><thead><tr><th>Method</th><th>Task</th><th>Run</th><th>Exit status</th>'
              "<th>Steps</th><th>Best score</th><th>Cost</th></tr></thead><tbody>"]
    for i, meta in enumerate(metas):
        search = " ".join(str(meta[k]) for k in ("method", "task", "name", "exit_status")).lower()
        parts.append(f'<tr class="run-row" data-run="{i}" data-search="{_e(search)}"><td>{_e(meta["method"])}</td>'
                     f'<td>{_e(meta["task"])}</td><td>{_e(meta["name"])}</td><td>{_e(meta["exit_status"])}</td>'
                     f'<td>{_e(meta["steps"])}</td><td>{_e(fmt(meta["best"]))}</td><td>{_e(meta["cost"])}</td></tr>')
    parts += ["</tbody></table>", '<div id="viewer"></div>',
              f'<script type="application/json" id="report-data">{_script_json(obj)}</script>',
              f'<script type="application/json" id="runs-data">{_script_json(metas)}</script>',
              f'<script type="application/json" id="steps-data">{_script_json(blobs)}</script>',
              f"<script>{_JS}</script></body></html>"]
    return "".join(parts)


def write_html(path: Path, built: Built, obj: dict[str, Any], images: dict[str, bytes],
               payloads: tuple[list[dict[str, Any]], list[str]] | None = None) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(render_html(built, obj, images, payloads), encoding="utf-8")
