"""`kzoo report RUN_DIR`: redraw every plot of a run and print its summary, or
with `--html` write one self-contained page."""

from kzoo.cli.args import add_common


def cmd_report(args):
    from kzoo.rundir import check_report_dir

    check_report_dir(args.run_dir)  # before keras loads: a wrong path fails fast
    if getattr(args, "html", False):  # one self-contained page (kzoo.plots.html_report)
        from kzoo.plots.html_report import write_html_report
        from kzoo.training.config import default, field_names

        defaults = {name: default(name) for name in field_names()}
        print(f"wrote {write_html_report(args.run_dir, defaults)}")
        return 0
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
    p.add_argument("--html", action="store_true",
                   help="write DIR/report.html instead: one self-contained page (no network)")
    add_common(p)
    p.set_defaults(func=cmd_report)
    return p
