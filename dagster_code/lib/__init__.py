"""Reusable code of the code location: dbt project and translator, resources, quality rules, metadata
formatting, run tags and the instance settings. Nothing here defines assets."""
