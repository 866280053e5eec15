"""Default schedules of the application, registered at start by `flask --app app schedules
register-defaults` (the Procfile's release step) under the stable id "default-<name>".

Registering is idempotent: restarting never duplicates them, an edited declaration updates its
schedule, and a schedule an operator paused stays paused. Plain dicts keep tasks/ free of console
imports; the fields are those of dashboard.rqlayer.schedules.DefaultSchedule.
"""

DEFAULT_SCHEDULES = [
    {
        "name": "nightly-sales-report",
        "task": "tasks.reports.generate_sales_report",
        "cron": "0 6 * * *",
        "timezone": "Europe/Paris",
        "kwargs": {"days": 1, "region": "all"},
        "description": "Yesterday's sales, every morning at 06:00 Paris time",
    },
    {
        "name": "hourly-cleanup",
        "task": "tasks.maintenance.cleanup_old_files",
        "cron": "15 * * * *",
        "kwargs": {"max_age_hours": 48.0},
        "description": "Delete generated files older than two days",
    },
]
