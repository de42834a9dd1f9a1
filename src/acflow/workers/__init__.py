"""Many accounts on a Celery cluster: tasks, the cluster-wide rate limiter and per-account leases.

Nothing here is imported by `acflow` itself unless ACFLOW_REDIS_URL is set (ratelimit.limiter_for
then takes the Redis limiter) or a worker command runs: celery and redis load only then.

    settings.py   where Redis, the broker and the mirrors are (environment variables)
    limiter.py    one sliding-window limit per account across every process (a Lua script)
    lease.py      one sync per account at a time: a renewed lease that dies with its worker
    accounts.py   the accounts file (CSV or YAML) for hundreds of accounts
    plan.py       a run split into one task per account, each with its own mirror
    app.py        the Celery app; tasks.py the task; status.py what `acflow workers status` shows
"""
