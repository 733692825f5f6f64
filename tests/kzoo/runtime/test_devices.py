"""kzoo.runtime.devices: what a `devices` setting resolves to, its errors, and the flag.

Runs on several devices are subprocesses (virtual devices must exist before the
backend starts): tests/kzoo/training/test_train_devices.py.
"""

import keras
import numpy as np
import pytest

from kzoo.cli import build_parser, main
from kzoo.runtime import devices
from kzoo.runtime.errors import UsageError
from kzoo.training import TrainConfig
from kzoo.training.config import validate_config
from kzoo.training.inputs import prepare_data
from kzoo.training.recipe import resolve_run
from kzoo.training.runner import check_device_settings


@pytest.mark.parametrize("value", [0, -1, True, 1.5, "2", "every", None])
def test_bad_values_are_refused(value):
    with pytest.raises(UsageError, match="int >= 1 or 'all'"):
        devices.resolve(value)
    with pytest.raises(UsageError, match="devices must be"):
        validate_config(TrainConfig(devices=value))


def test_one_and_all_resolve_to_what_exists():
    assert devices.resolve(1) == 1
    if keras.backend.backend() != "torch":
        assert devices.resolve("all") >= 1
    with devices.scope(1) as placement:  # one device: no engine
        assert placement == devices.Placement() and placement.local_devices == 1
        if keras.backend.backend() == "jax":
            assert keras.distribution.distribution() is None


def test_torch_names_the_keras_release_that_adds_distribution():
    with pytest.raises(UsageError, match=r"Keras 3\.15 has no torch.*#23316.*3\.16.*keras<3\.16"):
        devices.resolve(2, backend="torch")
    with pytest.raises(UsageError, match="--backend jax or tensorflow"):
        devices.resolve("all", backend="torch")


def test_more_devices_than_exist_names_the_count_and_virtual_devices():
    if keras.backend.backend() == "torch":
        pytest.skip("torch refuses any devices > 1 (tested above)")
    count = devices.resolve("all")
    hint = "xla_force_host_platform_device_count" if keras.backend.backend() == "jax" \
        else "set_logical_device_configuration"
    with pytest.raises(UsageError, match=rf"devices={count + 1} but .* sees {count} .*{hint}"):
        devices.resolve(count + 1)


def test_the_devices_flag():
    parser = build_parser()
    assert parser.parse_args(["train", "--devices", "4"]).devices == 4
    assert parser.parse_args(["train", "--devices", "all"]).devices == "all"
    assert parser.parse_args(["train"]).devices == 1
    for bad in ("0", "two"):
        with pytest.raises(SystemExit) as exit_info:
            parser.parse_args(["train", "--devices", bad])
        assert exit_info.value.code == 2


def test_too_many_devices_fail_before_writing(tmp_path, capsys):
    out = tmp_path / "run"
    code = main(["train", "--model", "mlp", "--data", "digits", "--devices", "512",
                 "--out", str(out), "--quiet"])
    assert code == 2 and not out.exists()
    assert "devices=512" in capsys.readouterr().err


def _plan(batch_size, n_devices):
    rng = np.random.default_rng(0)
    x = rng.normal(size=(250, 4)).astype("float32")
    data = prepare_data((x, (x[:, 0] > 0).astype("int32")))
    config = TrainConfig(model="mlp", batch_size=batch_size, devices=n_devices)
    return resolve_run(config, data, devices=n_devices)


def test_auto_batch_is_a_multiple_of_the_devices_and_devices_are_recorded():
    one, three = _plan("auto", 1), _plan("auto", 3)
    assert one.config.batch_size % 3  # the recipe's own choice (25) is not a multiple
    assert three.config.batch_size == -(-one.config.batch_size // 3) * 3
    assert "rounded up to a multiple of the 3 devices" in three.resolved.notes["batch_size"]
    assert three.config.devices == 3 and three.resolved.values["devices"] == 3
    assert three.resolved.sources["devices"] == "user"
    assert _plan(30, 4).config.batch_size == 30  # a given batch is the global batch, as is


def test_tensorflow_refuses_per_replica_gradient_callbacks_and_lr_auto():
    plan = _plan(32, 2)
    plan.config.backend = "tensorflow"
    check_device_settings(plan.config, plan)  # no gradient callback, no clipping: fine
    plan.config.grad_log_every = 10
    with pytest.raises(UsageError, match="--grad-log-every 10 with devices=2 on tensorflow"):
        check_device_settings(plan.config, plan)
    plan.config.backend = "jax"  # jax's gradient callbacks see the global gradient
    check_device_settings(plan.config, plan)
    plan.config.backend, plan.config.grad_log_every, plan.config.lr = "tensorflow", 0, "auto"
    with pytest.raises(UsageError, match="--lr auto with devices=2 on tensorflow"):
        check_device_settings(plan.config, plan)
