"""`clip_global_gradient`: Keras' own clipping, of the global gradient, under a
TensorFlow strategy of several replicas (a hook on the optimizer's private
clipping step, through the private-API door `_keras_private`)."""

import keras

from kzoo.callbacks import _keras_private


def clip_global_gradient(optimizer):
    """Make Keras' own clipping (`clipnorm`, `global_clipnorm`, `clipvalue`) clip
    the global gradient under a TensorFlow strategy of several replicas.

    Keras' TF optimizer clips each replica's gradient before the all-reduce, so
    a norm threshold would apply to per-replica norms. Here the replicas first
    sum their gradients (the global gradient, on each), clip that with the
    optimizer's own rule, and pass on a 1/replicas share, which Keras' all-reduce
    sums back to the clipped global gradient (exactly for 2, 4, 8... replicas).
    A no-op elsewhere, and on one replica.

    Args:
        optimizer: a built or unbuilt Keras optimizer (of a model built in
            `kzoo.runtime.devices.scope`).
    """
    if keras.backend.backend() != "tensorflow" or not (
        optimizer.clipnorm or optimizer.global_clipnorm or optimizer.clipvalue
    ):
        return
    import tensorflow as tf

    own = type(optimizer)._clip_gradients

    def clip(grads):
        context = tf.distribute.get_replica_context()
        replicas = context.num_replicas_in_sync if context is not None else 1
        if replicas == 1:
            return own(optimizer, grads)
        present = [i for i, g in enumerate(grads) if g is not None]
        grads = list(grads)
        for i, g in zip(present, context.all_reduce("sum", [grads[i] for i in present]),
                        strict=True):
            grads[i] = g
        return [g if g is None else g / replicas for g in own(optimizer, grads)]

    _keras_private.install_clip_hook(optimizer, clip)
