"""Collect what benchmarks/gpu/check.sh ran into one JSON file (its summary.json).

Usage (check.sh calls it): python summary.py WORK_DIR OUT_FILE [STEP_TIME_OUT]
WORK_DIR holds phases.tsv (phase, exit code, seconds), tests-*.xml (pytest's JUnit
reports), train-*/summary.json, tune/best.json, step_time-*.json and env.json;
STEP_TIME_OUT gets step_time.py's reports, keyed by run.
"""

import json
import pathlib
import sys
import xml.etree.ElementTree as ET


def _tests(xml):
    """Counts and failed test ids of one JUnit report."""
    if not xml.is_file():
        return {"error": "no report (the run was stopped or did not start)"}
    root = ET.parse(xml).getroot()
    suite = root if root.tag == "testsuite" else root.find("testsuite")
    failed = [
        f"{case.get('classname')}::{case.get('name')}"
        for case in suite.iter("testcase")
        if case.find("failure") is not None or case.find("error") is not None
    ]
    counts = {k: int(suite.get(k, 0)) for k in ("tests", "failures", "errors", "skipped")}
    return {**counts, "seconds": float(suite.get("time", 0)), "failed": failed}


def _json(path):
    try:
        return json.loads(path.read_text())
    except (OSError, ValueError) as err:
        return {"error": f"{path.name}: {err}"}


def _train(run):
    found = _json(run / "summary.json")
    keep = ("status", "backend", "epochs_run", "best_epoch", "test_accuracy", "wall_time_s")
    return {k: found[k] for k in keep if k in found} if "error" not in found else found


def _step_time(report):
    """Per backend and family, the headline ratios (wall clock), median [min, max]."""
    table = {}
    for backend, families in report.get("backends", {}).items():
        for family, e in families.items():
            if family == "error":
                table[backend] = {"error": e}
                continue
            row = {"kzoo_ms": e.get("kzoo_wall_ms")}
            for key in ("kzoo_vs_keras", "throughput_vs_torch", "keras_throughput_vs_torch",
                        "grad_log10_vs_kzoo", "grad_log1_vs_kzoo"):
                v = e.get(f"{key}_wall")
                if v:
                    row[key] = [round(v["median"], 3), round(v["min"], 3), round(v["max"], 3)]
            table.setdefault(backend, {})[family] = row
    return table


def main(work, out, raw_out=None):
    work = pathlib.Path(work)
    phases = {}
    if (work / "phases.tsv").is_file():
        for line in (work / "phases.tsv").read_text().splitlines():
            name, code, seconds = line.split("\t")
            phases[name] = {"exit": int(code), "seconds": int(seconds)}
    summary = {
        "env": _json(work / "env.json"),
        "phases": phases,
        "tests": {b: _tests(work / f"tests-{b}.xml") for b in ("jax", "torch")},
        "train": {p.name: _train(p) for p in sorted(work.glob("train-*")) if p.is_dir()},
        "tune": _json(work / "tune" / "best.json"),
        "step_time": {},
    }
    raw = {}
    for path in sorted(work.glob("step_time-*.json")):
        raw[path.stem] = _json(path)
        for backend, families in _step_time(raw[path.stem]).items():
            summary["step_time"].setdefault(backend, {}).update(families)
    pathlib.Path(out).write_text(json.dumps(summary, indent=1) + "\n")
    if raw_out:
        pathlib.Path(raw_out).write_text(json.dumps(raw, indent=1) + "\n")
    print(json.dumps({k: summary[k] for k in ("phases", "train", "step_time")}, indent=1))


if __name__ == "__main__":
    main(*sys.argv[1:4])
