"""The original stack's cadences: real-time analytics every 5 minutes, data-quality checks every 15,
an ingestion audit with DuckLake maintenance every 30. The producers, which the original ran every
30 minutes, run continuously as services here.

The 15- and 30-minute schedules are offset by a few minutes so they do not start in the same minute
as the 5-minute one: on a small node the runs then share the CPU less. All start RUNNING, so a new
`make dev` (or cluster) materializes without anyone clicking; `datastack schedules stop NAME` or the
UI turns one off.
"""

import dagster as dg

from dagster_code.defs.automation.jobs import data_quality_job, ingestion_audit_job, realtime_analytics_job

realtime_analytics_schedule = dg.ScheduleDefinition(
    name="realtime_analytics_schedule",
    job=realtime_analytics_job,
    cron_schedule="*/5 * * * *",
    execution_timezone="UTC",
    default_status=dg.DefaultScheduleStatus.RUNNING,
    description="Every 5 minutes: crypto, developer and weather analytics.",
)

data_quality_schedule = dg.ScheduleDefinition(
    name="data_quality_schedule",
    job=data_quality_job,
    cron_schedule="2-59/15 * * * *",
    execution_timezone="UTC",
    default_status=dg.DefaultScheduleStatus.RUNNING,
    description="Every 15 minutes (at :02, :17, :32, :47): data-quality marts and checks.",
)

ingestion_audit_schedule = dg.ScheduleDefinition(
    name="ingestion_audit_schedule",
    job=ingestion_audit_job,
    cron_schedule="4-59/30 * * * *",
    execution_timezone="UTC",
    default_status=dg.DefaultScheduleStatus.RUNNING,
    description="Every 30 minutes (at :04, :34): ingestion audit, lake dbt models, lake maintenance.",
)

SCHEDULES = [realtime_analytics_schedule, data_quality_schedule, ingestion_audit_schedule]
