"""Exact, mid-epoch resumable training: an owned batch order and `fit_resumable`.

Keras' `fit(shuffle=True)` draws its batch order from a global RNG that no
checkpoint captures, so a resumed run would see other batches. Here the order
is owned: epoch `e` uses the permutation `default_rng([seed, e])`, and batch
`g` of the run (global step) is a pure function of `(seed, g)`. Together with
the model variables (which include the dropout `SeedGenerator` states), the
optimizer variables (its step counter drives the LR schedule), the callback
states and the interrupted epoch's metric sums, this makes a run killed at any
step and resumed from its last checkpoint end with the same weights and the
same per-epoch logs as an uninterrupted run. `kzoo.callbacks.Checkpoint` saves
and restores that state.
"""

import contextlib

import keras
import numpy as np

from kzoo.callbacks._checkpoint_state import BEST_WEIGHTS, callback_key
from kzoo.fit._padded_metrics import exact_padded_metrics
from kzoo.fit.batches import ShuffledBatches
from kzoo.runtime.errors import UsageError


def fit_resumable(
    model,
    x,
    y,
    *,
    epochs,
    batch_size,
    checkpoint,
    seed=0,
    callbacks=(),
    validation_data=None,
    resume=True,
    verbose=0,
    pad_to=1,
    process_index=0,
    process_count=1,
):
    """`model.fit` that checkpoints its full state and resumes where it stopped.

    If `checkpoint.directory` holds a valid checkpoint (and `resume`), the
    model, optimizer, callbacks and history are restored from it and training
    continues at the saved epoch and step: first the rest of the interrupted
    epoch, then the remaining epochs.

    Args:
        model: a compiled model.
        x, y: training data (arrays).
        epochs: total number of epochs of the run.
        batch_size: examples per step (the global batch on several devices).
        checkpoint: a `kzoo.callbacks.Checkpoint`, or `None`: the same seeded
            batch order, without checkpoints (nothing to resume from).
        seed: seed of the batch order. Defaults to `0`.
        callbacks: other callbacks; their `get_state()` (or, for EarlyStopping and
            ReduceLROnPlateau, their counters, and EarlyStopping's best weights)
            are saved and restored.
        validation_data: passed to `fit`; with `pad_to > 1`, `(x, y)` arrays are
            evaluated in padded batches of `batch_size`, in order.
        resume: resume from the latest checkpoint if there is one. Defaults to `True`.
        verbose: passed to `fit`. Defaults to `0`.
        pad_to: the device count: batches are padded to a multiple of it
            (`ShuffledBatches`), and the logged loss and metrics stay those of
            the unpadded batches. Defaults to `1`.
        process_index, process_count: this process in a multi-process job; each
            feeds its slice of every global batch. Default to `0` and `1`.

    Returns:
        The history of the whole run, a dict of lists (one entry per epoch).

    Example:

    >>> ckpt = Checkpoint("runs/a/checkpoints", every_n_steps=50)
    >>> history = fit_resumable(model, x, y, epochs=10, batch_size=32, checkpoint=ckpt)
    """
    if not isinstance(epochs, int) or epochs < 1:
        raise UsageError(f"epochs must be an int >= 1, got {epochs!r}.")
    callbacks = [c for c in callbacks if c is not checkpoint]
    placement = dict(pad_to=pad_to, process_index=process_index, process_count=process_count)
    data = ShuffledBatches(x, y, batch_size, seed, **placement)
    spe = data.steps_per_epoch
    state = None
    if checkpoint is not None:
        checkpoint.track(callbacks, steps_per_epoch=spe, seed=seed)
        state = checkpoint.restore(model) if resume else None
    global_step = state["global_step"] if state else 0
    history = {k: list(v) for k, v in (state["history"] if state else {}).items()}
    total = epochs * spe
    if pad_to > 1 and isinstance(validation_data, (list, tuple)) and len(validation_data) == 2:
        # Keras would batch it with a partial last batch, which several devices refuse.
        validation_data = ShuffledBatches(*validation_data, batch_size, seed, shuffle=False,
                                          **placement)
    fit_kwargs = dict(
        validation_data=validation_data,
        shuffle=False,
        verbose=verbose,
        # the checkpoint goes last: it restores states after on_train_begin
        callbacks=[*callbacks, *([checkpoint] if checkpoint is not None else [])],
    )

    def run(start, num_steps, steps_per_epoch, first_epoch, last_epoch):
        stream = ShuffledBatches(x, y, batch_size, seed, start_step=start, num_steps=num_steps,
                                 **placement)
        h = model.fit(
            stream,
            steps_per_epoch=steps_per_epoch,
            initial_epoch=first_epoch,
            epochs=last_epoch,
            **fit_kwargs,
        )
        for k, v in h.history.items():
            history.setdefault(k, []).extend(v)

    epoch, step = divmod(global_step, spe)
    with exact_padded_metrics(model) if pad_to > 1 else contextlib.nullcontext():
        if global_step < total and step:
            _build_metrics(model, data[0])
            # The rest of the interrupted epoch, as its own short fit.
            with _no_restore_unless_stopped(model, callbacks):
                run(global_step, spe - step, spe - step, epoch, epoch + 1)
            epoch += 1
            if model.stop_training:
                return history
        if epoch < epochs:
            run(epoch * spe, (epochs - epoch) * spe, spe, epoch, epochs)
        elif state:  # no epoch left: no fit ends, so the selection is applied here
            _select_without_fit(model, checkpoint)
    return history


def _select_without_fit(model, checkpoint):
    """A run resumed in (or after) its last epoch has no full fit left to end, so
    EarlyStopping never restores the best weights (the short fit that finishes an
    interrupted epoch does not, `_no_restore_unless_stopped`): restore them here,
    from the state the checkpoint restored or the short fit left."""
    pending = checkpoint._pending_states or {}
    for i, cb in enumerate(checkpoint.tracked):
        state = pending.get(callback_key(i, cb))
        if (isinstance(cb, keras.callbacks.EarlyStopping) and cb.restore_best_weights
                and isinstance(state, dict) and state.get(BEST_WEIGHTS) is not None):
            model.set_weights(state[BEST_WEIGHTS])


@contextlib.contextmanager
def padded_evaluation(model, pad_to, process_index=0, process_count=1):
    """Within the block, `model.evaluate(x, y, batch_size=...)` on arrays runs on
    padded batches in order (`ShuffledBatches(shuffle=False, pad_to=...)`), with
    the unpadded batches' loss and metrics: several devices refuse a partial
    batch (jax), or split it unevenly and fail (TensorFlow's MirroredStrategy).
    Other inputs go to Keras' own `evaluate`.

    Args:
        model: a compiled model.
        pad_to: the device count.
        process_index, process_count: this process in a multi-process job.
    """
    own = model.evaluate

    def evaluate(x=None, y=None, batch_size=None, **kwargs):
        arrays = isinstance(x, (np.ndarray, list, tuple)) and y is not None
        if not arrays or kwargs.get("sample_weight") is not None:
            return own(x, y, batch_size=batch_size, **kwargs)
        data = ShuffledBatches(x, y, batch_size or 32, 0, shuffle=False, pad_to=pad_to,
                               process_index=process_index, process_count=process_count)
        with exact_padded_metrics(model):
            return own(data, **kwargs)

    model.__dict__["evaluate"] = evaluate
    try:
        yield
    finally:
        model.__dict__.pop("evaluate", None)


def _build_metrics(model, batch):
    """Create the compiled metrics' variables now (tensorflow builds them when
    it traces the first step), so the checkpoint can put their running sums
    back when the resumed epoch begins; fit resets the update made here."""
    xb, yb = batch[:2]
    model.compute_metrics(xb, yb, model(xb, training=False), None)


@contextlib.contextmanager
def _no_restore_unless_stopped(model, callbacks):
    """EarlyStopping(restore_best_weights=True) restores the best weights when a
    fit ends; a fit that only finishes an interrupted epoch is not the end of
    the run, so it restores them only if it stopped the run."""
    patched = [
        cb
        for cb in callbacks
        if isinstance(cb, keras.callbacks.EarlyStopping) and cb.restore_best_weights
    ]
    for cb in patched:
        original = cb.on_train_end

        def on_train_end(logs=None, _original=original):
            if model.stop_training:
                _original(logs)

        cb.on_train_end = on_train_end
    try:
        yield
    finally:
        for cb in patched:
            del cb.on_train_end  # the class's method again
