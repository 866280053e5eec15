"""Background tasks that operators can enqueue from the console.

Importing this package imports every task module, which registers each
``@task``-decorated function; the console then lists them via ``all_tasks()``.
Workers run the functions by their dotted path, e.g.
``tasks.notifications.send_email_notification``.
"""

from . import batches, external, images, maintenance, notifications, orders, reports  # noqa: F401  (registers tasks)
from .registry import REQUIRED, TaskParam, TaskSpec, all_tasks, get_task, is_registered, task

__all__ = ["REQUIRED", "TaskParam", "TaskSpec", "all_tasks", "get_task", "is_registered", "task"]
