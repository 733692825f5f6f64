"""kzoo/training/compile_policy.py: --compile {auto,on,off}."""

import pytest

from kzoo.training import compile_policy
from kzoo.training.compile_policy import jit_compile_for


def test_on_and_off_are_explicit_everywhere():
    for backend in ("jax", "tensorflow", "torch"):
        assert jit_compile_for("on", backend, "gru", 10) is True
        assert jit_compile_for("off", backend, "gru", 10**9) is False


def test_auto_leaves_jax_and_tensorflow_to_keras():
    assert jit_compile_for("auto", "jax", "lstm", 10) == "auto"
    assert jit_compile_for("auto", "tensorflow", "lstm", 10) == "auto"


def test_auto_on_torch_follows_the_measured_break_even(monkeypatch):
    monkeypatch.setattr(compile_policy, "TORCH_CPU_BREAK_EVEN_STEPS", {"fcn": 500, "gru": None})
    assert jit_compile_for("auto", "torch", "fcn", 501) is True
    assert jit_compile_for("auto", "torch", "fcn", 500) is False
    assert jit_compile_for("auto", "torch", "gru", 10**9) is False  # never pays
    assert jit_compile_for("auto", "torch", "mlp", 10**9) is False  # not measured
    assert jit_compile_for("auto", "torch", "fcn", None) is False  # length unknown (stream)
    assert jit_compile_for("auto", "torch", "fcn", 10**9, device="cuda") is False


def test_measured_table_matches_the_benchmark_json():
    import json
    import pathlib

    path = pathlib.Path(__file__).parents[3] / "benchmarks" / "torch_compile.json"
    measured = json.loads(path.read_text())["families"]
    for family, steps in compile_policy.TORCH_CPU_BREAK_EVEN_STEPS.items():
        expected = measured[family].get("break_even_steps")
        assert (steps is None) == (expected is None), family
        if steps is not None:
            assert steps == pytest.approx(expected, rel=0.01), family


def test_bad_choice_is_refused_before_training():
    from kzoo.training import train

    with pytest.raises(ValueError, match="compile"):
        train("mlp", "digits", epochs=1, verbose=0, compile="yes")


@pytest.mark.parametrize("choice, expected", [("on", True), ("off", False)])
def test_train_sets_the_models_jit_compile(choice, expected):
    import keras

    from kzoo.training import train

    if choice == "on" and keras.backend.backend() == "torch":
        pytest.skip("torch.compile of a whole step takes minutes on the shared CPU")
    result = train("mlp", "digits", epochs=1, verbose=0, compile=choice)
    assert result.model.jit_compile is expected
