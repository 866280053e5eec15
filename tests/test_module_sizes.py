"""Small modules with one job each: none in dashboard/ or tasks/ over 400 lines."""

from __future__ import annotations

from tests.helpers import PROJECT_ROOT

LIMIT = 400


def test_no_module_is_over_the_limit():
    sizes = {
        str(path.relative_to(PROJECT_ROOT)): len(path.read_text().splitlines())
        for folder in ("dashboard", "tasks")
        for path in (PROJECT_ROOT / folder).rglob("*.py")
    }
    assert sizes, "no modules found"
    too_long = {name: n for name, n in sizes.items() if n > LIMIT}
    assert not too_long, f"over {LIMIT} lines: {too_long}"
