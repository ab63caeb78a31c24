"""Template filters for times in a recording."""

from __future__ import annotations

from django import template

register = template.Library()


@register.filter
def clock(seconds: float | None) -> str:
    """Seconds as a clock reads them: 75 → "1:15", 3725 → "1:02:05" (as live.js's clock())."""
    if seconds is None:
        return ""
    whole = max(int(seconds), 0)
    hours, rest = divmod(whole, 3600)
    minutes, secs = divmod(rest, 60)
    return f"{hours}:{minutes:02d}:{secs:02d}" if hours else f"{minutes}:{secs:02d}"


@register.filter
def percent(fraction: float | None) -> str:
    """0.374 → "37" (whole percent, rounded down: 100 only when done)."""
    return "" if fraction is None else str(int(fraction * 100 + 1e-9))


@register.filter
def about_time(seconds: float | None) -> str:
    """A rough time span: "12 s", "4 min", "1.5 h" (as live.js's aboutTime())."""
    if seconds is None:
        return ""
    if seconds < 60:
        return f"{max(round(seconds), 1)} s"
    if seconds < 3600:
        return f"{round(seconds / 60)} min"
    return f"{seconds / 3600:.1f} h"
