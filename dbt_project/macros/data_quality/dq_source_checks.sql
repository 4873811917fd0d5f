{#-
    What the data-quality models check per raw source, in staging column names:
      required      fields the contract requires (must not be NULL);
      out_of_range  conditions that break the contract's ranges (services/contract/payloads.py);
                    NULLs in optional fields are not violations. Every source also flags an
                    observation time more than an hour after it landed (the envelope rejects
                    timestamps later than now + 1 hour).
-#}
{% macro dq_source_checks() %}
    {% set future = "observed_at > ingested_at + interval '1 hour'" %}
    {{ return([
        {
            'source_name': 'crypto_prices',
            'model': 'stg_crypto__prices',
            'required': [
                'natural_key', 'venue', 'coin_id', 'symbol', 'coin_name', 'vs_currency', 'price',
                'priced_at', 'data_source', 'observed_at', 'ingested_at',
            ],
            'out_of_range': [
                'price <= 0', 'price >= 1e12', 'bid <= 0', 'bid >= 1e12', 'ask <= 0', 'ask >= 1e12',
                'market_cap < 0', 'volume_24h < 0', 'base_volume_24h < 0', 'high_24h <= 0',
                'low_24h <= 0', 'change_pct_24h < -100', 'change_pct_24h > 1e6', future,
            ],
        },
        {
            'source_name': 'github_events',
            'model': 'stg_github__events',
            'required': [
                'natural_key', 'event_id', 'event_type', 'actor_id', 'actor_login', 'repo_id',
                'repo_name', 'is_public', 'created_at', 'data_source', 'observed_at', 'ingested_at',
            ],
            'out_of_range': ['actor_id < 0', 'repo_id < 0', future],
        },
        {
            'source_name': 'weather_data',
            'model': 'stg_weather__observations',
            'required': [
                'natural_key', 'city_id', 'city_name', 'country', 'latitude', 'longitude',
                'temperature_c', 'humidity_pct', 'data_source', 'observed_at', 'ingested_at',
            ],
            'out_of_range': [
                'latitude < -90', 'latitude > 90', 'longitude < -180', 'longitude > 180',
                'temperature_c < -95', 'temperature_c > 65',
                'apparent_temperature_c < -110', 'apparent_temperature_c > 80',
                'humidity_pct < 0', 'humidity_pct > 100', 'pressure_hpa < 850', 'pressure_hpa > 1100',
                'wind_speed_ms < 0', 'wind_speed_ms > 120', 'rain_mm < 0', 'rain_mm > 500',
                'weather_code < 0', 'weather_code > 999', future,
            ],
        },
    ]) }}
{% endmacro %}
