"""Incoming events: names that tasks subscribe to, publishing one enqueues its subscribers. Flask-free."""
