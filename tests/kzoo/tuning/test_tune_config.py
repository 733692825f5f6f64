"""`TuneConfig` is the one listing of a search's settings: `tune`'s signature, the
defaults of `kzoo tune`'s flags and the chief/worker hand-off all read it. Keras-free
and backend-free: jax only."""

import dataclasses
import inspect

import pytest
from _backends import one_backend

from kzoo.cli import build_parser
from kzoo.tuning import TuneConfig
from kzoo.tuning.distribute import handoff

pytestmark = one_backend("tensorflow", "settings and parsers; backend-free")


def test_tunes_signature_is_the_configs_fields():
    from kzoo.tuning.api import tune

    params = inspect.signature(tune).parameters
    fields = dataclasses.fields(TuneConfig)
    assert list(params) == [f.name for f in fields]
    for f in fields:
        if f.default is not dataclasses.MISSING:
            assert params[f.name].default == f.default, f.name
    assert params["out"].default is inspect.Parameter.empty  # required, keyword-only
    with pytest.raises(TypeError, match="unexpected keyword argument 'max_trial'"):
        tune("mlp", "digits", out="o", max_trial=3)


def test_the_clis_defaults_are_the_configs():
    args = build_parser().parse_args(["tune", "--out", "o"])
    for f in dataclasses.fields(TuneConfig):
        if hasattr(args, f.name) and f.name not in ("model", "data", "seed", "early_stopping",
                                                    "out", "epochs"):
            assert getattr(args, f.name) == f.default, f.name
    assert args.tuner == "random" and args.max_trials == 10 and args.heartbeat_timeout == 60.0
    # --epochs: None until the command decides (TuneConfig's 10, or with --model auto each
    # family's recipe budget); the help names the default.
    assert args.epochs is None
    assert f"default {TuneConfig.__dataclass_fields__['epochs'].default}" in " ".join(
        a.help or "" for a in build_parser()._subparsers._group_actions[0].choices["tune"]._actions)


def test_the_handoff_carries_the_configs_scalars(tmp_path):
    config = TuneConfig(model="mlp", data="digits", out=str(tmp_path), max_trials=3,
                        objective="val_loss", fixed={"units": [8, 16]}, callbacks=[])
    back = handoff.read(handoff.write(handoff.encode(config), tmp_path))
    rebuilt = TuneConfig(**back)
    for name in ("model", "data", "out", "max_trials", "objective", "fixed", "heartbeat_timeout",
                 "prune", "verbose", "devices"):
        assert getattr(rebuilt, name) == getattr(config, name), name


@pytest.mark.parametrize("flag", ["0", "-1", "two"])
def test_devices_is_refused_by_one_rule_in_train_and_tune(flag, capsys):
    for command in ("train", "tune"):
        with pytest.raises(SystemExit):
            build_parser().parse_args([command, "--devices", flag])
        assert f"takes an integer >= 1 or 'all', got '{flag}'" in capsys.readouterr().err
