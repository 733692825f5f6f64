"""`kzoo train --compile {auto,on,off}`: whether the train step is compiled.

`on` and `off` set `model.jit_compile` to True/False (on torch, True is
`torch.compile`). `auto` keeps Keras' own choice on jax and tensorflow (XLA
where the model supports it) and, on torch, compiles only where
benchmarks/torch_compile.py measured that compiling pays for the run's length:
its one-off cost repaid by faster steps within the run's steps. Keras-free.
"""

from kzoo.runtime.errors import UsageError
from kzoo.training.config import COMPILE_CHOICES

# Steps after which torch.compile has repaid its compile time on CPU, from
# benchmarks/torch_compile.json; None: compiled steps were not faster. Families
# absent are not measured (or failed to compile), so auto leaves them eager.
# Measured 2026-12-01 in CPU time of one thread (load 12-15 on 2 cores, so CPU time,
# not wall): compiling costs 35-145 CPU s; the MLP and FCN steps got slower
# compiled (Keras' layers break the graph: dynamo hits its recompile limit), and so
# did LSTM (compiled, it runs Keras' per-step loop: inductor cannot lower the fused
# CPU kernel, zoo/_torch_rnn.py); SimpleRNN and GRU got faster (2.5x, 1.5x) and
# repay their compile after ~23-25k steps.
TORCH_CPU_BREAK_EVEN_STEPS = {
    "mlp": None, "fcn": None, "lstm": None, "gru": 22987, "simple_rnn": 24584
}


def jit_compile_for(choice, backend, family, steps=None, device="cpu"):
    """The `jit_compile` value for a run: True, False, or "auto" (Keras decides).

    Args:
        choice: "auto", "on" or "off".
        backend: the Keras backend.
        family: the zoo model name.
        steps: the run's training steps (epochs x steps per epoch), None if unknown.
        device: "cpu" or "cuda" (torch only; CUDA is not measured yet, so auto is off).
    """
    if choice not in COMPILE_CHOICES:
        raise UsageError(f"compile must be one of {COMPILE_CHOICES}, got {choice!r}.")
    if choice != "auto":
        return choice == "on"
    if backend != "torch":
        return "auto"
    if device != "cpu" or steps is None:
        return False
    break_even = TORCH_CPU_BREAK_EVEN_STEPS.get(family)
    return break_even is not None and steps > break_even
