"""kzoo.plots: `report` draws every plot a run directory holds data for."""

import json
import os
import subprocess
import sys

import pytest

from kzoo import rundir as layout
from kzoo.callbacks.gradient_norm_logger import FIXED_COLUMNS
from kzoo.plots import describe, plot_grad_norms, plot_learning_curves, report


def _write_run(root):
    (root / layout.HISTORY_FILE).write_text(
        "epoch,accuracy,loss,val_accuracy,val_loss\n0,0.5,1.2,0.55,1.1\n1,0.7,0.8,0.65,0.9\n"
    )
    header = ",".join([*FIXED_COLUMNS, "dense", "dense_1"])
    rows = [f"{s},{1.0 / (s + 1)},0.5,{int(s % 2)},0.3,0.2" for s in range(6)]
    (root / layout.GRAD_NORMS_FILE).write_text("\n".join([header, *rows]) + "\n")
    (root / layout.LR_STEPS_FILE).write_text("step,lr\n0,0.001\n1,0.002\n2,0.001\n")
    lrs = [1e-4 * 2**i for i in range(8)]
    losses = [2.0, 1.9, 1.7, 1.4, 1.1, 1.0, 1.5, 3.0]
    (root / layout.LR_FIND_FILE).write_text(json.dumps({
        "lrs": lrs, "losses": losses, "smoothed": losses,
        "suggestions": {"steepest": 8e-4, "valley": 1.6e-3, "min_over_10": 3.2e-4},
    }))
    (root / layout.SUMMARY_FILE).write_text(json.dumps(
        {"model": "mlp", "data": "digits", "epochs_run": 2, "test_accuracy": 0.71234}
    ))


def test_report_draws_every_plot_of_a_run(tmp_path):
    _write_run(tmp_path)
    written = report(tmp_path)
    plots = tmp_path / layout.PLOTS_DIR
    expected = ["learning_curves.png", "grad_norms.png", "grad_norms_layers.png", "lr.png",
                "lr_find.png"]
    for name in expected:
        assert (plots / name).stat().st_size > 1000, name
    assert [p.name for p in written] == ["learning_curves.png", "grad_norms.png", "lr.png"]
    assert describe(tmp_path) == "model=mlp, data=digits, epochs_run=2, test_accuracy=0.7123"


def test_each_plot_skips_what_the_run_lacks(tmp_path):
    assert plot_learning_curves(tmp_path) is None
    assert plot_grad_norms(tmp_path) is None
    with pytest.raises(ValueError, match="holds no kzoo run"):
        report(tmp_path)
    with pytest.raises(ValueError, match="not a directory"):
        report(tmp_path / "missing")


def test_plotting_leaves_the_matplotlib_backend_alone(tmp_path):
    """A notebook's backend survives `kzoo.train`: plots draw Agg figures without
    `matplotlib.use` (the old modules switched the process to Agg)."""
    _write_run(tmp_path)
    code = (
        "import matplotlib; from kzoo.plots import report; "
        f"report(r'{tmp_path}'); print(matplotlib.get_backend())"
    )
    env = dict(os.environ, MPLBACKEND="svg")
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                          env=env, timeout=120)
    assert proc.returncode == 0, proc.stderr[-2000:]
    assert proc.stdout.split()[-1] == "svg"
    assert (tmp_path / layout.PLOTS_DIR / "learning_curves.png").exists()
