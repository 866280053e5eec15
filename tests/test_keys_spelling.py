"""Every Redis key name is spelled in dashboard/rqlayer/keys.py only: no other module, and no Lua
script, builds one (the scripts' key functions are generated from keys.py)."""

from __future__ import annotations

import ast
import re
from pathlib import Path

from dashboard.rqlayer import keys, scripts

ROOT = Path(__file__).resolve().parents[1]
ALLOWED = {ROOT / "dashboard" / "rqlayer" / "keys.py"}
# A literal that is (or starts) a key: "rq:...", or a key segment between colons (":job:", ":queue:" ...).
SEGMENTS = (
    "job",
    "queue",
    "queues",
    "rl",
    "rl-keys",
    "wip",
    "results",
    "executions",
    "group",
    "pubsub",
    "worker",
    "workers",
    "suspended",
    "scheduler",
    "scheduler-lock",
    "console",
    "cron_scheduler",
    "cron_schedulers",
    *keys.REGISTRY_SEGMENTS.values(),
)
KEY_LITERAL = re.compile(r"^rq:|:(" + "|".join(re.escape(s) for s in SEGMENTS) + r")(:|$)")


def _docstrings(tree: ast.AST) -> set[int]:
    found = set()
    for node in ast.walk(tree):
        body = getattr(node, "body", None)
        if (
            isinstance(body, list)
            and body
            and isinstance(body[0], ast.Expr)
            and isinstance(body[0].value, ast.Constant)
            and isinstance(body[0].value.value, str)
        ):
            found.add(id(body[0].value))
    return found


def python_spellings(source: str) -> list[str]:
    """Key-like string literals in code (docstrings and comments say what keys are, they may name them),
    and f-strings that start with the prefix (f"{PREFIX}:..." / f"{keys.PREFIX}...")."""
    tree = ast.parse(source)
    skip = _docstrings(tree)
    found = []
    for node in ast.walk(tree):
        if isinstance(node, ast.Constant) and isinstance(node.value, str) and id(node) not in skip:
            if KEY_LITERAL.search(node.value):
                found.append(node.value)
        elif _starts_with_prefix(node):
            found.append(ast.unparse(node))
    return found


def _starts_with_prefix(node: ast.AST) -> bool:
    if not (isinstance(node, ast.JoinedStr) and node.values and isinstance(node.values[0], ast.FormattedValue)):
        return False
    return ast.unparse(node.values[0].value).split(".")[-1] in ("PREFIX", "RQ_KEY_PREFIX", "prefix")


def lua_spellings(source: str) -> list[str]:
    """Key building in Lua code (comments stripped): concatenation onto the prefix, or a key segment."""
    code = "\n".join(line.split("--", 1)[0] for line in source.splitlines())
    found = re.findall(r"prefix\s*\.\.", code)
    found += [s for s in re.findall(r"'([^']*)'", code) if KEY_LITERAL.search(s)]
    return found


def test_the_scanner_finds_what_it_must():
    for line in ('x = f"{keys.PREFIX}:job:{i}"', 'x = f"{PREFIX}-bulk"', 'y = "rq:queues"', 'z = p + ":queue:" + q'):
        assert python_spellings(line), line
    assert not python_spellings('"""A docstring naming rq:job:<id> may."""\nx = keys.job(i)\ny = "a:b"')
    assert lua_spellings("local k = prefix .. ':job:' .. id") and lua_spellings("redis.call('DEL', x .. ':rl:')")
    assert not lua_spellings("-- prefix .. ':job:'\nredis.call('HGET', job_key(id), 'status')")


def test_no_module_but_keys_py_spells_a_key():
    offenders = {}
    for path in sorted((ROOT / "dashboard").rglob("*.py")) + sorted((ROOT / "tasks").rglob("*.py")):
        if path not in ALLOWED:
            found = python_spellings(path.read_text())
            if found:
                offenders[str(path.relative_to(ROOT))] = found
    assert offenders == {}


def test_no_lua_script_spells_a_key():
    offenders = {p.name: lua_spellings(p.read_text()) for p in sorted(scripts.LUA_DIR.glob("*.lua"))}
    assert {name: found for name, found in offenders.items() if found} == {}


def test_the_generated_key_functions_are_keys_py(conn):
    """The header's Lua functions give the same names as keys.py (run inside Redis)."""
    probe = (
        "return {job_key('a'), job_dependencies_key('a'), queue_key('q'), registry_key('ready_to_enqueue', 'q'),"
        " registry_key('started', 'q'), rl_held_key('k'), executions_key('a'), group_key('g'), queues_key()}"
    )
    names = conn.eval(scripts.header() + probe, 0, *scripts.args("0", "now", ""))
    assert [n.decode() for n in names] == [
        keys.job("a"),
        keys.job_dependencies("a"),
        keys.queue("q"),
        keys.registry("ready_to_enqueue", "q"),
        keys.registry("started", "q"),
        keys.rate_limited("k"),
        keys.job_executions("a"),
        keys.group("g"),
        keys.queues(),
    ]
