"""`kzoo recipes`: list the recipes shipped in the package, or copy one to edit.

    kzoo recipes                      names and one-line summaries
    kzoo recipes copy NAME [DIR]      write DIR/NAME.py (never over a file without --force)
"""

from kzoo.cli.args import add_common
from kzoo.runtime.errors import UsageError


def cmd_recipes(args):
    from kzoo import recipes

    if args.action is None:
        width = max(map(len, recipes.names()))
        for name in recipes.names():
            print(f"  {name:{width}s}  {recipes.summary(name)}")
        print("Copy one with: kzoo recipes copy NAME [DIR]; run it with python NAME.py "
              "(KZOO_FAST=1 for a quick check).")
        return 0
    if args.name is None:
        raise UsageError("kzoo recipes copy needs a recipe NAME (kzoo recipes lists them).")
    path = recipes.copy(args.name, args.dir, force=args.force)
    print(f"wrote {path}; run it with: python {path}")
    return 0


def add_parser(sub):
    p = sub.add_parser("recipes", help="list the recipes, or copy one to edit (recipes copy NAME)")
    p.add_argument("action", nargs="?", choices=["copy"], help="copy NAME [DIR]")
    p.add_argument("name", nargs="?", help="a recipe name (see kzoo recipes)")
    p.add_argument("dir", nargs="?", default=".", help="directory to copy into (default: .)")
    p.add_argument("--force", action="store_true", help="replace an existing file")
    add_common(p)
    p.set_defaults(func=cmd_recipes)
    return p
