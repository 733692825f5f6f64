"""Exact logged loss and metrics on batches padded for several devices.

`ShuffledBatches(pad_to=k)` pads a batch to a multiple of the device count
with zero-weight copies and scales the real examples' weights by
`padded / real`, so the loss and its gradient equal the unpadded batch's. What
Keras logs would still differ: the `loss` tracker weighs each step by the
padded batch size, `metrics=` ignore sample weights (so they count the pads),
and `weighted_metrics` would count the real examples `padded / real` times.
Inside `exact_padded_metrics(model)` a weighted step counts each real example
once and each pad not at all, in the tracker and in every compiled metric, so
the epoch's logs equal those of the unpadded batches.
"""

import contextlib
import threading

import keras

from kzoo.callbacks import _keras_private as private


def _real_count(sample_weight):
    """`(mask, real)`: 1 for the real examples, 0 for the pads; and the number
    of real examples per replica (the global count over the replicas of a TF
    strategy, which runs this per replica, divided among them)."""
    mask = keras.ops.cast(keras.ops.greater(sample_weight, 0), "float32")
    real = keras.ops.sum(mask)
    if keras.backend.backend() == "tensorflow":
        import tensorflow as tf

        context = tf.distribute.get_replica_context()
        if context is not None and context.num_replicas_in_sync > 1:
            real = context.all_reduce("sum", real) / context.num_replicas_in_sync
    return mask, real


@contextlib.contextmanager
def exact_padded_metrics(model):
    """Within the block, steps given sample weights log exact padded-batch metrics.

    Meant for `ShuffledBatches(pad_to=k)` data only (its weights are 0 for the
    pads, a constant for the real examples). The model's step functions are
    rebuilt on entry and exit.
    """
    tracker = private.loss_tracker(model)
    original_update = tracker.update_state
    original_metrics = model.compute_metrics
    pending = threading.local()  # a TF strategy runs the replicas' steps in threads

    def defer(values, sample_weight=None):
        pending.call = (values, sample_weight)

    def compute_metrics(x, y, y_pred, sample_weight=None):
        deferred = pending.__dict__.pop("call", None)
        if sample_weight is None:
            if deferred is not None:
                original_update(*deferred)
            return original_metrics(x, y, y_pred, sample_weight)
        mask, real = _real_count(sample_weight)
        if deferred is not None:
            original_update(deferred[0], sample_weight=real)
        private.update_compiled_metrics(model, y, y_pred, mask)
        return model.get_metrics_result()

    def rebuild():
        model.train_function = model.test_function = None

    tracker.__dict__["update_state"] = defer
    model.__dict__["compute_metrics"] = compute_metrics
    rebuild()
    try:
        yield
    finally:
        tracker.__dict__.pop("update_state", None)
        model.__dict__.pop("compute_metrics", None)
        rebuild()
