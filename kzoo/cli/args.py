"""Argument types and flags shared by the `kzoo` subcommands (--hp, --lr, --backend,
--model/--data/...). Keras-free: `kzoo --help` builds every parser from here.
"""

import argparse
import json
import os

from kzoo.runtime.backend import BACKENDS, DEFAULT_BACKEND
from kzoo.runtime.devices import check_devices_value
from kzoo.runtime.errors import UsageError
from kzoo.training.config import default


def parse_value(text):
    """`--hp` values: JSON when it parses (numbers, true/false, lists), else the string.

    Text that opens a JSON list or object must parse as one: `[32,64` is a typo,
    not the string "[32,64". Objects are refused: no hyperparameter takes one.
    """
    try:
        value = json.loads(text)
    except json.JSONDecodeError as err:
        if text[:1] in "[{" and text:
            raise argparse.ArgumentTypeError(
                f"{text!r} opens a JSON list but does not parse ({err.msg}); write a list "
                "like [32,64] (quote it in the shell: --hp 'units=[32,64]')"
            ) from None
        return text
    if isinstance(value, dict):
        raise argparse.ArgumentTypeError(
            f"{text!r} is a JSON object; a hyperparameter takes a number, true/false, a "
            "string or a list"
        )
    return value


def hparam(text):
    key, eq, value = text.partition("=")
    if not eq or not key.strip():
        raise argparse.ArgumentTypeError(f"--hp takes KEY=VALUE, got {text!r}")
    pairs = text.split()
    if len(pairs) > 1 and sum("=" in p for p in pairs) > 1 and text[len(key) + 1:][:1] != "[":
        given = " ".join(f"--hp {p}" for p in pairs)
        raise argparse.ArgumentTypeError(
            f"{text!r} holds {len(pairs)} settings in one --hp; give one KEY=VALUE per flag: "
            f"{given}")
    return key.strip(), parse_value(value.strip())


class HpAction(argparse.Action):
    """`--hp KEY=VALUE`, repeatable; the same key twice is refused (which would win
    is not for kzoo to guess)."""

    def __call__(self, parser, namespace, values, option_string=None):
        pairs = list(getattr(namespace, self.dest, None) or [])
        key, value = values
        earlier = [v for k, v in pairs if k == key]
        if earlier:
            raise argparse.ArgumentError(
                self, f"{key} is given twice ({key}={earlier[0]!r} and {key}={value!r}); "
                "keep one --hp per key")
        setattr(namespace, self.dest, [*pairs, (key, value)])


def lr_value(text):
    if text == "auto":
        return text
    try:
        return float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"--lr takes a number or 'auto', got {text!r}") from None


def auto_int(text):
    """`--epochs` / `--batch-size`: a positive integer or 'auto' (the recipe's data rule)."""
    if text in ("auto", "max"):  # max: --batch-size only (validate_config refuses the rest)
        return text
    try:
        return int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"takes an integer or 'auto', got {text!r}") from None


def devices_value(text):
    """`--devices` (train and tune): an integer >= 1 or 'all', by `check_devices_value`,
    the one rule of the setting."""
    try:
        value = text if text == "all" else int(text)
        check_devices_value(value)
    except (ValueError, UsageError):
        raise argparse.ArgumentTypeError(
            f"takes an integer >= 1 or 'all', got {text!r}") from None
    return value


def add_common(parser):
    parser.add_argument(
        "--backend",
        choices=BACKENDS,
        default=os.environ.get("KERAS_BACKEND", DEFAULT_BACKEND),
        help="Keras backend (default: $KERAS_BACKEND, else %(default)s).",
    )


def add_model_and_data(parser, hp_help):
    """--model, --data, --hp, --seed and --early-stopping, shared by train and tune."""
    parser.add_argument("--model", default=default("model"), help="a registered model (kzoo list)")
    parser.add_argument("--data", default=default("data"),
                        help="dataset spec, or an .npz/.csv file (kzoo.datasets.load)")
    parser.add_argument(
        "--hp", type=hparam, action=HpAction, default=[], metavar="KEY=VALUE", help=hp_help
    )
    parser.add_argument("--seed", type=int, default=default("seed"))
    parser.add_argument(
        "--early-stopping", type=int, default=default("early_stopping"), metavar="PATIENCE",
        help="patience in epochs (0: never stop early); default: the family recipe's",
    )
