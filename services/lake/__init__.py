"""DuckLake lakehouse: the PostgreSQL -> lake syncer, lake maintenance and a query shell.

Modules: `settings` (environment), `connect` (the one ATTACH recipe), `tables` (what is synced),
`fence` (the safe upper bound of ingest_seq), `syncer` (batches + watermark), `runner` (the process),
`maintenance`, `shell`, `cli`.
"""
