"""`kzoo report RUN_DIR`: redraw every plot of a run and print its summary."""

from kzoo.cli.args import add_common


def cmd_report(args):
    from kzoo.rundir import check_report_dir

    check_report_dir(args.run_dir)  # before keras loads: a wrong path fails fast
    from kzoo.plots import describe, report

    paths = report(args.run_dir)
    text = describe(args.run_dir)
    if text:
        print(text)
    for p in paths:
        print(f"wrote {p}")
    return 0


def add_parser(sub):
    p = sub.add_parser("report", help="re-plot a run directory")
    p.add_argument("run_dir")
    add_common(p)
    p.set_defaults(func=cmd_report)
    return p
