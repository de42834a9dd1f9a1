"""`acflow serve`: flows on their schedules, run history, alerts, run triggers and data at token URLs.

Nothing here is imported by the one-shot commands; the service loads its web stack when it starts.
"""
