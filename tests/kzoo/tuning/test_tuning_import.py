"""`import kzoo.tuning` is cheap: it leaves keras (and the backend) unchosen."""

import subprocess
import sys


def test_import_kzoo_tuning_loads_no_keras():
    code = ("import sys, kzoo.tuning; from kzoo.tuning import SearchFailedError, TUNERS; "
            "print(sorted(m for m in ('keras', 'keras_tuner', 'matplotlib') if m in sys.modules))")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "[]"
