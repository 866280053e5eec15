"""Template filters for times, durations and sizes. They format; they decide nothing."""

from __future__ import annotations

from datetime import UTC, datetime


def duration(seconds: float | None) -> str:
    if seconds is None:
        return "—"
    seconds = float(seconds)
    if seconds < 1:
        return f"{seconds * 1000:.0f} ms"
    if seconds < 60:
        return f"{seconds:.1f} s" if seconds < 10 else f"{seconds:.0f} s"
    minutes, secs = divmod(int(seconds), 60)
    if minutes < 60:
        return f"{minutes} min {secs} s"
    hours, minutes = divmod(minutes, 60)
    if hours < 48:
        return f"{hours} h {minutes} min"
    return f"{hours // 24} d {hours % 24} h"


def ago(moment: datetime | None, now: datetime | None = None) -> str:
    if moment is None:
        return "—"
    now = now or datetime.now(UTC)
    delta = (now - moment).total_seconds()
    if delta < 0:
        return f"in {duration(-delta)}"
    if delta < 1:
        return "just now"
    return f"{duration(delta)} ago"


def exact(moment: datetime | None) -> str:
    return moment.strftime("%Y-%m-%d %H:%M:%S UTC") if moment else ""


def number(value: int | None) -> str:
    return "—" if value is None else f"{value:,}"


def init_app(app) -> None:
    from dashboard.rqlayer.params import default_text, field_kind

    app.add_template_global(field_kind)
    app.add_template_global(default_text)
    app.add_template_filter(duration)
    app.add_template_filter(ago)
    app.add_template_filter(exact)
    app.add_template_filter(number)
