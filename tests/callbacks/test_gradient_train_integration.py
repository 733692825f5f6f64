"""`kzoo train` gradient flags: files, logs, plots, and early errors, on every backend."""

import csv

import pytest

import kzoo
from kzoo.cli import build_parser
from kzoo.plots import report


def test_train_writes_grad_norms_and_plots(tmp_path, tiny_binary):
    out = tmp_path / "run"
    kzoo.train("mlp", tiny_binary(96, 6), epochs=1, batch_size=16, out=str(out), verbose=0,
               hparams={"depth": 1, "width": 8},
               grad_log_every=2, clip="autoclip", grad_health="warn")
    with open(out / "grad_norms.csv") as f:
        rows = list(csv.DictReader(f))
    assert rows and float(rows[0]["clip_threshold"]) > 0
    with open(out / "history.csv") as f:
        header = next(csv.reader(f))
    assert {"grad_norm", "grad_clip_fraction", "grad_health_nonfinite"} <= set(header)
    assert (out / "plots" / "grad_norms.png").stat().st_size > 0
    assert (out / "plots" / "grad_norms_layers.png").exists()
    (out / "plots" / "grad_norms.png").unlink()
    assert out / "plots" / "grad_norms.png" in [p for p in report(out)]


@pytest.mark.parametrize(
    "settings, match",
    [
        ({"clip": "sometimes"}, "clip"),
        ({"grad_health": "panic"}, "grad_health"),
        ({"grad_log_every": -1}, "grad_log_every"),
        ({"clip": "none", "clip_value": 2.0}, "clip_value"),
        ({"clip": "autoclip", "clip_value": 5.0}, "does not apply to autoclip"),
        ({"clip": "global_norm", "clip_percentile": 20.0}, "autoclip only"),
        ({"clip": "autoclip", "clip_percentile": 0.0}, "percentile"),
    ],
)
def test_bad_gradient_settings_fail_before_writing(tmp_path, settings, match, tiny_binary):
    out = tmp_path / "run"
    with pytest.raises(ValueError, match=match):
        kzoo.train("mlp", tiny_binary(96, 6), epochs=1, out=str(out), verbose=0, **settings)
    assert not out.exists()


def test_cli_flags_parse():
    args = build_parser().parse_args(
        ["train", "--grad-log-every", "5", "--clip", "agc", "--clip-value", "0.02",
         "--clip-percentile", "20", "--grad-health", "rollback"]  # parsed, not checked
    )
    assert (args.grad_log_every, args.clip, args.clip_value) == (5, "agc", 0.02)
    assert (args.clip_percentile, args.grad_health) == (20.0, "rollback")
