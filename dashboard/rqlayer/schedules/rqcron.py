"""Reader for RQ 3 `rq cron` processes (`<prefix>:cron_schedulers`, `<prefix>:cron_scheduler:<name>`):
shown read-only, since their schedule lives in a config file, not in Redis.
"""

from __future__ import annotations

import json
from typing import Any, TypeVar

from dashboard.rqlayer import cron as cronlib
from dashboard.rqlayer.decode import text, timestamp
from dashboard.rqlayer.schedules.model import CronProcess, RawHash, Schedule, call_preview, epoch
from tasks.registry import get_task

_Container = TypeVar("_Container", list[Any], dict[str, Any])


def cron_process(name: str, heartbeat: float, raw: RawHash | None) -> CronProcess:
    """An `rq cron` process's hash (its `cron_jobs` JSON) as a CronProcess with one read-only row per
    job. No Redis; odd or missing fields give empty values, never an error."""
    f = {text(k): text(v) for k, v in (raw or {}).items()}
    try:
        entries = json.loads(f.get("cron_jobs") or "[]")
    except ValueError:
        entries = []
    jobs = []
    for entry in entries if isinstance(entries, list) else []:
        if not isinstance(entry, dict):
            continue
        cron = entry.get("cron")
        expression = cron if isinstance(cron, str) else ""
        interval = entry.get("interval") if isinstance(entry.get("interval"), int) else None
        args, kwargs = _json_value(entry.get("args"), list), _json_value(entry.get("kwargs"), dict)
        func_name = str(entry.get("func_name") or "")
        jobs.append(
            Schedule(
                id=str(entry.get("name") or func_name),
                source="rq-cron",
                kind="cron" if expression else "interval",
                func_name=func_name,
                registered=get_task(func_name) is not None,
                args_preview=call_preview(args, kwargs),
                args=args,
                kwargs=kwargs,
                cron=expression,
                interval=interval,
                words=(cronlib.describe(expression) or expression) if expression else cronlib.to_words(interval or 0),
                raw=expression or (f"{interval} s" if interval else ""),
                timezone="",
                next_run=timestamp(entry.get("next_enqueue_time")),
                last_run_at=timestamp(entry.get("latest_enqueue_time")),
                queue=str(entry.get("queue_name") or ""),
                process=f"{f.get('hostname', '?')}:{f.get('pid', '?')}",
                note="rq cron evaluates cron strings in its process's local time",
            )
        )
    return CronProcess(
        name=name,
        hostname=f.get("hostname", ""),
        pid=f.get("pid", ""),
        last_heartbeat=epoch(heartbeat),
        config_file=f.get("config_file", ""),
        jobs=jobs,
    )


def _json_value(raw: object, kind: type[_Container]) -> _Container:
    """`raw` when it already is a `kind`, else the `kind` its JSON text holds, else an empty one."""
    if isinstance(raw, kind):
        return raw
    if isinstance(raw, str):
        try:
            value = json.loads(raw)
        except ValueError:
            return kind()
        return value if isinstance(value, kind) else kind()
    return kind()
