"""`kzoo combine RUN RUN ... --out DIR`: finished runs (any families, single or
`--ensemble N`) averaged into one model (`kzoo.training.combination`)."""

from kzoo.cli.args import add_common


def cmd_combine(args):
    from kzoo.training.combination import combine

    combine(args.runs, out=args.out, overwrite=args.overwrite)
    return 0


def add_parser(sub):
    p = sub.add_parser(
        "combine", help="average finished runs' models (any families) into one model",
        description="Average the probabilities of two or more finished kzoo train runs, "
        "trained on the same --data with the same --seed, into one model: OUT/model.keras, "
        "scored on the test split in OUT/summary.json beside each run's own score. The runs "
        "are read, never changed.")
    p.add_argument("runs", nargs="+", metavar="RUN", help="run directories of kzoo train")
    p.add_argument("--out", required=True, help="the new run directory")
    p.add_argument("--overwrite", action="store_true",
                   help="replace an earlier kzoo combine directory at --out")
    add_common(p)
    p.set_defaults(func=cmd_combine)
    return p
