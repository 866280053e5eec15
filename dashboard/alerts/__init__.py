"""Alert rules, their evaluation and notifications (webhooks, e-mail), and their history. Flask-free."""
