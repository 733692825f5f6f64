"""Where a torch-backend training step spends its CPU time, against hand-written torch.nn.

For the recurrent families at step_time.py's CPU shapes, on KERAS_BACKEND=torch,
single-threaded, CPU time of the process (not wall), variants interleaved per
round and medians over rounds. Per step, in ms:

- `torch.nn`: forward + loss + backward; `Adam.step`; the whole loop step.
- `kzoo`: the zoo model's forward + Keras loss + backward; Keras' `optimizer.apply`;
  Keras' `train_step` (adds metrics); `fit` per step (adds the epoch loop, data
  conversion and callbacks).
- `keras+fused`: the plain-Keras model of step_time.py with kzoo's fused kernels
  (`fuse_model`): the same model without kzoo's builder, to tell kzoo's cost
  from Keras'.
- `layer`: one recurrent layer's forward + backward alone, kzoo-fused Keras layer
  vs `torch.nn` module (the kernel part, where kzoo's own code runs).
- `floor`: the cheapest step that still trains the model as a Keras model: its
  forward through Keras' layer calls, torch's fused cross-entropy on the softmax's
  logits (`_keras_logits`, no Keras loss object), backward, Keras'
  `optimizer.apply`, and no metrics or loss tracker (`floor/lean_step`). `fit`
  only adds to it (data adapter, callbacks, logs), so `torch.nn/step / lean_step`
  (`floor/step_throughput_bound`, per round) bounds from above the throughput of
  any `fit` that runs this model through Keras' layer calls and optimizer on eager
  torch, whatever its train step computes besides.

Usage:
    KERAS_BACKEND=torch python benchmarks/torch_step_breakdown.py [--rounds 7]
        [--families lstm gru simple_rnn] [--out benchmarks/torch_step_breakdown.json]
"""

import argparse
import gc
import json
import os
import statistics
import sys
import time

sys.path.insert(0, os.path.dirname(__file__))
from step_time import (  # noqa: E402
    RNN_CELLS,
    SHAPES,
    _kzoo,
    _plain_keras,
    single_thread,
    summary,
)

single_thread()


def _cpu_ms(fn, reps):
    gc.collect()
    start = time.process_time()
    for _ in range(reps):
        fn()
    return (time.process_time() - start) * 1000 / reps


def _keras_parts(model, x, y, xn, yn, batch):
    import torch

    tw = model.trainable_weights
    model.make_train_function()

    def fwd_bwd():
        model.zero_grad()
        loss = model._compute_loss(x=x, y=y, y_pred=model(x, training=True), training=True)
        loss.backward()

    def apply():
        with torch.no_grad():
            model.optimizer.apply(grads, tw)

    fwd_bwd()
    grads = [v.value.grad.clone() for v in tw]
    steps = len(xn) // batch
    return {
        "fwd_loss_bwd": (fwd_bwd, 5),
        "optimizer_apply": (apply, 5),
        "train_step": (lambda: model.train_step((x, y)), 5),
        "train_function": (lambda: model.train_function([(x, y)]), 5),
        "fit_step": (
            lambda: model.fit(xn, yn, batch_size=batch, epochs=1, verbose=0, shuffle=False),
            1 / steps,  # one fit of `steps` steps, reported per step
        ),
    }


def _lean_step(model, x, y):
    """The floor: Keras forward, fused cross-entropy on the logits, backward, Keras'
    optimizer; no metrics, no loss tracker (a measurement, not a training step kzoo ships)."""
    import torch

    tw = model.trainable_weights
    if not hasattr(model(x[:1]), "_keras_logits"):
        raise SystemExit("the floor needs a softmax output that keeps its logits")

    def step():
        for v in tw:
            v.value.grad = None
        probs = model(x, training=True)
        torch.nn.functional.cross_entropy(probs._keras_logits, y.long()).backward()
        with torch.no_grad():
            model.optimizer.apply([v.value.grad for v in tw], tw)

    return step


def _torch_parts(family, s, x, y):
    import torch

    cell = {"simple_rnn": torch.nn.RNN, "lstm": torch.nn.LSTM, "gru": torch.nn.GRU}[family]
    rnn = cell(s["F"], s["units"], batch_first=True)
    head = torch.nn.Linear(s["units"], s["classes"])
    params = [*rnn.parameters(), *head.parameters()]
    opt = torch.optim.Adam(params, lr=1e-3)
    loss_fn = torch.nn.CrossEntropyLoss()

    def fwd_bwd():
        opt.zero_grad(set_to_none=True)
        loss_fn(head(rnn(x)[0][:, -1]), y.long()).backward()

    def step():
        fwd_bwd()
        opt.step()

    fwd_bwd()
    return {"fwd_loss_bwd": (fwd_bwd, 5), "optimizer_step": (opt.step, 5), "step": (step, 5)}, rnn


def measure(family, rounds):
    import keras
    import numpy as np
    import torch

    from kzoo.zoo._torch_rnn import fuse_model

    s = SHAPES["cpu"]["seq"]
    b = s["batch"]
    rng = np.random.default_rng(0)
    xn = rng.normal(size=(b * 30, s["T"], s["F"])).astype("float32")
    yn = rng.integers(0, s["classes"], len(xn)).astype("int32")
    x, y = torch.from_numpy(xn[:b]), torch.from_numpy(yn[:b])
    keras.utils.set_random_seed(0)
    kzoo_model = _kzoo(family, s)
    fused = fuse_model(_plain_keras(family, s))
    for m in (kzoo_model, fused):
        m.fit(xn, yn, batch_size=b, epochs=1, verbose=0)  # builds and warms up
    tparts, rnn = _torch_parts(family, s, x, y)
    layer = fuse_model(
        keras.Sequential(
            [keras.Input((s["T"], s["F"])), getattr(keras.layers, RNN_CELLS[family])(s["units"])]
        )
    )
    parts = {
        **{f"torch.nn/{k}": v for k, v in tparts.items()},
        **{f"kzoo/{k}": v for k, v in _keras_parts(kzoo_model, x, y, xn, yn, b).items()},
        **{f"keras+fused/{k}": v for k, v in _keras_parts(fused, x, y, xn, yn, b).items()},
        "layer/kzoo_fused": (lambda: layer(x).sum().backward(), 5),
        "layer/torch.nn": (lambda: rnn(x)[0][:, -1].sum().backward(), 5),
        "floor/lean_step": (_lean_step(kzoo_model, x, y), 5),
    }
    times = {k: [] for k in parts}
    names = list(parts)
    for r in range(rounds):
        for k in names if r % 2 == 0 else names[::-1]:
            fn, reps = parts[k]
            if reps < 1:  # a whole fit, reported per step
                times[k].append(_cpu_ms(fn, 1) * reps)
            else:
                times[k].append(_cpu_ms(fn, reps))
    row = {k: statistics.median(v) for k, v in times.items()}
    # per round, then summarised: ratios of medians would mix rounds
    row["floor/step_throughput_bound"] = summary(
        [t / lean for t, lean in zip(times["torch.nn/step"], times["floor/lean_step"], strict=True)]
    )
    row["kzoo/throughput_fit"] = summary(
        [t / f for t, f in zip(times["torch.nn/step"], times["kzoo/fit_step"], strict=True)]
    )
    return row


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--families", nargs="+", default=list(RNN_CELLS))
    parser.add_argument("--rounds", type=int, default=7)
    parser.add_argument("--out", default="benchmarks/torch_step_breakdown.json")
    args = parser.parse_args()
    import keras

    if keras.backend.backend() != "torch":
        sys.exit("run with KERAS_BACKEND=torch")
    report = {
        "date": time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime()),
        "load_at_start": os.getloadavg()[0],
        "method": "CPU ms per step (process_time), 1 thread, median over interleaved rounds",
        "shape": SHAPES["cpu"]["seq"],
        "families": {},
    }
    for family in args.families:
        report["families"][family] = row = measure(family, args.rounds)
        print(
            family,
            " ".join(
                f"{k}={v:.2f}"
                if isinstance(v, float)
                else f"{k}={v['median']:.2f}[{v['min']:.2f}-{v['max']:.2f}]"
                for k, v in row.items()
            ),
            flush=True,
        )
    report["load_at_end"] = os.getloadavg()[0]
    with open(args.out, "w") as f:
        json.dump(report, f, indent=2)
    print(f"wrote {args.out}")


if __name__ == "__main__":
    main()
