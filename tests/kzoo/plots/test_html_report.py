"""`kzoo report DIR --html`: one self-contained page for a train run and a search,
checked with html.parser: every section, no external resource, table numbers equal
summary.json and trials.csv. The page is drawn from files: one backend suffices."""

import csv
import html.parser
import json
import xml.etree.ElementTree as ET

import numpy as np
from _backends import one_backend

from kzoo.cli import main

pytestmark = one_backend("torch", "the report reads files; one backend is enough")


class _Page(html.parser.HTMLParser):
    """Sections, resource attributes, inline SVGs and the cells of each table."""

    def __init__(self, text):
        super().__init__()
        self.sections, self.resources, self.tables, self.svgs = [], [], {}, 0
        self._table = self._row = self._cell = None
        self.feed(text)

    def handle_starttag(self, tag, attrs):
        attrs = dict(attrs)
        if tag == "section":
            self.sections.append(attrs.get("id"))
        if tag == "svg":
            self.svgs += 1
        for name in ("src", "href", "data", "srcset"):
            if name in attrs:
                self.resources.append((tag, attrs[name]))
        if tag in ("link", "iframe", "img", "object", "embed"):
            self.resources.append((tag, attrs))
        if tag == "table":
            self._table = self.tables.setdefault(attrs.get("class", ""), [])
        elif tag == "tr" and self._table is not None:
            self._row = []
            self._table.append(self._row)
        elif tag in ("td", "th") and self._row is not None:
            self._cell = ""

    def handle_data(self, data):
        if self._cell is not None:
            self._cell += data

    def handle_endtag(self, tag):
        if tag in ("td", "th") and self._cell is not None:
            self._row.append(self._cell)
            self._cell = None
        elif tag == "table":
            self._table = None


def _check_standalone(text):
    page = _Page(text)
    assert not page.resources, page.resources  # nothing loaded: no src, href, link, img
    assert "http://" not in text.replace('xmlns="http://www.w3.org/2000/svg"', "")
    assert "https://" not in text and "@import" not in text and "url(" not in text
    for svg in __import__("re").findall(r"<svg.*?</svg>", text, flags=__import__("re").S):
        ET.fromstring(svg)  # each chart is well-formed SVG
    return page


def test_train_run_page(tmp_path, capsys):
    from kzoo.training import train

    rng = np.random.default_rng(0)
    x = rng.normal(size=(288, 6)).astype("float32")
    y = (x[:, 0] > 0).astype("int32")
    run = tmp_path / "run"
    train("mlp", (x[:192], y[:192]), val_data=(x[192:240], y[192:240]),
          test_data=(x[240:], y[240:]), out=str(run), epochs=2, batch_size=48, verbose=0,
          hparams={"width": 8, "depth": 1}, grad_log_every=2, checkpoint_every_epochs=0)
    assert main(["report", str(run), "--html"]) == 0
    assert f"wrote {run / 'report.html'}" in capsys.readouterr().out
    page = _check_standalone((run / "report.html").read_text())
    assert page.sections == ["configuration", "curves", "gradient-norms", "learning-rate",
                             "diagnosis", "scores"]
    assert page.svgs >= 4  # loss, accuracy, gradient norms, learning rate
    summary = json.loads((run / "summary.json").read_text())
    scores = {k: v for k, v in page.tables["scores"][1:]}
    assert {"test_accuracy", "test_loss", "epochs_run"} <= set(scores)
    for key, text in scores.items():
        assert float(text) == summary[key], key
    config = {r[0]: r[1:] for r in page.tables[""][1:]}
    assert config["grad_log_every"][:2] == ["2", "user"]
    assert config["precision"][:2] == ["float32", "default"]
    assert config["lr"][1] == "recipe"  # resolved: the family recipe's rate


def test_search_page(tmp_path):
    """A search's trials.csv and best.json as kzoo.tuning writes them."""
    out = tmp_path / "search"
    out.mkdir()
    header = ["trial_id", "status", "score", "epochs_run", "wall_time_s", "learning_rate",
              "batch_size", "norm", "rss_mb", "worker", "finished_at", "error"]
    rows = [[0, "COMPLETED", 0.8125, 2, 1.234, 0.0031, 32, "batch", 512.5, "main",
             "2026-01-01T00:00:00", ""],
            [1, "COMPLETED", 0.90625, 2, 1.5, 0.00072, 64, "none", 515.0, "main",
             "2026-01-01T00:00:02", ""],
            [2, "FAILED", "", "", 0.1, 0.01, 16, "layer", 516.0, "main", "", "ValueError: x"]]
    with open(out / "trials.csv", "w", newline="") as f:
        csv.writer(f).writerows([header, *rows])
    best = {"trial_id": "1", "objective": "val_accuracy", "score": 0.90625,
            "hyperparameters": {"learning_rate": 0.00072, "batch_size": 64, "norm": "none"}}
    (out / "best.json").write_text(json.dumps(best))
    (out / "kzoo-run.json").write_text(json.dumps({"format": 1, "kind": "tune"}))
    assert main(["report", str(out), "--html"]) == 0
    text = (out / "report.html").read_text()
    page = _check_standalone(text)
    assert page.sections == ["trials", "best", "objective"]
    table = page.tables["sortable trials"]
    assert table[0] == header
    with open(out / "trials.csv", newline="") as f:
        written = list(csv.DictReader(f))
    for cells, row in zip(table[1:], written, strict=True):
        for name, cell in zip(header, cells, strict=True):
            assert cell == row[name], name
            if row[name] and name in ("score", "learning_rate", "wall_time_s"):
                assert float(cell) == float(row[name])
    assert dict(page.tables["best"][1:])["score"] == "0.90625"
    assert page.svgs == 3  # objective against learning_rate, batch_size and norm
    assert "<script>" in text and "sortable" in text
