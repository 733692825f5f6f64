"""Puts this folder on sys.path before its subfolders are collected, so that
distribute/ imports the shared `_tiny_search` helpers by name, as the tests here do."""

import pathlib
import sys

_HERE = str(pathlib.Path(__file__).resolve().parent)
if _HERE not in sys.path:
    sys.path.insert(0, _HERE)
