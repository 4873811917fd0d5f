"""Kafka -> PostgreSQL sink: raw tables, exactly one row per valid message."""
