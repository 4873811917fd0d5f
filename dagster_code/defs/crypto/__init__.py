"""Crypto price summary: the dbt crypto marts, their checks, and the report built on them."""

import dagster as dg

from dagster_code.defs.crypto.assets import crypto_market_summary
from dagster_code.defs.crypto.checks import crypto_checks

defs = dg.Definitions(assets=[crypto_market_summary], asset_checks=crypto_checks)
