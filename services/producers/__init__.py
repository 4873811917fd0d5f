"""Producers: poll a public API (or a replay / synthetic stand-in) and publish contract messages to Kafka.

Layout: `settings` (typed env config), `http` + `backoff` (fetching with retries), `sources/*` (pure
parsers plus the live fetchers), `replay` and `synthetic` (offline stand-ins), `runner` (the produce
loop), `cli` (`datastack produce crypto|github|weather`).
"""
