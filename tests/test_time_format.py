"""The one filter for absolute times (formatting.when): its element, its words, escaping, None."""

from __future__ import annotations

import re
from datetime import UTC, datetime, timedelta, timezone

import pytest
from markupsafe import Markup

from dashboard.web.formatting import relative, when

NOW = datetime(2026, 12, 1, 12, 0, 0, tzinfo=UTC)
ELEMENT = re.compile(
    r'^<time datetime="(?P<iso>[^"]+)" title="(?P<title>[^"]+)"(?P<attrs>[^>]*)>(?P<text>[^<]*)</time>$'
)


def parts(markup: Markup) -> dict[str, str]:
    match = ELEMENT.match(str(markup))
    assert match, f"not one <time> element: {markup}"
    return match.groupdict()


def test_relative_text_and_exact_utc_title():
    shown = parts(when(NOW - timedelta(minutes=3, seconds=10), now=NOW))
    assert shown == {
        "iso": "2026-12-01T11:56:50Z",
        "title": "2026-12-01 11:56:50 UTC",
        "attrs": "",
        "text": "3 min ago",
    }
    assert parts(when(NOW + timedelta(minutes=12), now=NOW))["text"] == "in 12 min"


def test_it_is_markup_so_templates_do_not_escape_it_twice():
    out = when(NOW, now=NOW)
    assert isinstance(out, Markup)
    assert str(Markup("{}").format(out)) == str(out)


@pytest.mark.parametrize(
    ("seconds", "words"),
    [
        (0, "just now"),
        (0.4, "just now"),
        (1, "1 s ago"),
        (59.9, "59 s ago"),
        (60, "1 min ago"),
        (3599, "59 min ago"),
        (3600, "1 h ago"),
        (3600 + 5 * 60, "1 h 5 min ago"),
        (47 * 3600 + 59 * 60, "47 h 59 min ago"),
        (48 * 3600, "2 d ago"),
        (3 * 86400 + 4 * 3600, "3 d 4 h ago"),
        (-30, "in 30 s"),
        (-54 * 60, "in 54 min"),
        (-26 * 3600, "in 26 h"),
    ],
)
def test_relative_words(seconds, words):
    assert relative(seconds) == words


def test_both_and_abs_forms():
    both = parts(when(NOW + timedelta(minutes=54), "both", now=NOW))
    assert both["text"] == "in 54 min · 2026-12-01 12:54:00 UTC" and both["attrs"] == ' data-show="both"'
    absolute = parts(when(NOW, "abs", now=NOW))
    assert absolute["text"] == "2026-12-01 12:00:00 UTC" and absolute["attrs"] == ' data-show="abs"'
    with pytest.raises(ValueError, match="show must be one of"):
        when(NOW, "sometimes")


def test_other_offsets_and_naive_times_are_utc():
    kolkata = timezone(timedelta(hours=5, minutes=30))
    assert parts(when(datetime(2026, 12, 1, 17, 30, tzinfo=kolkata), now=NOW))["iso"] == "2026-12-01T12:00:00Z"
    # SQL columns (users, tokens, audit) come back naive and hold UTC.
    assert parts(when(datetime(2026, 12, 1, 11, 0), now=NOW)) == {
        "iso": "2026-12-01T11:00:00Z",
        "title": "2026-12-01 11:00:00 UTC",
        "attrs": "",
        "text": "1 h ago",
    }
    assert parts(when(NOW.replace(microsecond=999_999), now=NOW))["iso"] == "2026-12-01T12:00:00Z"


def test_none_is_a_dash():
    assert when(None) == "—" and isinstance(when(None), Markup)


def test_the_schedule_zone_is_escaped():
    shown = parts(when(NOW, "both", 'Europe/Paris"><script>x</script>', now=NOW))
    assert shown["attrs"] == ' data-show="both" data-tz="Europe/Paris&#34;&gt;&lt;script&gt;x&lt;/script&gt;"'
    assert parts(when(NOW, zone="Europe/Paris", now=NOW))["attrs"] == ' data-tz="Europe/Paris"'
    assert "data-tz" not in str(when(NOW, zone="", now=NOW))


def test_templates_render_it_unescaped(app):
    with app.app_context():
        out = app.jinja_env.from_string("{{ t | when }}|{{ None | when }}").render(t=NOW)
    assert out.startswith('<time datetime="2026-12-01T12:00:00Z"') and out.endswith("|—")
