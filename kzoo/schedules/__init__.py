"""The learning rate: schedules (`Warmup`, `StepDecay`, `OneCycle` and its
`CycleMomentum` callback), the batch-size scaling rules and the schedule factory
keyed by the `--schedule` names, and the LR range test (`LRFinder`).

Library layer: imports the foundation (`kzoo.runtime`), `kzoo.callbacks` and
`kzoo.fit`.
"""

from kzoo.schedules.cycle_momentum import CycleMomentum  # noqa: F401
from kzoo.schedules.factory import build_schedule, scale_learning_rate  # noqa: F401
from kzoo.schedules.lr_finder import LRFinder  # noqa: F401
from kzoo.schedules.rates import OneCycle, StepDecay, Warmup  # noqa: F401
