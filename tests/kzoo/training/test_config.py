"""kzoo.training.config: one source for choices and defaults, read by the CLI."""

import dataclasses

import pytest

from kzoo import rundir as run_dir
from kzoo.callbacks.gradient_clipping import MODES
from kzoo.callbacks.gradient_health import ACTIONS
from kzoo.cli import build_parser
from kzoo.cli.train import NOT_TRAIN_FLAGS
from kzoo.runtime.errors import UsageError
from kzoo.schedules.factory import SCHEDULES
from kzoo.schedules.lr_finder import RESULT_FILE
from kzoo.training import config
from kzoo.training.config import TrainConfig, validate_config
from kzoo.zoo import POLICIES


def test_choices_match_what_the_callbacks_accept():
    assert config.SCHEDULES == tuple(SCHEDULES)
    assert config.CLIP_CHOICES == ("none", *MODES)
    assert config.HEALTH_CHOICES == ("off", *ACTIONS)
    assert set(config.PRECISIONS) <= set(POLICIES)
    assert run_dir.LR_FIND_FILE == RESULT_FILE


def test_every_train_flag_defaults_to_the_train_config_default():
    args = vars(build_parser().parse_args(["train"]))
    flags = [f for f in dataclasses.fields(TrainConfig) if f.name not in NOT_TRAIN_FLAGS]
    assert flags, "no TrainConfig field has a flag"
    for field in flags:
        assert args[field.name] == config.default(field.name), field.name
    assert args["hp"] == [] and config.default("hparams") == {}
    assert args["resume"] is None and args["quiet"] is False


def test_train_flags_reach_the_config(monkeypatch):
    from kzoo import cli
    from kzoo.training import runner

    seen = {}

    def fake_train(**settings):
        seen.update(settings)
        raise UsageError("stop here")

    monkeypatch.setattr(runner, "train", fake_train)
    code = cli.main(["train", "--epochs", "3", "--clip", "agc", "--schedule", "cosine",
                     "--hp", "units=8", "--quiet", "--keep-best", "2"])
    assert code == 2
    assert seen["epochs"] == 3 and seen["clip"] == "agc" and seen["schedule"] == "cosine"
    assert seen["hparams"] == {"units": 8} and seen["verbose"] == 0 and seen["keep_best"] == 2
    assert set(seen) == {f.name for f in dataclasses.fields(TrainConfig)} - {"backend", "resume"}


@pytest.mark.parametrize(
    "settings, message",
    [
        ({"epochs": 0}, "epochs"),
        ({"lr": 11.0}, "lr must be"),
        ({"precision": "fp8"}, "precision"),
        ({"clip": "hard"}, "clip must be"),
        ({"clip": "autoclip", "clip_value": 1.0}, "does not apply to autoclip"),
        ({"clip_percentile": 5.0}, "autoclip only"),
        ({"clip_value": 1.0}, "clip is 'none'"),
        ({"grad_log_every": -1}, "grad_log_every"),
        ({"schedule": "cosinus"}, "schedule"),
        ({"warmup_epochs": 1.0, "warmup_steps": 3}, "not both"),
        ({"keep_best": -1}, "keep_best"),
        ({"resume": True}, "resume needs"),
    ],
)
def test_validate_config_names_the_bad_setting(settings, message):
    with pytest.raises(ValueError, match=message):
        validate_config(TrainConfig(**settings))


def test_default_config_is_valid():
    validate_config(TrainConfig())
