"""Template filters for times, durations and sizes. They format; they decide nothing.

Every absolute time a page shows goes through `when`: one `<time datetime="…Z">` element whose text is
the relative form ("3 min ago", "in 12 min") with the exact UTC time in its title. static/js/time.js
re-renders each one in the browser's timezone (or UTC, by the operator's choice) and keeps the relative
text current; without script the server's text stands.
"""

from __future__ import annotations

import math
from datetime import UTC, datetime

from markupsafe import Markup, escape

_MONTHS = ("", "Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec")
_SHOWS = frozenset({"rel", "both", "abs"})


def duration(seconds: float | None) -> str:
    if seconds is None or not math.isfinite(seconds):  # NaN or infinity: nothing true to show
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
    """Plain text for messages (flash, audit detail); pages show times through `when`."""
    if moment is None:
        return "—"
    now = now or datetime.now(UTC)
    delta = (now - moment).total_seconds()
    if delta < 0:
        return f"in {duration(-delta)}"
    if delta < 1:
        return "just now"
    return f"{duration(delta)} ago"


def relative(seconds: float) -> str:
    """How long ago (positive) or from now (negative) in the coarse words time.js uses too:
    "just now", "12 s ago", "3 min ago", "2 h 5 min ago", "3 d 4 h ago", "in 12 min"."""
    past = seconds >= 0
    span = int(seconds if past else -seconds)
    if span < 1:
        return "just now"
    if span < 60:
        words = f"{span} s"
    elif span < 3600:
        words = f"{span // 60} min"
    elif span < 172_800:
        hours, minutes = divmod(span // 60, 60)
        words = f"{hours} h {minutes} min" if minutes else f"{hours} h"
    else:
        days, hours = divmod(span // 3600, 24)
        words = f"{days} d {hours} h" if hours else f"{days} d"
    return f"{words} ago" if past else f"in {words}"


def when(moment: datetime | None, show: str = "rel", zone: str | None = None, now: datetime | None = None) -> Markup:
    """THE element for an absolute time: `<time datetime="<UTC ISO>Z" title="<exact UTC>">`.

    show: "rel" (relative text, the default), "both" (relative · wall time, e.g. "in 54 min · 08:42:00 UTC")
    or "abs" (wall time only, for logs). `zone` (an IANA name, e.g. a schedule's own timezone) is carried
    as data-tz so the browser adds that zone's wall time when it differs from the operator's.
    A naive datetime is taken as UTC (SQL columns store UTC). None renders as "—". Cost: one f-string,
    no strftime, no timezone database (time.js does the local rendering)."""
    if moment is None:
        return Markup("—")
    offset = moment.utcoffset()
    if offset is None:
        moment = moment.replace(tzinfo=UTC)
    elif offset:
        moment = moment.astimezone(UTC)
    iso = moment.isoformat(timespec="seconds")[:19]
    exact_text = f"{iso[:10]} {iso[11:]} UTC"
    if show == "abs":
        text = exact_text
    else:
        text = relative(((now or datetime.now(UTC)) - moment).total_seconds())
        if show == "both":
            text = f"{text} · {exact_text}"
    if show not in _SHOWS:
        raise ValueError(f"when: show must be one of {sorted(_SHOWS)}, not {show!r}")
    attrs = "" if show == "rel" else f' data-show="{show}"'
    if zone:
        attrs += f' data-tz="{escape(zone)}"'
    # Every part is built here from digits and fixed words; the one outside string (zone) is escaped.
    return Markup(f'<time datetime="{iso}Z" title="{exact_text}"{attrs}>{text}</time>')  # noqa: S704


def server_time() -> str:
    """Now on the server's clock, as time.js reads it (<meta name="rqc-server-time">) to count relative
    times on the same clock as the server."""
    return datetime.now(UTC).isoformat(timespec="milliseconds")[:23] + "Z"


def number(value: int | None) -> str:
    return "—" if value is None else f"{value:,}"


def init_app(app) -> None:
    from dashboard.rqlayer.params import default_text, field_kind

    app.add_template_global(field_kind)
    app.add_template_global(default_text)
    app.add_template_global(server_time)
    app.add_template_filter(duration)
    app.add_template_filter(when)  # the one filter for absolute times (no |ago or |exact: they bypass time.js)
    app.add_template_filter(number)
