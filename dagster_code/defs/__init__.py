"""The code location's definitions, one folder per domain (assets, checks, schedules, sensors)."""
