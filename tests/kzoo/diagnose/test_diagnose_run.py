"""`diagnose_run` and `kzoo diagnose`: a run directory's files read back and
diagnosed, as findings or JSON; a directory without history.csv is named."""

import csv
import json

import numpy as np
from _histories import healthy as _healthy

from kzoo import diagnose as dg
from kzoo.cli import main


def _write_run(run_dir, history, facts=None):
    run_dir.mkdir()
    keys = list(history)
    with open(run_dir / "history.csv", "w", newline="") as f:
        w = csv.writer(f)
        w.writerow(["epoch", *keys])
        for i in range(len(history[keys[0]])):
            w.writerow([i, *(history[k][i] for k in keys)])
    if facts is not None:
        (run_dir / "summary.json").write_text(json.dumps({"diagnosis_facts": facts}))


def test_diagnose_run_reads_history_and_stored_facts(tmp_path):
    h = {"loss": list(np.linspace(0.7, 0.01, 20)), "accuracy": [1.0] * 20}
    _write_run(tmp_path / "run", h, {"chance": 0.5, "train_accuracy_inference": 0.5})
    (f,) = dg.diagnose_run(tmp_path / "run")
    assert f["kind"] == "train_inference_gap"


def test_cli_diagnose_prints_findings_and_json(tmp_path, capsys):
    _write_run(tmp_path / "bad", {"loss": [2.3, 9.0, "nan"]})
    assert main(["diagnose", str(tmp_path / "bad")]) == 0
    assert "lr_too_high" in capsys.readouterr().out
    assert main(["diagnose", str(tmp_path / "bad"), "--json"]) == 0
    assert json.loads(capsys.readouterr().out)[0]["evidence"]["first_nonfinite_epoch"] == 3
    _write_run(tmp_path / "ok", _healthy())
    assert main(["diagnose", str(tmp_path / "ok")]) == 0
    assert "no problems" in capsys.readouterr().out


def test_cli_diagnose_names_a_missing_run(tmp_path, capsys):
    assert main(["diagnose", str(tmp_path)]) == 5  # EXIT_RUN_DIR: not a run kzoo reads
    assert "history.csv" in capsys.readouterr().err
