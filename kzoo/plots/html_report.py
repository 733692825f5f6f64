"""`kzoo report DIR --html`: one self-contained page, `DIR/report.html`.

A train run: its configuration with each value's source, learning curves,
gradient norms, learning rate, diagnosis and test scores. A search: the trials
table (sortable by a small inline script), the best trial, and the objective
against each hyperparameter. Charts are inline SVG (`kzoo.plots.svg`) and the
style and script are inline, so the page loads nothing and can be mailed or
opened offline. Numbers in the tables are written as the run's files hold them.
"""

import csv
import datetime
import html
import json
import math
import pathlib

from kzoo import rundir as layout
from kzoo.plots.svg import line_chart, scatter
from kzoo.rundir.files import HTML_REPORT_FILE
from kzoo.runtime.errors import RunDirError

REPORT_FILE = HTML_REPORT_FILE
# trials.csv columns that are not hyperparameters (kzoo.tuning.records.Recorder.rows)
TRIAL_COLUMNS = {"trial_id", "status", "score", "epochs_run", "wall_time_s",
                 "resumed_from_epoch", "devices", "pruned", "rss_mb", "worker", "device_block",
                 "finished_at", "error"}
STYLE = """body{font-family:sans-serif;margin:2em;max-width:1200px;color:#222}
table{border-collapse:collapse;margin:.5em 0}td,th{border:1px solid #ccc;padding:2px 8px;
font-size:13px;text-align:left}th{background:#f3f3f3;cursor:pointer}pre{background:#f7f7f7;
padding:.6em}section{margin-bottom:2em}svg{margin:4px}.note{color:#666}"""
SORT_SCRIPT = """document.querySelectorAll('table.sortable th').forEach(function(th,col){
th.addEventListener('click',function(){var tb=th.closest('table').tBodies[0];
var rows=Array.from(tb.rows),asc=th.dataset.asc!=='1';th.dataset.asc=asc?'1':'0';
rows.sort(function(a,b){var x=a.cells[col].textContent,y=b.cells[col].textContent,
p=parseFloat(x),q=parseFloat(y);var c=(!isNaN(p)&&!isNaN(q))?p-q:x.localeCompare(y);
return asc?c:-c;});rows.forEach(function(r){tb.appendChild(r);});});});"""


def _esc(v):
    return html.escape("" if v is None else str(v))


def _cell(v):
    """A value as its file holds it: floats by `repr` (so they read back equal)."""
    if isinstance(v, (dict, list)):
        return _esc(json.dumps(v))
    return _esc(v)


def _table(header, rows, cls=""):
    head = "".join(f"<th>{_esc(h)}</th>" for h in header)
    body = "".join("<tr>" + "".join(f"<td>{_cell(c)}</td>" for c in row) + "</tr>"
                   for row in rows)
    return (f'<table class="{cls}"><thead><tr>{head}</tr></thead>'
            f"<tbody>{body}</tbody></table>")


def _section(sid, title, body):
    return f'<section id="{sid}"><h2>{_esc(title)}</h2>{body}</section>'


def _csv_rows(path):
    with open(path, newline="", encoding="utf-8") as f:
        return list(csv.DictReader(f))


def _num(v):
    try:
        f = float(v)
    except (TypeError, ValueError):
        return None
    return f if math.isfinite(f) else None


def _page(title, sections):
    stamp = datetime.datetime.now().isoformat(timespec="seconds")
    return (f'<!DOCTYPE html><html lang="en"><head><meta charset="utf-8">'
            f"<title>{_esc(title)}</title><style>{STYLE}</style></head><body>"
            f"<h1>{_esc(title)}</h1><p class=\"note\">kzoo report, {stamp}</p>"
            + "".join(sections) + f"<script>{SORT_SCRIPT}</script></body></html>\n")


# ---------------------------------------------------------------- train runs

def _configuration(run_dir, defaults):
    """The settings table; `defaults` (`{setting: default}`, from `kzoo.training`, which
    imports plots and so is passed in) tells a user's value from a default."""
    config = layout.read_json_object(run_dir / layout.CONFIG_FILE)
    resolved = config.get("resolved") or {}
    rows = []
    names = list(defaults) if defaults is not None else [k for k in config if k != "resolved"]
    for name in names:
        if name in config and name not in resolved:
            source = "" if defaults is None else (
                "default" if config[name] == defaults[name] else "user")
            source = "runtime" if name == "backend" else source  # the Keras backend in use
            rows.append((name, config[name], source, ""))
    for name, entry in sorted(resolved.items()):
        if isinstance(entry, dict):
            rows.append((name, entry.get("value"), entry.get("source", ""), entry.get("note", "")))
    return _table(("setting", "value", "source", "note"), rows)


def _curves(run_dir):
    path = run_dir / layout.HISTORY_FILE
    if not path.is_file():
        return '<p class="note">No history.csv.</p>'
    rows = _csv_rows(path)
    keys = [k for k in (rows[0] if rows else {}) if k != "epoch" and not k.startswith("val_")
            and not k.startswith("grad_") and k not in ("lr", "learning_rate")]
    charts = []
    for key in keys:
        series = {}
        for name in (key, f"val_{key}"):
            points = [(i, _num(r.get(name))) for i, r in enumerate(rows)]
            points = [(x, y) for x, y in points if y is not None]
            if points:
                series[name] = points
        charts.append(line_chart(key, series, ylabel=key, ylog=key == "loss"))
    return "".join(charts)


def _grad_norms(run_dir):
    path = run_dir / layout.GRAD_NORMS_FILE
    if not path.is_file():
        return '<p class="note">Not logged (kzoo train --grad-log-every N).</p>'
    rows = _csv_rows(path)
    fixed = ("step", "global_norm", "clip_threshold", "clipped")
    layers = [c for c in (rows[0] if rows else {}) if c not in fixed]
    series = {name: [(_num(r["step"]), _num(r[col])) for r in rows]
              for name, col in [("global", "global_norm"), *((c, c) for c in layers)]}
    series = {k: [(x, y) for x, y in v if x is not None and y is not None]
              for k, v in series.items()}
    body = line_chart("gradient norms", series, xlabel="step", ylabel="norm", ylog=True)
    clipped = [_num(r.get("clipped")) for r in rows if _num(r.get("clip_threshold"))]
    if clipped:
        body += (f"<p>Clipping cut in at {sum(c > 0 for c in clipped)} of {len(clipped)} "
                 "logged steps.</p>")
    return body


def _learning_rate(run_dir):
    path = run_dir / layout.LR_STEPS_FILE
    if path.is_file():
        rows = _csv_rows(path)
        points = [(_num(r.get("step")), _num(r.get("lr"))) for r in rows]
        xlabel = "step"
    else:
        hist = run_dir / layout.HISTORY_FILE
        rows = _csv_rows(hist) if hist.is_file() else []
        points = [(i, _num(r.get("lr"))) for i, r in enumerate(rows)]
        xlabel = "epoch"
    points = [(x, y) for x, y in points if x is not None and y is not None]
    if not points:
        return '<p class="note">Not recorded.</p>'
    return line_chart("learning rate", {"lr": points}, xlabel=xlabel, ylabel="lr")


def train_page(run_dir, defaults=None):
    from kzoo.diagnose import render

    summary_path = run_dir / layout.SUMMARY_FILE
    summary = layout.read_json_object(summary_path) if summary_path.is_file() else {}
    scores = [(k, v) for k, v in summary.items()
              if k.startswith(("test_", "final_", "best_")) or k in (
                  "epochs_run", "selected_epoch", "wall_time_s", "params")]
    title = f"{summary.get('model', '')} on {summary.get('data', '')}: {run_dir.name}"
    diagnosis = render(summary.get("diagnosis", [])) if summary else "No summary.json."
    return _page(title, [
        _section("configuration", "Configuration", _configuration(run_dir, defaults)
                 if (run_dir / layout.CONFIG_FILE).is_file() else "<p>No config.json.</p>"),
        _section("curves", "Learning curves", _curves(run_dir)),
        _section("gradient-norms", "Gradient norms", _grad_norms(run_dir)),
        _section("learning-rate", "Learning rate", _learning_rate(run_dir)),
        _section("diagnosis", "Diagnosis", f"<pre>{_esc(diagnosis)}</pre>"),
        _section("scores", "Test scores", _table(("metric", "value"), scores, "scores")),
    ])


# ---------------------------------------------------------------- searches

def search_page(out):
    rows = _csv_rows(out / "trials.csv")
    header = list(rows[0]) if rows else ["trial_id"]
    best_path = out / "best.json"
    best = layout.read_json_object(best_path) if best_path.is_file() else {}
    hps = [c for c in header if c not in TRIAL_COLUMNS and not c.startswith("tuner/")]
    best_index = next((i for i, r in enumerate(rows)
                       if _num(r["trial_id"]) == _num(best.get("trial_id"))), None)
    charts = []
    for hp in hps:
        points = []
        for r in rows:
            x = _num(r[hp])
            points.append((x if x is not None else r[hp], _num(r.get("score"))))
        charts.append(scatter(f"objective against {hp}", points, hp,
                              best.get("objective") or "score", best=best_index))
    best_rows = [(k, best[k]) for k in ("trial_id", "objective", "score", "direction", "model",
                                        "data", "tuner", "backend") if k in best]
    best_rows += [(f"hp {k}", v) for k, v in (best.get("hyperparameters") or {}).items()]
    title = f"search: {out.name}"
    return _page(title, [
        _section("trials", "Trials (click a column to sort)",
                 _table(header, [[r.get(h, "") for h in header] for r in rows],
                        "sortable trials")),
        _section("best", "Best trial", _table(("field", "value"), best_rows, "best")
                 if best else "<p>No best.json yet.</p>"),
        _section("objective", "Objective against each hyperparameter", "".join(charts)),
    ])


def write_html_report(run_dir, defaults=None):
    """Write `run_dir/report.html` for a train run or a search; returns its path.

    `defaults`: `{setting: default}` of a train run's settings (`kzoo report --html`
    passes `kzoo.training.config`'s), so the configuration says which the user gave.
    """
    run_dir = pathlib.Path(run_dir)
    if (run_dir / "trials.csv").is_file():
        page = search_page(run_dir)
    elif any((run_dir / n).is_file() for n in (layout.SUMMARY_FILE, layout.HISTORY_FILE,
                                               layout.CONFIG_FILE)):
        page = train_page(run_dir, defaults)
    else:
        raise RunDirError(f"{run_dir} holds neither a train run (summary.json, history.csv) "
                          "nor a search (trials.csv). Pass the --out directory of kzoo train "
                          "or tune.")
    path = run_dir / REPORT_FILE
    layout.atomic_write_text(path, page)
    return path
