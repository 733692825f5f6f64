"""kzoo.recipes: self-contained scripts to copy and adapt, shipped in the package.

Each recipe is a keras-io style script (a header with Title and Description,
`\"\"\"## Section\"\"\"` cells) that imports kzoo before keras (so an installed
backend is picked unless `KERAS_BACKEND` is set) and imports only kzoo's public
API. `KZOO_FAST=1` runs any of them in a few seconds (tiny epochs and data).
The scripts are read as text, never imported: importing one would run it.

>>> kzoo.recipes.names()
>>> kzoo.recipes.copy("lr_finder", "my_recipes/")   # or: kzoo recipes copy lr_finder
"""

import importlib.resources
import pathlib

from kzoo.runtime.errors import UsageError

__all__ = ["copy", "names", "source", "summary"]


def _files():
    return {
        p.name[:-3]: p
        for p in importlib.resources.files(__name__).iterdir()
        if p.name.endswith(".py") and not p.name.startswith("_")
    }


def names():
    """The recipes' names, sorted (file names without `.py`)."""
    return sorted(_files())


def source(name):
    """The text of recipe `name`; UsageError (a ValueError) listing the recipes if unknown."""
    files = _files()
    if name.endswith(".py"):
        name = name[:-3]
    if name not in files:
        raise UsageError(f"Unknown recipe {name!r}. Recipes: {', '.join(sorted(files))}.")
    return files[name].read_text(encoding="utf-8")


def summary(name):
    """The recipe's one-line summary: its header's `Title:`."""
    for line in source(name).splitlines()[:10]:
        if line.startswith("Title:"):
            return line.partition(":")[2].strip()
    return ""


def copy(name, directory=".", *, force=False):
    """Write recipe `name` to `directory/<name>.py` and return the path.

    Refuses to replace an existing file unless `force=True`.
    """
    text = source(name)
    directory = pathlib.Path(directory)
    if directory.exists() and not directory.is_dir():
        raise UsageError(f"{directory} is a file; give the directory to copy the recipe into.")
    target = directory / f"{name.removesuffix('.py')}.py"
    if target.exists() and not force:
        raise UsageError(f"{target} exists; refusing to overwrite it. Pass --force "
                         "(force=True) to replace it, or choose another directory.")
    directory.mkdir(parents=True, exist_ok=True)
    target.write_text(text, encoding="utf-8")
    return target
