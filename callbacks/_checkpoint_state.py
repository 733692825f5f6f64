"""Private: the checkpoint's state codec: callback states and values to JSON and arrays.

Callbacks with `get_state`/`set_state` give their own state; Keras' own stateful
callbacks (EarlyStopping, ReduceLROnPlateau) get their counters saved. Arrays
(EarlyStopping's best weights) are split out of the JSON record and stored
beside the model's variables in the checkpoint file.
"""

import keras
import numpy as np

BEST_WEIGHTS = "best_weights"


def to_numpy(v):
    return np.asarray(keras.ops.convert_to_numpy(v))


def callback_key(i, cb):
    return f"{i}:{type(cb).__name__}"


def callback_state(cb):
    """JSON-able state of `cb` (None if it has none); EarlyStopping's best weights
    stay arrays, which `save` writes beside the model's (see split_weights)."""
    if hasattr(cb, "get_state"):
        return plain(cb.get_state())
    # Keras' own stateful callbacks have no get_state: save their counters.
    if isinstance(cb, keras.callbacks.EarlyStopping):
        names = ("wait", "best", "stopped_epoch", "best_epoch")
    elif isinstance(cb, keras.callbacks.ReduceLROnPlateau):
        names = ("wait", "best", "cooldown_counter")
    else:
        return None
    state = {n: plain(getattr(cb, n, None)) for n in names}
    if isinstance(cb, keras.callbacks.EarlyStopping) and cb.best_weights is not None:
        state[BEST_WEIGHTS] = list(cb.best_weights)
    return state


def split_weights(states):
    """JSON-able callback states and the arrays they hold (EarlyStopping's best
    weights), named `c<callback index>w<weight index>` in the checkpoint file."""
    plain, arrays = {}, {}
    for key, state in states.items():
        weights = state.get(BEST_WEIGHTS) if isinstance(state, dict) else None
        if weights is not None:
            index = key.split(":", 1)[0]
            arrays.update({f"c{index}w{j}": np.asarray(w) for j, w in enumerate(weights)})
            state = {**state, BEST_WEIGHTS: {"arrays": len(weights)}}
        plain[key] = state
    return plain, arrays


def join_weights(states, arrays):
    """Inverse of `_split_weights` for a loaded checkpoint."""
    joined = {}
    for key, state in states.items():
        saved = state.get(BEST_WEIGHTS) if isinstance(state, dict) else None
        if isinstance(saved, dict):
            index = key.split(":", 1)[0]
            weights = [arrays[f"c{index}w{j}"] for j in range(saved["arrays"])]
            state = {**state, BEST_WEIGHTS: weights}
        joined[key] = state
    return joined


def set_callback_state(cb, state):
    if hasattr(cb, "set_state"):
        cb.set_state(state)
    else:
        for name, value in state.items():
            setattr(cb, name, value)


def plain(value):
    """A JSON-able Python value (numbers from backend tensors, inf kept)."""
    if value is None or isinstance(value, (bool, int, float, str)):
        return value
    if isinstance(value, (list, tuple)):
        return [plain(v) for v in value]
    if isinstance(value, dict):
        return {str(k): plain(v) for k, v in value.items()}
    arr = to_numpy(value)
    return arr.item() if arr.ndim == 0 else arr.tolist()
