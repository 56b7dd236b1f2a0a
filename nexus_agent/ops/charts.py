"""Small inline SVG charts for the status page (no JavaScript, no chart library)."""

from __future__ import annotations

from collections.abc import Sequence

from markupsafe import Markup, escape

__all__ = ["sparkline"]


def sparkline(
    values: Sequence[float | None], labels: Sequence[str], *, title: str, unit: str = "", width: int = 168
) -> Markup:
    """A line over ``values`` (None: no data that day) with a dot per point and a <title> per dot."""
    height, pad = 44, 4
    known = [v for v in values if v is not None]
    top = max(known) if known else 1.0
    top = top if top > 0 else 1.0
    step = (width - 2 * pad) / max(1, len(values) - 1)

    def y(v: float) -> float:
        return round(height - pad - (v / top) * (height - 2 * pad), 1)

    parts = [
        f'<svg class="spark" viewBox="0 0 {width} {height}" width="{width}" height="{height}" role="img" '
        f'aria-label="{escape(title)}"><title>{escape(title)}</title>',
        f'<line x1="{pad}" y1="{height - pad}" x2="{width - pad}" y2="{height - pad}" class="axis"/>',
    ]
    segment: list[str] = []
    segments: list[list[str]] = []
    for i, v in enumerate(values):
        if v is None:
            if segment:
                segments.append(segment)
            segment = []
            continue
        segment.append(f"{round(pad + i * step, 1)},{y(v)}")
    if segment:
        segments.append(segment)
    parts += [f'<polyline points="{" ".join(s)}" class="line"/>' for s in segments if len(s) > 1]
    for i, v in enumerate(values):
        if v is not None:
            label = f"{labels[i] if i < len(labels) else ''}: {v:g}{unit}"
            parts.append(
                f'<circle cx="{round(pad + i * step, 1)}" cy="{y(v)}" r="2.5" class="dot">'
                f"<title>{escape(label)}</title></circle>"
            )
    parts.append("</svg>")
    return Markup("".join(parts))  # every interpolated text is escaped above
