"""Flask CLI commands: `flask --app app demo`, and (with accounts) users and tokens."""

from __future__ import annotations

import click
from flask import current_app

from dashboard.extensions import get_redis
from dashboard.rqlayer.connection import describe


@click.command("demo")
def demo_command():
    """Fill Redis with a realistic mix of demo jobs and two recurring schedules."""
    from dashboard import demo

    report = demo.fill(get_redis())
    click.echo(f"Redis: {describe(current_app.extensions['redis_url'])}")
    click.echo(f"enqueued {len(report.enqueued)} jobs, scheduled {len(report.scheduled)} for later, "
               f"registered {len(report.schedules)} new recurring schedule(s)")
    click.echo("Open the console to watch them run (a worker must be running: `make run` starts one).")


def init_app(app) -> None:
    app.cli.add_command(demo_command)
