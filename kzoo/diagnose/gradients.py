"""The rules over the per-step gradient log (`grad_norms.csv`): exploding and
vanishing gradients, per layer."""

import math

from kzoo.diagnose.finding import finding, finite

VANISH = 1e-4  # layer norm / largest layer norm, median over the second half
EXPLODE = 1e3  # global norm / its median over the first tenth of the steps


def gradient_findings(rows):
    """Findings from grad_norms.csv rows (dicts of floats)."""
    if not rows:
        return []
    findings = []
    fixed = {"step", "global_norm", "clip_threshold", "clipped"}
    layers = [k for k in rows[0] if k not in fixed]
    norms = [r.get("global_norm") for r in rows]
    bad = [r["step"] for r in rows if r.get("global_norm") is None
           or not math.isfinite(r["global_norm"])]
    head = finite(norms[: max(1, len(norms) // 10)])
    base = sorted(head)[len(head) // 2] if head else None
    big = [(r["step"], r["global_norm"]) for r in rows if base and r.get("global_norm")
           and math.isfinite(r["global_norm"]) and r["global_norm"] > EXPLODE * base]
    if bad or big:
        culprits = {}
        for name in layers:
            vals = [r.get(name) for r in rows]
            if any(v is None or not math.isfinite(v) for v in vals):
                culprits[name] = "non-finite"
            elif base and max(vals) > EXPLODE * base:
                culprits[name] = max(vals)
        findings.append(finding(
            "exploding_gradients",
            f"Gradient norms exploded: {len(bad)} non-finite and {len(big)} above "
            f"{EXPLODE:g}x the early median ({base if base is None else f'{base:.3g}'}).",
            {"nonfinite_steps": bad[:10], "large_steps": big[:10], "layers": culprits},
            "Clip gradients (`--clip global_norm` or `agc`), lower the learning rate, or "
            "add normalisation.",
        ))
    second = rows[len(rows) // 2:]
    vanishing = {}
    for name in layers:
        ratios = []
        for r in second:
            top = max(finite([r.get(n) for n in layers]) or [0.0])
            v = r.get(name)
            if top > 0 and v is not None and math.isfinite(v):
                ratios.append(v / top)
        if ratios and sorted(ratios)[len(ratios) // 2] < VANISH:
            vanishing[name] = sorted(ratios)[len(ratios) // 2]
    if vanishing and len(vanishing) < len(layers):
        findings.append(finding(
            "vanishing_gradients",
            f"Layer(s) {', '.join(vanishing)} get gradients below {VANISH:g}x the largest "
            "layer's (median over the second half of the logged steps).",
            {"layers": vanishing, "steps": [second[0]["step"], second[-1]["step"]]},
            "Use gated cells (GRU/LSTM) or residual connections, normalisation, a "
            "better initialisation, or fewer layers.",
        ))
    return findings
