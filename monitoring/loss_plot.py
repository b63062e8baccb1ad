"""Loss curves as a self-contained SVG picture for the training page (no plotting library needed).

One polyline per loss (class ``loss-line``, attribute ``data-loss``), x = epoch + fraction of the epoch, with
axes, ticks and a legend. Non-finite values break a line instead of spoiling the scale.
"""
from __future__ import annotations

import math
from html import escape
from typing import Callable, List, Sequence, Tuple

# Colour-blind-friendly palette (Okabe-Ito), then repeats.
COLORS = ("#0072B2", "#D55E00", "#009E73", "#CC79A7", "#E69F00", "#56B4E9", "#000000", "#F0E442")


def nice_ticks(low: float, high: float, count: int = 5, min_step: float = 0.0) -> List[float]:
    """About ``count`` round tick values (1, 2, 2.5 or 5 times a power of ten, at least ``min_step`` apart)
    covering [low, high]."""
    if not (math.isfinite(low) and math.isfinite(high)):
        return []
    if high <= low:
        high = low + 1.0
    raw_step = (high - low) / max(count, 1)
    magnitude = 10 ** math.floor(math.log10(raw_step))
    step = next(m * magnitude for m in (1, 2, 2.5, 5, 10) if m * magnitude >= max(raw_step, min_step))
    first = math.ceil(low / step - 1e-9) * step
    ticks = []
    value = first
    while value <= high + step * 1e-9:
        ticks.append(round(value, 12))
        value += step
    return ticks


def _label(value: float) -> str:
    return f"{value:.4g}"


def loss_curves_svg(xs: Sequence[float], ys: Sequence[Sequence[float]], names: Sequence[str], title: str = "",
                    width: int = 720, height: int = 320, x_label: str = "epochs done", y_label: str = "loss",
                    legend: bool = True, x_min_step: float = 0.0) -> str:
    """SVG markup plotting ``ys[i][k]`` (loss ``names[k]``) against ``xs[i]`` (epochs done); also used for the
    validation metrics (``y_label``, one metric per chart, no legend, whole epochs: ``x_min_step`` 1)."""
    left, right, top, bottom = 60, 150 if legend else 16, 30 if title else 12, 40
    plot_w, plot_h = width - left - right, height - top - bottom
    finite = [v for row in ys for v in row if v is not None and math.isfinite(v)]
    x_low, x_high = (min(xs), max(xs)) if xs else (0.0, 1.0)
    y_low, y_high = (min(finite), max(finite)) if finite else (0.0, 1.0)
    if x_high - x_low < 1e-12:  # one point: an axis one unit wide around it, not below 0 epochs done
        x_low = max(x_low - 0.5, 0.0) if x_low >= 0 else x_low - 0.5
        x_high = x_low + 1.0
    if y_high - y_low < 1e-12:
        y_low, y_high = y_low - 0.5, y_high + 0.5
    pad = 0.05 * (y_high - y_low)
    y_low, y_high = y_low - pad, y_high + pad

    def px(x: float) -> float:
        return left + (x - x_low) / (x_high - x_low) * plot_w

    def py(y: float) -> float:
        return top + (y_high - y) / (y_high - y_low) * plot_h

    out = [f'<svg class="loss-plot" xmlns="http://www.w3.org/2000/svg" width="{width}" height="{height}" '
           f'viewBox="0 0 {width} {height}" role="img" aria-label="{escape(title or "loss curves")}">',
           f'<rect x="0" y="0" width="{width}" height="{height}" fill="white"/>']
    if title:
        out.append(f'<text x="{left + plot_w / 2:.1f}" y="18" text-anchor="middle" font-size="14" '
                   f'font-family="sans-serif">{escape(title)}</text>')
    for tick in nice_ticks(y_low, y_high):
        y = py(tick)
        out.append(f'<line x1="{left}" y1="{y:.1f}" x2="{left + plot_w}" y2="{y:.1f}" stroke="#e4e4e4"/>')
        out.append(f'<text x="{left - 6}" y="{y + 4:.1f}" text-anchor="end" font-size="11" '
                   f'font-family="sans-serif">{_label(tick)}</text>')
    for tick in nice_ticks(x_low, x_high, 6, x_min_step):
        x = px(tick)
        out.append(f'<line x1="{x:.1f}" y1="{top}" x2="{x:.1f}" y2="{top + plot_h}" stroke="#f0f0f0"/>')
        out.append(f'<text x="{x:.1f}" y="{top + plot_h + 16}" text-anchor="middle" font-size="11" '
                   f'font-family="sans-serif">{_label(tick)}</text>')
    out.append(f'<rect x="{left}" y="{top}" width="{plot_w}" height="{plot_h}" fill="none" stroke="#444"/>')
    out.append(f'<text x="{left + plot_w / 2:.1f}" y="{height - 6}" text-anchor="middle" font-size="12" '
               f'font-family="sans-serif">{escape(x_label)}</text>')
    out.append(f'<text x="14" y="{top + plot_h / 2:.1f}" text-anchor="middle" font-size="12" font-family="sans-serif" '
               f'transform="rotate(-90 14 {top + plot_h / 2:.1f})">{escape(y_label)}</text>')
    for k, name in enumerate(names):
        color = COLORS[k % len(COLORS)]
        segments = _segments(xs, [row[k] if k < len(row) else None for row in ys])
        n_points = sum(len(seg) for seg in segments)
        out.append(f'<g class="loss-series" data-loss="{escape(name)}">'
                   f"<title>{escape(name)}: {n_points} points</title>")
        # one polyline per loss; after a break (non-finite value) the rest is drawn as extra parts
        first, rest = (segments[0], segments[1:]) if segments else ([], [])
        out.append(_polyline(first, px, py, color, name, "loss-line"))
        out.extend(_polyline(seg, px, py, color, name, "loss-line-part") for seg in rest)
        if n_points == 1:
            (x, y), = [pt for seg in segments for pt in seg]
            out.append(f'<circle cx="{px(x):.1f}" cy="{py(y):.1f}" r="3" fill="{color}"/>')
        out.append("</g>")
        if not legend:
            continue
        legend_y = top + 8 + 18 * k
        out.append(f'<line x1="{left + plot_w + 12}" y1="{legend_y}" x2="{left + plot_w + 32}" y2="{legend_y}" '
                   f'stroke="{color}" stroke-width="2"/>')
        out.append(f'<text x="{left + plot_w + 38}" y="{legend_y + 4}" font-size="12" font-family="sans-serif">'
                   f"{escape(name)}</text>")
    out.append("</svg>")
    return "\n".join(out)


def _segments(xs: Sequence[float], values: Sequence[float]) -> List[List[Tuple[float, float]]]:
    """Runs of consecutive finite (x, y) points."""
    segments: List[List[Tuple[float, float]]] = [[]]
    for x, y in zip(xs, values):
        if y is None or not math.isfinite(y):
            if segments[-1]:
                segments.append([])
        else:
            segments[-1].append((x, y))
    return [seg for seg in segments if seg]


def _polyline(points: Sequence[Tuple[float, float]], px: Callable[[float], float], py: Callable[[float], float],
              color: str, name: str, cls: str) -> str:
    coords = " ".join(f"{px(x):.1f},{py(y):.1f}" for x, y in points)
    return (f'<polyline class="{cls}" data-loss="{escape(name)}" points="{coords}" fill="none" '
            f'stroke="{color}" stroke-width="1.6" stroke-linejoin="round"/>')
