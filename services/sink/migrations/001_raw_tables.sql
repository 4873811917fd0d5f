-- Raw landing tables written by the sink, one per topic.
-- Shared shape: typed columns for analytics, the full payload as jsonb, the Kafka coordinates, and
-- `ingest_seq`, a monotonically increasing identity the DuckLake syncer uses as its watermark.
-- Every table is append-only: ON CONFLICT (natural_key) DO NOTHING, first write wins. Prices at a
-- source timestamp, GitHub events and weather observations at a time are immutable facts, and an
-- UPDATE would not move ingest_seq, so the lake would silently miss it.

CREATE TABLE IF NOT EXISTS raw_crypto_prices (
    ingest_seq        bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    natural_key       text        NOT NULL,
    coin_id           text        NOT NULL,
    symbol            text        NOT NULL,
    name              text        NOT NULL,
    vs_currency       text        NOT NULL,
    price             double precision NOT NULL,
    market_cap        double precision,
    volume_24h        double precision,
    high_24h          double precision,
    low_24h           double precision,
    change_pct_24h    double precision,
    source_updated_at timestamptz NOT NULL,
    source            text        NOT NULL,
    observed_at       timestamptz NOT NULL,
    produced_at       timestamptz NOT NULL,
    ingested_at       timestamptz NOT NULL DEFAULT now(),
    kafka_topic       text        NOT NULL,
    kafka_partition   integer     NOT NULL,
    kafka_offset      bigint      NOT NULL,
    payload           jsonb       NOT NULL,
    CONSTRAINT raw_crypto_prices_natural_key UNIQUE (natural_key)
);

CREATE TABLE IF NOT EXISTS raw_github_events (
    ingest_seq        bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    natural_key       text        NOT NULL,
    event_id          text        NOT NULL,
    event_type        text        NOT NULL,
    actor_id          bigint      NOT NULL,
    actor_login       text        NOT NULL,
    repo_id           bigint      NOT NULL,
    repo_name         text        NOT NULL,
    org_login         text,
    action            text,
    public            boolean     NOT NULL,
    created_at        timestamptz NOT NULL,
    source            text        NOT NULL,
    observed_at       timestamptz NOT NULL,
    produced_at       timestamptz NOT NULL,
    ingested_at       timestamptz NOT NULL DEFAULT now(),
    kafka_topic       text        NOT NULL,
    kafka_partition   integer     NOT NULL,
    kafka_offset      bigint      NOT NULL,
    payload           jsonb       NOT NULL,
    CONSTRAINT raw_github_events_natural_key UNIQUE (natural_key)
);

CREATE TABLE IF NOT EXISTS raw_weather_data (
    ingest_seq             bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    natural_key            text        NOT NULL,
    city_id                text        NOT NULL,
    city_name              text        NOT NULL,
    country                text        NOT NULL,
    latitude               double precision NOT NULL,
    longitude              double precision NOT NULL,
    temperature_c          double precision NOT NULL,
    apparent_temperature_c double precision,
    humidity_pct           double precision NOT NULL,
    pressure_hpa           double precision,
    wind_speed_ms          double precision,
    rain_mm                double precision,
    weather_code           integer,
    condition              text,
    source                 text        NOT NULL,
    observed_at            timestamptz NOT NULL,
    produced_at            timestamptz NOT NULL,
    ingested_at            timestamptz NOT NULL DEFAULT now(),
    kafka_topic            text        NOT NULL,
    kafka_partition        integer     NOT NULL,
    kafka_offset           bigint      NOT NULL,
    payload                jsonb       NOT NULL,
    CONSTRAINT raw_weather_data_natural_key UNIQUE (natural_key)
);

-- Freshness checks (dbt source freshness, Dagster) read max(ingested_at).
CREATE INDEX IF NOT EXISTS raw_crypto_prices_ingested_at ON raw_crypto_prices (ingested_at);
CREATE INDEX IF NOT EXISTS raw_github_events_ingested_at ON raw_github_events (ingested_at);
CREATE INDEX IF NOT EXISTS raw_weather_data_ingested_at ON raw_weather_data (ingested_at);
