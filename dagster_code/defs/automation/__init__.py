"""Jobs, schedules and sensors: when the assets are refreshed and what happens when a run fails."""

import dagster as dg

from dagster_code.defs.automation.jobs import JOBS
from dagster_code.defs.automation.schedules import SCHEDULES
from dagster_code.defs.automation.sensors import raw_data_lag_sensor, run_failure_recorder

defs = dg.Definitions(jobs=JOBS, schedules=SCHEDULES, sensors=[raw_data_lag_sensor, run_failure_recorder])
