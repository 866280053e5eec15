"""Outgoing webhooks: endpoints, signed deliveries sent by RQ jobs, retries, the delivery log. Flask-free."""
