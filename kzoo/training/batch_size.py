"""`--batch-size max`: the largest batch that fits, by doubling and then bisecting.

As Lightning's `scale_batch_size(mode="binsearch")`: from a batch that fits (the
recipe's), double until a probe runs out of memory, then bisect between the last
batch that fitted and the first that did not, to one example. A probe is two
training steps of the run's own model at that batch (its weights, optimizer state
and the NumPy/Python/torch RNG states are put back afterwards, so the run trains
as it would with `--batch-size <found>`). The batch never exceeds the training
set. The run records the batch found in config.json (`resolved.batch_size`,
source `batch-size search`) and a resume reuses it without probing again.

With `--accumulate N` the batch found is the micro-batch: an optimizer step sees
`found x N` examples.

Testing without a GPU: `KZOO_FAKE_OOM_FROM_BATCH=128` makes every kzoo fit of a
batch >= 128 (these probes, and `kzoo tune` trials) raise a RESOURCE_EXHAUSTED
error, as jax and TensorFlow do when the device is full.
"""

import os
import random

import keras
import numpy as np

from kzoo.runtime.errors import UsageError, out_of_memory

FAKE_OOM_ENV = "KZOO_FAKE_OOM_FROM_BATCH"
SOURCE = "batch-size search"
PROBE_STEPS = 2


def raise_fake_out_of_memory(batch_size):
    """The test hook: raise as a full device would when `batch_size` reaches
    `$KZOO_FAKE_OOM_FROM_BATCH`."""
    limit = os.environ.get(FAKE_OOM_ENV)
    if limit and batch_size >= int(limit):
        raise RuntimeError(
            f"RESOURCE_EXHAUSTED: Out of memory while trying to allocate a batch of "
            f"{batch_size} (injected: {FAKE_OOM_ENV}={limit})")


def search_max_batch(fits, start, limit):
    """The largest batch in [1, limit] for which `fits(batch)` is True, and the probes.

    Doubling from `start`, then bisection (Lightning's binsearch); from a `start` that
    does not fit, halving first. Returns `(batch, probes)`, `probes` a list of
    `(batch, fitted)`; batch is 0 when not even 1 fits.
    """
    probes = []

    def probe(batch):
        ok = fits(batch)
        probes.append((batch, ok))
        return ok

    batch = max(1, min(start, limit))
    if probe(batch):
        low, high = batch, None
        while high is None and low < limit:
            batch = min(low * 2, limit)
            if probe(batch):
                low = batch
            else:
                high = batch
    else:
        high, low = batch, 0
        while low == 0 and high > 1:
            batch = high // 2
            if probe(batch):
                low = batch
            else:
                high = batch
    if high is None or low == 0:
        return low, probes
    while high - low > 1:
        batch = (low + high) // 2
        if probe(batch):
            low = batch
        else:
            high = batch
    return low, probes


def _rng_states():
    states = [np.random.get_state(), random.getstate()]
    if keras.backend.backend() == "torch":
        import torch

        states.append(torch.get_rng_state())
    return states


def _set_rng_states(states):
    np.random.set_state(states[0])
    random.setstate(states[1])
    if len(states) > 2:
        import torch

        torch.set_rng_state(states[2])


def _free_device_cache():
    """torch keeps the failed step's blocks cached; jax and TensorFlow free them."""
    if keras.backend.backend() == "torch":
        import torch

        if torch.cuda.is_available():
            torch.cuda.empty_cache()


def find_max_batch(net, x, y, start):
    """Probe `net` on `x, y` (see the module); returns `(batch, probes)`, state restored."""
    optimizer = net.optimizer
    if not optimizer.built:
        optimizer.build(net.trainable_variables)
    saved = [keras.ops.convert_to_numpy(v.value) for v in net.variables]
    saved_opt = [keras.ops.convert_to_numpy(v.value) for v in optimizer.variables]
    rng = _rng_states()

    def fits(batch):
        index = np.arange(batch * PROBE_STEPS) % len(x)
        try:
            raise_fake_out_of_memory(batch)
            net.fit(x[index], y[index], batch_size=batch, epochs=1, shuffle=False, verbose=0)
        except Exception as err:  # only out of memory is an answer
            if out_of_memory(err) is None:
                raise
            _free_device_cache()
            return False
        return True

    try:
        return search_max_batch(fits, start, len(x))
    finally:
        for v, value in zip(net.variables, saved, strict=True):
            v.assign(value)
        for v, value in zip(optimizer.variables, saved_opt, strict=True):
            v.assign(value)
        _set_rng_states(rng)


def check_max_batch(config, prepared, devices):
    """Refuse `batch_size="max"` where it cannot work, before anything is written."""
    if config.batch_size != "max":
        return
    if not isinstance(prepared.train, tuple):
        raise UsageError("--batch-size max needs array data (x, y): the search probes batches "
                         "of the training examples. Pass arrays, or give --batch-size N.")
    if devices > 1:
        raise UsageError(f"--batch-size max with devices={devices}: the search probes one "
                         "device. Find the batch on one device and pass --batch-size N "
                         "(the global batch), or train on one device.")


def adopt_recorded(config, plan, stored):
    """On a resume of a `max` run: the batch the search found then (config.json)."""
    recorded = (stored.get("batch_size") or {}).get("value") if stored else None
    if config.batch_size != "max" or not recorded:
        return False
    plan.config.batch_size = recorded
    _record(plan, recorded, (stored.get("batch_size") or {}).get("note", ""))
    return True


def choose_max_batch(plan, net, exact, verbose):
    """`--batch-size max`: search, report and set the run's batch (and `exact`'s)."""
    run, prepared = plan.config, plan.data
    x, y = prepared.train
    batch, probes = find_max_batch(net, x, y, run.batch_size)
    tried = ", ".join(f"{b} {'fits' if ok else 'out of memory'}" for b, ok in probes)
    if batch == 0:
        raise UsageError(f"--batch-size max: not even a batch of 1 fits ({tried}). "
                         "Use a smaller model (--hp) or shorter sequences.")
    accumulate = getattr(run, "accumulate", 1)
    note = f"largest batch that fits (doubling, then bisection: {tried})"
    if accumulate > 1:
        note += f"; x --accumulate {accumulate} = global batch {batch * accumulate}"
    run.batch_size = batch
    exact["batch_size"] = batch
    _record(plan, batch, note)
    if verbose != 0:
        print(f"--batch-size max: {batch} ({note}).", flush=True)
    return batch


def _record(plan, batch, note):
    res = plan.resolved
    res.values["batch_size"], res.sources["batch_size"], res.notes["batch_size"] = (
        batch, SOURCE, note)
