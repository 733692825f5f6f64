"""Small inline-SVG charts for the HTML report (`kzoo.plots.html_report`): no
matplotlib, no image files, nothing fetched, so the page stands alone."""

import html
import math

COLORS = ("#1f77b4", "#ff7f0e", "#2ca02c", "#d62728", "#9467bd", "#8c564b", "#e377c2",
          "#7f7f7f", "#bcbd22", "#17becf")
W, H, LEFT, RIGHT, TOP, BOTTOM = 560, 260, 62, 130, 12, 36


def _fmt(v):
    return f"{v:.3g}"


def _scale(values, log):
    values = [math.log10(v) for v in values if v > 0] if log else list(values)
    if not values:
        return 0.0, 1.0
    lo, hi = min(values), max(values)
    if hi == lo:
        lo, hi = lo - 0.5, hi + 0.5
    return lo, hi


def _axes(title, xlabel, ylabel, xr, yr, xlog, ylog, xticks=None):
    """The frame, ticks and labels; returns (svg parts, x->px, y->px)."""
    pw, ph = W - LEFT - RIGHT, H - TOP - BOTTOM

    def px(x):
        x = math.log10(x) if xlog else x
        return LEFT + (x - xr[0]) / (xr[1] - xr[0]) * pw

    def py(y):
        y = math.log10(y) if ylog else y
        return TOP + ph - (y - yr[0]) / (yr[1] - yr[0]) * ph

    parts = [f'<rect x="{LEFT}" y="{TOP}" width="{pw}" height="{ph}" fill="none" '
             'stroke="#999"/>']
    for i in range(5):
        fy = yr[0] + (yr[1] - yr[0]) * i / 4
        y = TOP + ph - ph * i / 4
        label = _fmt(10 ** fy if ylog else fy)
        parts.append(f'<text x="{LEFT - 4}" y="{y + 4:.1f}" text-anchor="end">{label}</text>')
    if xticks is None:
        xticks = []
        for i in range(5):
            fx = xr[0] + (xr[1] - xr[0]) * i / 4
            xticks.append((LEFT + pw * i / 4, _fmt(10 ** fx if xlog else fx)))
    for x, label in xticks:
        parts.append(f'<text x="{x:.1f}" y="{TOP + ph + 14}" text-anchor="middle">'
                     f"{html.escape(str(label))}</text>")
    parts.append(f'<text x="{LEFT + pw / 2}" y="{H - 4}" text-anchor="middle">'
                 f"{html.escape(xlabel)}</text>")
    parts.append(f'<text x="12" y="{TOP + ph / 2}" transform="rotate(-90 12 {TOP + ph / 2})" '
                 f'text-anchor="middle">{html.escape(ylabel)}</text>')
    return parts, px, py


def _svg(title, parts):
    return (f'<svg xmlns="http://www.w3.org/2000/svg" width="{W}" height="{H}" '
            f'viewBox="0 0 {W} {H}" font-size="10" font-family="sans-serif" role="img">'
            f"<title>{html.escape(title)}</title>{''.join(parts)}</svg>")


def line_chart(title, series, xlabel="epoch", ylabel="", ylog=False):
    """`series`: {name: [(x, y), ...]}; non-finite points are left out."""
    series = {k: [(x, y) for x, y in v if math.isfinite(y) and (y > 0 or not ylog)]
              for k, v in series.items()}
    series = {k: v for k, v in series.items() if v}
    if not series:
        return ""
    xs = [x for v in series.values() for x, _ in v]
    ys = [y for v in series.values() for _, y in v]
    parts, px, py = _axes(title, xlabel, ylabel, _scale(xs, False), _scale(ys, ylog),
                          False, ylog)
    for i, (name, points) in enumerate(series.items()):
        color = COLORS[i % len(COLORS)]
        path = " ".join(f"{px(x):.1f},{py(y):.1f}" for x, y in points)
        if len(points) > 1:
            parts.append(f'<polyline fill="none" stroke="{color}" stroke-width="1.5" '
                         f'points="{path}"/>')
        else:
            x, y = points[0]
            parts.append(f'<circle cx="{px(x):.1f}" cy="{py(y):.1f}" r="3" fill="{color}"/>')
        ly = TOP + 12 + 14 * i
        parts.append(f'<line x1="{W - RIGHT + 8}" y1="{ly - 4}" x2="{W - RIGHT + 24}" '
                     f'y2="{ly - 4}" stroke="{color}" stroke-width="2"/>')
        parts.append(f'<text x="{W - RIGHT + 28}" y="{ly}">{html.escape(name[:18])}</text>')
    return _svg(title, parts)


def scatter(title, points, xlabel, ylabel, best=None):
    """`points`: [(x, y)] with numeric or string x (categories spread evenly);
    `best`: the index of the point to mark."""
    points = [(x, y) for x, y in points if y is not None and math.isfinite(y)]
    if not points:
        return ""
    numeric = all(isinstance(x, (int, float)) and not isinstance(x, bool) for x, _ in points)
    xticks = None
    if numeric:
        xs = [x for x, _ in points]
        xlog = min(xs) > 0 and max(xs) / min(xs) >= 100
        xr = _scale(xs, xlog)
    else:
        cats = sorted({str(x) for x, _ in points})
        index = {c: i for i, c in enumerate(cats)}
        points = [(index[str(x)], y) for x, y in points]
        xlog, xr = False, (-0.5, len(cats) - 0.5)
        pw = W - LEFT - RIGHT
        xticks = [(LEFT + (i + 0.5) / len(cats) * pw, c) for i, c in enumerate(cats)]
    parts, px, py = _axes(title, xlabel, ylabel, xr, _scale([y for _, y in points], False),
                          xlog, False, xticks)
    for i, (x, y) in enumerate(points):
        mark = i == best
        parts.append(f'<circle cx="{px(x):.1f}" cy="{py(y):.1f}" r="{5 if mark else 3.5}" '
                     f'fill="{COLORS[3] if mark else COLORS[0]}" fill-opacity="0.8"/>')
    return _svg(title, parts)
