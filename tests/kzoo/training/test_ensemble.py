"""`--ensemble N` (issue 28): N members in one run directory, one model averaging them.

The saved model equals the mean of its members (every backend) and reloads on another
backend; a SIGKILL during member 2 resumes member 2 exactly and leaves member 1 as it
was; describe/report/diagnose read an ensemble directory; the recipe's default rule.
"""

import hashlib
import json
import os
import pathlib
import signal
import subprocess
import sys
import types

import keras
import numpy as np
import pytest
from _backends import one_backend

from kzoo import rundir as layout
from kzoo.callbacks.checkpoint_format import latest_checkpoint
from kzoo.cli import main
from kzoo.training import ensemble, prepare_data, resume, train

KILL_WORKER = pathlib.Path(__file__).with_name("_ensemble_kill_worker.py")
SETTINGS = dict(epochs=2, batch_size=16, hparams={"width": 16, "depth": 1}, verbose=0)
ONE_BACKEND = one_backend("torch", "run-directory rules; one backend is enough")


@pytest.fixture(scope="module")
def data(three_class_npz):
    return three_class_npz


@pytest.fixture(scope="module")
def run(data, tmp_path_factory):
    out = tmp_path_factory.mktemp("ensemble") / "run"
    result = train("mlp", str(data[0]), out=str(out), ensemble=2, **SETTINGS)
    return out, result


def _predict(path, x):
    return keras.saving.load_model(path).predict(x, verbose=0)


def test_the_saved_model_is_the_mean_of_its_members(run, data):
    out, result = run
    x = data[1]
    members = [_predict(d / layout.MODEL_FILE, x) for d in ensemble.member_dirs(out)]
    assert len(members) == 2 and not np.allclose(members[0], members[1], atol=1e-3)
    # Plain Keras loads it (the members are stock layers), and it averages them.
    saved = _predict(out / layout.MODEL_FILE, x)
    np.testing.assert_allclose(saved, np.mean(members, axis=0), atol=1e-6)
    summary = json.loads((out / layout.SUMMARY_FILE).read_text())
    x_test, y_test = prepare_data(str(data[0]), seed=0).test  # standardised as trained
    probs = _predict(out / layout.MODEL_FILE, x_test)
    assert summary["test_accuracy"] == pytest.approx(np.mean(probs.argmax(-1) == y_test),
                                                     abs=1e-6)
    # Scored member by member (memory), the loss is Keras' on the averaged probabilities.
    loss = keras.ops.convert_to_numpy(keras.losses.sparse_categorical_crossentropy(y_test, probs))
    assert summary["test_loss"] == pytest.approx(float(np.mean(loss)), rel=1e-4)
    assert [m["init_seed"] for m in summary["members"]] == [0, 1]
    assert all("test_accuracy" in m for m in summary["members"])
    assert summary["status"] == "completed" and summary["ensemble"]["members"] == 2


@ONE_BACKEND  # saved on torch, loaded on jax (the lighter import of the two others)
def test_the_ensemble_reloads_on_another_backend(run, data, tmp_path):
    out, _ = run
    np.save(tmp_path / "x.npy", data[1])
    code = ("import keras, numpy as np, sys; m = keras.saving.load_model(sys.argv[1]); "
            "np.save(sys.argv[3], m.predict(np.load(sys.argv[2]), verbose=0))")
    env = {**os.environ, "KERAS_BACKEND": "jax"}
    subprocess.run([sys.executable, "-c", code, str(out / layout.MODEL_FILE),
                    str(tmp_path / "x.npy"), str(tmp_path / "p.npy")], env=env, check=True)
    np.testing.assert_allclose(np.load(tmp_path / "p.npy"),
                               _predict(out / layout.MODEL_FILE, data[1]), atol=1e-5)


def _digest(path):
    return hashlib.sha256(path.read_bytes()).hexdigest()


@ONE_BACKEND
def test_a_kill_during_member_2_resumes_member_2_exactly(run, data, tmp_path, capsys):
    ref, _ = run
    out = tmp_path / "run"
    # A real SIGKILL at the end of member 2's step 5 (checkpoints every 2 steps): no
    # finally block, no flush, whatever was in flight is lost.
    worker = subprocess.Popen(
        [sys.executable, str(KILL_WORKER), str(data[0]), str(out), json.dumps(SETTINGS)],
        stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True,
        env={**os.environ, "KERAS_BACKEND": keras.backend.backend()})
    lines = []
    for line in worker.stdout:
        lines.append(line.strip())
        if line.strip() == "member 2 step 5":
            worker.send_signal(signal.SIGKILL)
            break
    assert worker.wait(timeout=120) == -signal.SIGKILL, lines[-3:]
    worker.stdout.close()
    first = out / "members" / "1"
    before = {p.name: _digest(p) for p in (first / layout.MODEL_FILE, first / "summary.json")}
    assert not (out / layout.MODEL_FILE).exists()  # the ensemble is not written yet
    second = out / "members" / "2"
    # Member 2's last whole checkpoint is step 4: the resume continues from there.
    assert latest_checkpoint(second / layout.CHECKPOINTS_DIR)[2]["global_step"] == 4
    result = main(["train", "--resume", str(out)])
    printed = capsys.readouterr().out
    assert result == 0 and f"Resumed {second} from" in printed, printed
    assert f"Resumed {first} " not in printed
    assert {p.name: _digest(p) for p in (first / layout.MODEL_FILE,
                                         first / "summary.json")} == before  # not retrained
    for member in ("1", "2"):  # the same weights as the run that was never killed
        a = keras.saving.load_model(out / "members" / member / layout.MODEL_FILE)
        b = keras.saving.load_model(ref / "members" / member / layout.MODEL_FILE)
        for u, v in zip(a.get_weights(), b.get_weights(), strict=True):
            np.testing.assert_allclose(u, v, atol=1e-6)
    np.testing.assert_allclose(_predict(out / layout.MODEL_FILE, data[1]),
                               _predict(ref / layout.MODEL_FILE, data[1]), atol=1e-6)
    # Resumed again, the finished ensemble is left as it is.
    assert resume(out, verbose=0).summary["ensemble"]["members"] == 2


@ONE_BACKEND
def test_report_describe_and_diagnose_read_an_ensemble(run, capsys):
    out, _ = run
    assert main(["report", str(out)]) == 0
    text = capsys.readouterr().out
    assert "ensemble of 2 (members' test_accuracy" in text
    assert (out / "members" / "2" / "plots" / "learning_curves.png").is_file()
    assert main(["diagnose", str(out)]) == 0
    assert "Diagnosis" in capsys.readouterr().out


@ONE_BACKEND
@pytest.mark.parametrize("value", ["0", "-2"])
def test_a_bad_ensemble_flag_is_one_line_before_anything_is_written(value, tmp_path, capsys):
    out = tmp_path / "run"
    code = main(["train", "--model", "mlp", "--data", "digits", "--ensemble", value,
                 "--out", str(out)])
    err = capsys.readouterr().err.strip()
    assert code == 2 and len(err.splitlines()) == 1
    assert "ensemble must be an int >= 1" in err and not out.exists()


def _prepared(n, length):
    x = np.zeros((n, length, 1), "float32")
    return types.SimpleNamespace(train=(x, None), val=None)


@ONE_BACKEND
def test_the_recipe_makes_inception_time_and_lite_ensembles_of_5_on_small_data():
    def config(model, **kw):
        return types.SimpleNamespace(model=model, ensemble=None, epochs="auto", **kw)

    n, source, note = ensemble.decide(config("inception_time"), _prepared(50, 150))
    assert (n, source) == (5, "recipe") and "InceptionTime" in note and "because" in note
    n, _, note = ensemble.decide(config("lite"), _prepared(50, 150))
    assert n == 5 and "LITETime" in note
    # 104 x 2000 x 150 (PigCVP) is above the rule: one network, and the flag to ask for 5.
    n, _, note = ensemble.decide(config("inception_time"), _prepared(104, 2000))
    assert n == 1 and "--ensemble 5" in note
    assert ensemble.decide(config("lite"), _prepared(104, 2000))[0] == 1
    assert ensemble.decide(config("fcn"), _prepared(50, 150))[0] == 1
    assert not ensemble.wanted(config("fcn"))
    n, source, _ = ensemble.decide(types.SimpleNamespace(
        model="inception_time", ensemble=1, epochs="auto"), _prepared(50, 150))
    assert (n, source) == (1, "user")
