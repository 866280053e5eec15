"""One blueprint per area of the console."""

from __future__ import annotations


def register_blueprints(app) -> None:
    from dashboard.extensions import csrf
    from dashboard.web import (
        actions,
        admin,
        alerts,
        api,
        auth,
        bulk,
        enqueue,
        errors,
        events,
        failed,
        flow,
        formatting,
        functions,
        health,
        history,
        incoming,
        jobs,
        limits,
        overview,
        palette,
        prometheus,
        queues,
        rendering,
        schedule_page,
        schedules,
        webhooks,
        webhooks_api,
        workers,
    )

    formatting.init_app(app)
    app.context_processor(rendering.template_context)
    app.register_blueprint(health.bp)
    app.register_blueprint(auth.bp)
    app.register_blueprint(overview.bp)
    app.register_blueprint(queues.bp)
    app.register_blueprint(flow.bp)  # a queue's pause and rate limit (forms, the panel's status)
    app.register_blueprint(jobs.bp)
    app.register_blueprint(actions.bp)
    app.register_blueprint(enqueue.bp)
    app.register_blueprint(bulk.bp)
    from dashboard.web import replay  # incident tools (issue 16)

    app.register_blueprint(replay.bp)  # /replays: paced re-runs of a function's failed jobs, as bulk operations
    from dashboard.web import views  # saved views and the built-in ones (issue 16)

    app.register_blueprint(views.bp)
    from dashboard.web import schedule_tools

    app.register_blueprint(schedule_tools.bp)  # a schedule's backfill and test fire
    from dashboard.web import waterfall

    app.register_blueprint(waterfall.bp)  # a job's dependency chain and group, loaded by the job page
    app.register_blueprint(failed.bp)
    app.register_blueprint(errors.bp)
    app.register_blueprint(errors.api_bp)  # GET /api/v1/error-groups: bearer tokens, like api.bp
    app.register_blueprint(schedules.bp)
    app.register_blueprint(schedule_page.bp)
    app.register_blueprint(workers.bp)
    app.register_blueprint(history.bp)
    app.register_blueprint(alerts.bp)
    app.register_blueprint(alerts.api_bp)  # GET /api/v1/alerts: bearer tokens, like api.bp
    app.register_blueprint(admin.bp)
    app.register_blueprint(palette.bp)
    app.register_blueprint(functions.bp)
    app.register_blueprint(functions.api_bp)  # GET /api/v1/metrics: bearer tokens, like api.bp
    app.register_blueprint(events.bp)
    app.register_blueprint(incoming.bp)
    app.register_blueprint(webhooks.bp)
    app.register_blueprint(limits.bp)
    app.register_blueprint(prometheus.bp)  # GET /metrics: a bearer token or METRICS_ALLOWED_IPS, GET only
    # The API authenticates with bearer tokens only, never cookies: CSRF cannot apply to it.
    csrf.exempt(api.bp)
    csrf.exempt(flow.api_bp)  # /api/v1/queues/<q>/pause, resume, rate-limit: bearer tokens only
    app.register_blueprint(flow.api_bp)
    csrf.exempt(incoming.api_bp)  # POST /api/v1/events, GET /api/v1/incoming-events: bearer tokens only
    app.register_blueprint(incoming.api_bp)
    csrf.exempt(limits.api_bp)  # GET/PUT /api/v1/limits: bearer tokens only, like api.bp
    app.register_blueprint(limits.api_bp)
    csrf.exempt(webhooks_api.api_bp)  # /api/v1/webhooks…: bearer tokens only, like api.bp
    app.register_blueprint(webhooks_api.api_bp)
    app.register_blueprint(api.bp)
