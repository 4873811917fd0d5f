"""The Dagster code location of datastack: `dagster_code.definitions` is what Dagster loads."""
