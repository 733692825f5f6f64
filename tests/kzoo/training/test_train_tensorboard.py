"""`kzoo train --tensorboard`: event files without TensorFlow, read back with
TensorBoard's own reader and checked against history.csv and grad_norms.csv,
after a kill and a resume; a missing `tensorboard` is a UsageError before writing."""

import csv
import json
import sys
import types

import keras
import pytest

from kzoo.runtime.errors import UsageError
from kzoo.training import train

pytestmark = pytest.mark.skipif(
    keras.backend.backend() == "tensorflow",
    reason="the TF-free writer is for jax and torch (tensorflow has Keras' own TensorBoard)",
)
SETTINGS = dict(epochs=3, batch_size=48, hparams={"width": 8, "depth": 1}, verbose=0, seed=0,
                grad_log_every=2, clip="global_norm", clip_value=0.5,
                checkpoint_every_steps=2, tensorboard=True)


def _data(tiny_binary):
    """192 training examples (4 steps of 48), 48 validation and 48 test ones: 240 is
    above the recipes' tiny_threshold, so the run keeps its validation split."""
    x, y = tiny_binary(288, 6)
    return (x[:192], y[:192]), (x[192:240], y[192:240]), (x[240:], y[240:])


def read_run(path):
    """{tag: [(step, value)]} of scalars, and the accumulator, by TensorBoard's reader
    (its TensorFlow stub forced: no TensorFlow in the reading either)."""
    sys.modules.setdefault("tensorboard.compat.notf", types.ModuleType("notf"))
    from tensorboard.backend.event_processing.event_accumulator import EventAccumulator

    acc = EventAccumulator(str(path), size_guidance={"scalars": 0, "histograms": 0,
                                                      "tensors": 0})
    acc.Reload()
    return {t: [(e.step, e.value) for e in acc.Scalars(t)] for t in acc.Tags()["scalars"]}, acc


class _Kill(keras.callbacks.Callback):
    def on_train_batch_end(self, batch, logs=None):
        if int(keras.ops.convert_to_numpy(self.model.optimizer.iterations)) == 7:
            raise KeyboardInterrupt


def _check(run):
    history = list(csv.DictReader(open(run / "history.csv")))
    assert [int(r["epoch"]) for r in history] == [0, 1, 2]
    train_tags, acc = read_run(run / "tb" / "train")
    val_tags, _ = read_run(run / "tb" / "validation")
    for key in history[0]:
        if key == "epoch":
            continue
        tags = val_tags if key.startswith("val_") else train_tags
        events = tags[f"epoch_{key.removeprefix('val_')}"]
        assert [s for s, _ in events] == [0, 1, 2], key  # each epoch once
        assert [v for _, v in events] == pytest.approx([float(r[key]) for r in history],
                                                       rel=1e-6), key
    assert {"epoch_lr", "epoch_grad_clip_fraction", "epoch_loss"} <= set(train_tags)
    (text,) = acc.Tensors("diagnosis")
    assert b"Diagnosis" in text.tensor_proto.string_val[0]
    summary = json.loads((run / "summary.json").read_text())
    assert train_tags["test/accuracy"] == [(2, pytest.approx(summary["test_accuracy"]))]

    norms = list(csv.DictReader(open(run / "grad_norms.csv")))
    steps = [int(r["step"]) for r in norms]
    assert steps == list(range(0, 12, 2))  # 3 epochs of 4 steps, every 2nd, none twice
    grad_tags, grad_acc = read_run(run / "tb" / "gradients")
    layers = [c for c in norms[0] if c not in ("step", "global_norm", "clip_threshold",
                                                 "clipped")]
    for column, tag in [("global_norm", "grad_norm/global"),
                        *((c, f"grad_norm/{c}") for c in layers)]:
        assert [s for s, _ in grad_tags[tag]] == steps, tag
        assert [v for _, v in grad_tags[tag]] == pytest.approx(
            [float(r[column]) for r in norms], rel=1e-5), tag
    scale = [min(1.0, float(r["clip_threshold"]) / float(r["global_norm"])) for r in norms]
    assert [v for _, v in grad_tags["grad_clip/scale"]] == pytest.approx(scale, rel=1e-5)
    assert [h.step for h in grad_acc.Histograms("grad_norm/layers")] == steps
    # one event file per run: the resumed run continued it
    for name in ("train", "validation", "gradients"):
        assert len(list((run / "tb" / name).glob("events.out.tfevents.*"))) == 1


def test_train_tensorboard_survives_a_kill_and_a_resume(tmp_path, tiny_binary):
    data, val, test = _data(tiny_binary)
    run = tmp_path / "run"
    with pytest.raises(KeyboardInterrupt):
        train("mlp", data, val_data=val, test_data=test, out=str(run), callbacks=[_Kill()],
              **SETTINGS)
    before, _ = read_run(run / "tb" / "gradients")
    assert [s for s, _ in before["grad_norm/global"]] == [0, 2]  # epoch 0 was written
    # a kill mid-record: the resumed writer cuts the torn record off and appends
    (events,) = (run / "tb" / "train").glob("events.out.tfevents.*")
    with open(events, "ab") as f:
        f.write(b"\x10\x00\x00")
    train("mlp", data, val_data=val, test_data=test, out=str(run), resume=True, **SETTINGS)
    _check(run)


def test_missing_tensorboard_is_one_usage_error_before_writing(tmp_path, monkeypatch,
                                                               tiny_binary):
    for name in ("tensorboard", "tensorboard.compat.proto.event_pb2",
                 "tensorboard.summary.writer.record_writer"):
        monkeypatch.setitem(sys.modules, name, None)
    data, _, _ = _data(tiny_binary)
    with pytest.raises(UsageError, match=r"kzoo\[tensorboard\]"):
        train("mlp", data, out=str(tmp_path / "run"), **SETTINGS)
    assert not (tmp_path / "run").exists()


def test_new_run_refuses_a_directory_with_another_runs_events(tmp_path, tiny_binary):
    data, _, _ = _data(tiny_binary)
    (tmp_path / "tb").mkdir()
    (tmp_path / "tb" / "events.out.tfevents.1.host").write_bytes(b"theirs")
    with pytest.raises(UsageError, match="already holds TensorBoard event files"):
        train("mlp", data, out=str(tmp_path / "run"),
              **dict(SETTINGS, tensorboard=str(tmp_path / "tb")))
    assert (tmp_path / "tb" / "events.out.tfevents.1.host").read_bytes() == b"theirs"
    assert not (tmp_path / "run").exists()


def test_cli_flag_defaults_to_the_run_directory():
    from kzoo.cli import build_parser

    parser = build_parser()
    parse = lambda *flags: parser.parse_args(["train", "--model", "mlp", *flags]).tensorboard
    assert parse() is None
    assert parse("--tensorboard") is True
    assert parse("--tensorboard", "logs") == "logs"
