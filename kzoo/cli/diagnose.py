"""`kzoo diagnose RUN_DIR`: name what went wrong in a run, with evidence and cure."""

import json
import os

from kzoo.runtime.backend import DEFAULT_BACKEND


def cmd_diagnose(args):
    from kzoo.diagnose import diagnose_run, render

    findings = diagnose_run(args.run_dir)
    print(json.dumps(findings, indent=2) if args.json else render(findings))
    return 0


def add_parser(sub):
    """Register `kzoo diagnose` on the subparsers of `kzoo`."""
    p = sub.add_parser(
        "diagnose", help="diagnose a run directory: overfitting, LR, gradients, BatchNorm gap"
    )
    p.add_argument("run_dir")
    p.add_argument("--json", action="store_true", help="print the findings as JSON")
    # Reads CSV files only; the backend is set for `main`'s sake, keras is never imported.
    p.set_defaults(func=cmd_diagnose, backend=os.environ.get("KERAS_BACKEND", DEFAULT_BACKEND))
    return p
