"""Telemetry of the worker extension: per-minute metrics and the job event stream (Flask-free).

- `worker`: `ConsoleWorker` / `ConsoleSimpleWorker`, for
  `rq worker -w dashboard.rqlayer.telemetry.worker.ConsoleWorker`.
- `metrics`: the per-minute writer the worker calls inside RQ's own pipelines.
- `series`: the bounded reader of those metrics (series of the last N minutes, percentiles).
- `events`: `append_event` (workers and console actions) and `read_events` (cursor pages).
- `layout`: names, bounds and histogram edges shared by writers and readers.
"""
