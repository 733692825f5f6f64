"""The resumable fit: an owned batch order (`ShuffledBatches`) and `fit_resumable`,
which resumes a run killed at any step exactly, from a `kzoo.callbacks.Checkpoint`.

Library layer: imports the foundation (`kzoo.runtime`) and `kzoo.callbacks`.
"""

from kzoo.fit.batches import ShuffledBatches  # noqa: F401
from kzoo.fit.resumable_fit import fit_resumable, padded_evaluation  # noqa: F401
