-- crypto_prices version 2: prices from several venues (exchanges and CoinGecko's aggregate).
-- The natural key becomes '<venue>:<coin>:<unix seconds>'. Every row stored so far came from
-- version 1, CoinGecko's aggregate only, so it gets venue 'coingecko' and the venue-qualified key:
-- a version-1 message replayed later is upgraded by the sink to the same key and deduplicates
-- against it. Nothing is dropped; the payload column keeps each message as it was received.
-- The lake's copies get the same change from the syncer (services/lake/backfills.py): ingest_seq
-- does not move on UPDATE, so the lake would not see it otherwise.

ALTER TABLE raw_crypto_prices
    ADD COLUMN IF NOT EXISTS venue           text,
    ADD COLUMN IF NOT EXISTS bid             double precision,
    ADD COLUMN IF NOT EXISTS ask             double precision,
    ADD COLUMN IF NOT EXISTS base_volume_24h double precision;

UPDATE raw_crypto_prices
SET venue = 'coingecko', natural_key = 'coingecko:' || natural_key
WHERE venue IS NULL;

ALTER TABLE raw_crypto_prices ALTER COLUMN venue SET NOT NULL;
