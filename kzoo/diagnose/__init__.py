"""Diagnose a training run: what went wrong, the evidence, and the usual cure.

`diagnose(history, grad_norms=None, facts=None)` reads the per-epoch history
(`history.csv`: `loss`, `val_loss`, `accuracy`, ...), the per-step gradient
log (`grad_norms.csv`, when present) and facts the runner measured at the end
(`measure_facts`: accuracy on the training data in inference mode, chance
level, the epoch the run kept), and returns a list of findings, each a
JSON-able dict `{"kind", "message", "evidence", "cure"}`:

- `lr_too_high`: NaN/inf loss, divergence, or loss spikes;
- `overfitting`: validation loss rising while training loss falls;
- `underfitting`: a flat training loss, or training accuracy near chance;
- `vanishing_gradients` / `exploding_gradients`: per layer, from the gradient log;
- `train_inference_gap`: high training-mode accuracy while inference mode
  scores near chance on the same training data (BatchNorm's moving
  statistics have not settled: too few optimizer steps).

A healthy run yields `[]`. Thresholds are wide on purpose: a finding must be
unmistakable, so a normal run's noise never raises one. `diagnose_run(run_dir)`
reads the files; `render(findings)` gives the text `kzoo diagnose` prints.
Only `measure_facts` uses keras (a model's evaluate).

    rules.py      diagnose: the rules over one run, in order
    curves.py     the rules over the training curves, with their thresholds
    batchnorm.py  the BatchNorm rule (train_inference_gap)
    gradients.py  the rules over the gradient log
    finding.py    the finding dict and the helpers every rule shares
    facts.py      measure_facts: what the trained model shows on its training data
    run.py        diagnose_run: a run directory's files (read by kzoo.rundir.readers)
    text.py       render: the findings as the text `kzoo diagnose` prints
"""

from kzoo.diagnose.facts import measure_facts
from kzoo.diagnose.rules import diagnose
from kzoo.diagnose.run import diagnose_run
from kzoo.diagnose.text import render

__all__ = ["diagnose", "diagnose_run", "measure_facts", "render"]
