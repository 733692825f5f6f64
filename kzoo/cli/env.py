"""`kzoo env`: versions, installed backends, the devices each backend sees, and
whether the default recurrent models run a fused (cuDNN) kernel.

The gathering is in environment.py; this module parses and prints. The
command imports no backend itself: each is probed in its own subprocess.
"""

import json

from kzoo.runtime.backend import BACKENDS


def format_environment(info):
    """The text `kzoo env` prints for `info` (`kzoo.cli.environment.environment()`)."""
    packages = dict(info["packages"])
    lines = [f"kzoo {packages.pop('kzoo', '?')}, python {info['python']} ({info['platform']})",
             "packages: " + ", ".join(f"{k} {v}" for k, v in packages.items())]
    installed = ", ".join(info["installed_backends"]) or "none"
    lines.append(f"backends installed: {installed} (kzoo's default here: {info['keras_backend']})")
    for backend, probe in info["probes"].items():
        if probe["status"] != "ok":
            lines.append(f"{backend}: {probe['status']}: {probe['error']}")
            continue
        lines.append(f"{backend}: probed in {probe['seconds']:g} s")
        build = ", ".join(f"{k} {v}" for k, v in probe["build"].items() if v is not None)
        lines.append(f"  build:   {build}")
        devices = ", ".join(
            f"{d['name']} ({d['type']}"
            + (f", {d['kind']})" if d.get("kind") not in (None, d["type"]) else ")")
            for d in probe["devices"]
        )
        lines.append(f"  devices: {devices}")
        for cell, verdict in probe["recurrent"].items():
            why = f" ({verdict['reason']})" if verdict["reason"] else ""
            fused = "fused" if verdict["fused"] else "not fused"
            lines.append(f"  default {cell}: {fused}: {verdict['path']}{why}")
    lines.extend(f"note: {n}" for n in info["notes"])
    return "\n".join(lines)


def cmd_env(args):
    from kzoo.cli.environment import environment

    info = environment(args.probe, timeout=args.timeout)
    print(json.dumps(info, indent=2) if args.json else format_environment(info))
    return 0


def add_parser(sub):
    p = sub.add_parser(
        "env", help="versions, backends, devices and fused-RNN support of this machine"
    )
    p.add_argument("--json", action="store_true", help="print JSON instead of text")
    p.add_argument("--backend", dest="probe", action="append", choices=BACKENDS,
                   help="probe only this backend (repeatable); default: every installed one")
    p.add_argument("--timeout", type=float, default=180.0, metavar="SECONDS",
                   help="time limit of each backend's probe (default: %(default)g)")
    # Every backend is probed in its own process: this one needs none.
    p.set_defaults(func=cmd_env, backend=None)
    return p
