"""`datastack assets` and `datastack schedules`: the original stack's two tools. `services/cli.py`
loads these lazily, so no other `datastack` command imports Dagster."""
