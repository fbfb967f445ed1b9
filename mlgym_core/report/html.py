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
from .render import SUMMARY_HEADER, SUMMARY_NOTE, fmt, fmt_cost, ordered_methods, summary_rows

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
      const t = document.createElementNS(ns, "title");
      t.textContent = "evaluation " + (i + 1) + ": " + Number(v).toPrecision(4);
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
      run.scores.map(function (s) { return s === null ? "-" : Number(s).toPrecision(4); }).join(", ")));
    v.appendChild(chart(run.scores));
    const filter = el("input"); filter.type = "search"; filter.id = "step-search";
    filter.placeholder = "Search this trajectory";
    v.appendChild(filter);
    const list = el("div"); list.id = "steps"; v.appendChild(list);
    const packed = blobs[i] ? await inflate(blobs[i]) : {steps: [], messages: []};
    const steps = packed.steps || [];
    if (!steps.length) list.appendChild(el("p", "meta", "No trajectory file in this run directory."));
    steps.forEach(function (s, n) {
      const d = el("div", "step");
      d.dataset.search = (s[0] + "\n" + s[1] + "\n" + s[2]).toLowerCase();
      d.appendChild(el("h4", null, "Step " + (n + 1) + (s[3] !== null ? " (" + s[3].toFixed(1) + " s)" : "")));
      if (s[4] && s[4].length) {
        const calls = s[4].map(function (c, k) {
          return "call " + (k + 1) + ": " + c[0] + " tokens sent, " + c[1] + " received, $" +
            (c[2] === null ? "-" : Number(c[2]).toPrecision(4));
        });
        d.appendChild(el("div", "meta calls", calls.join(" | ")));
      }
      if (s[0]) d.appendChild(block("Thought", s[0], 600));
      d.appendChild(block("Action", s[1], 600));
      d.appendChild(block("Observation", s[2], 300));
      list.appendChild(d);
    });
    const msgs = packed.messages || [];
    if (msgs.length) {
      const det = el("details", "messages");
      det.appendChild(el("summary", "label", "Messages sent to the model (" + msgs.length + ", the history)"));
      msgs.forEach(function (m) { det.appendChild(block(m[0], m[1], 600)); });
      v.insertBefore(det, list);
    }
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
    # Every '<' escaped: agent-written text (observations, actions) can hold "</script>" or
    # "<!--", either of which would let it out of the JSON block and into the page.
    return json.dumps(value, separators=(",", ":")).replace("<", "\\u003c")


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
    from ..records import best_of, metric_values

    values: list[float | None] = []
    for entry in run.agent_scores:
        v = entry.get(metric) if isinstance(entry, dict) else None
        ok = isinstance(v, (int, float)) and not isinstance(v, bool) and math.isfinite(v)
        values.append(float(v) if ok else None)
    cost = run.cost
    meta = {"method": run.method, "task": run.task, "name": run.name, "path": str(run.path),
            "exit_status": run.exit_status if run.exit_status is not None else "unknown (no trajectory)",
            "steps": run.steps_count if run.steps_count is not None else "-", "metric": metric, "scores": values,
            "best": best_of(metric_values(run.agent_scores, metric), higher),
            "cost": fmt_cost(cost)}
    blob = run.steps_blob or (pack_steps(run.steps, run.messages) if run.steps else "")
    return meta, blob


def run_payloads(built: Built) -> tuple[list[dict[str, Any]], list[str]]:
    """Per run of the compared methods: its row in the viewer and its packed steps."""
    metas: list[dict[str, Any]] = []
    blobs: list[str] = []
    for b in (built, *built.others.values()):
        infos = {t.id: t for t in b.table.tasks}
        for m in b.table.methods:
            for run in b.runs.get(m, []):
                info = infos[run.task]
                meta, blob = _run_payload(run, info.metric, info.higher_is_better)
                meta["scale"] = b.scale
                metas.append(meta)
                blobs.append(blob)
    return metas, blobs


def _scale_section(obj: dict[str, Any], suffix: str) -> list[str]:
    """Summary and score tables of one scale (table ids get ``suffix``)."""
    methods = ordered_methods(obj)
    parts = [f'<p class="meta" id="scale{suffix}">Scale: {_e(obj.get("scale", "full"))}</p>',
             f'<p class="meta" id="methods-compared{suffix}">Methods compared: '
             f'{_e(", ".join(obj["methods_compared"]))}</p>',
             f'<p class="meta">τ<sub>max</sub> = <span id="tau-max{suffix}" data-value="{obj["tau_max"]!r}">'
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
    parts += ["<h2>Summary</h2>", _table(f"summary{suffix}", SUMMARY_HEADER, srows),
              f'<p class="meta">{_e(SUMMARY_NOTE)}</p>']
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
        parts += [f"<h2>{title}</h2>", _table(which.replace("_", "-") + suffix, ["Task", *methods], rows)]
    statuses = sorted({st for m in methods for st in obj["methods"][m].get("exit_status_counts", {})})
    if statuses:
        rows = [([m, *[str(obj["methods"][m]["exit_status_counts"].get(st, 0)) for st in statuses]],
                 [{}] * (len(statuses) + 1)) for m in methods if obj["methods"][m].get("exit_status_counts")]
        parts += ["<h2>Exit statuses</h2>", _table(f"exit-statuses{suffix}", ["Method", *statuses], rows)]
        texts = sorted({(k, t) for m in methods for k, v in obj["methods"][m].get("exit_status_texts", {}).items()
                        for t in v})
        if texts:
            parts.append("<ul>" + "".join(f'<li class="meta"><b>{_e(k)}</b>: {_e(t)}</li>' for k, t in texts)
                         + "</ul>")
    return parts


def render_html(built: Built, obj: dict[str, Any], images: dict[str, bytes],
                payloads: tuple[list[dict[str, Any]], list[str]] | None = None) -> str:
    parts = ['<!DOCTYPE html><html lang="en"><head><meta charset="utf-8">',
             '<meta name="viewport" content="width=device-width, initial-scale=1">',
             '<link rel="icon" href="data:,">', "<title>mlgym report</title>", f"<style>{_CSS}</style></head><body>",
             "<h1>mlgym report</h1>", *_scale_section(obj, "")]
    for scale, sub in (obj.get("other_scales") or {}).items():
        parts += [f'<h2 id="scale-{_e(scale)}">Scale {_e(scale)} (reported apart: never pooled with '
                  f'{_e(obj.get("scale", "full"))})</h2>', *_scale_section(sub, f"-{scale}")]
    if obj.get("excluded"):
        rows = [([e["run"].rsplit("/", 1)[-1], e["method"], e["task"], e["scale"], e["reason"]], [{}] * 5)
                for e in obj["excluded"]]
        parts += ["<h2>Left out of every table</h2>",
                  '<p class="meta">Interrupted runs and infrastructure failures say nothing of the agent.</p>',
                  _table("excluded", ["Run", "Method", "Task", "Scale", "Reason"], rows)]
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
              '<table id="runs"><thead><tr><th>Method</th><th>Task</th><th>Scale</th><th>Run</th><th>Exit status</th>'
              "<th>Steps</th><th>Best score</th><th>Cost</th></tr></thead><tbody>"]
    for i, meta in enumerate(metas):
        search = " ".join(str(meta[k]) for k in ("method", "task", "name", "exit_status")).lower()
        parts.append(f'<tr class="run-row" data-run="{i}" data-search="{_e(search)}"><td>{_e(meta["method"])}</td>'
                     f'<td>{_e(meta["task"])}</td><td>{_e(meta["scale"])}</td><td>{_e(meta["name"])}</td>'
                     f'<td>{_e(meta["exit_status"])}</td>'
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
