"""Producers: poll a public API (or a replay / synthetic stand-in) and publish contract messages to Kafka.

Layout: `settings` (typed env config), `venues` (the crypto venues, their rate limits and the coin
catalogue), `http` + `backoff` (fetching with retries and pacing), `sources/*` (pure parsers plus the
live fetchers, one module per API), `replay` and `synthetic` (offline stand-ins), `runner` (the
produce loop, one polling thread per source), `cli` (`datastack produce crypto|github|weather`).
"""
