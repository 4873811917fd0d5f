"""The dbt project as Dagster sees it: where it is, its prebuilt manifest, and the translator."""
