"""The web UI: every flow and run at a glance, preview, run now, and a form that writes acflow.yaml.

Served by `acflow serve` beside its API (or alone by `acflow ui`); pages are rendered on the server
(Starlette + Jinja2), with htmx, vendored in static/, for the parts that update in place.
"""
