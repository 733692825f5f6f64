"""`kzoo list`: the registered models (with their first hyperparameters) and datasets."""

from kzoo.cli.args import add_common


def cmd_list(args):
    from kzoo import datasets, zoo
    from kzoo.cli.describe import brief_hparams

    print("models (kzoo describe MODEL for ranges and the training recipe):")
    for name in zoo.list():
        spec = zoo.get_spec(name)
        print(f"  {name:16s} {spec.kind:9s} {spec.description}")
        print(f"  {'':16s} {'':9s} {brief_hparams(spec)}")
    print("datasets:")
    for name in datasets.list_datasets():
        loader = datasets._base._LOADERS[name]
        print(f"  {name:16s} {getattr(loader, 'description', '')}")
    return 0


def add_parser(sub):
    p = sub.add_parser("list", help="list registered models and datasets")
    add_common(p)
    p.set_defaults(func=cmd_list)
    return p
