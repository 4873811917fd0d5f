-- github_activity_by_hour lists each hour of the day exactly once: 24 rows, hours 0-23.
select count(*) as hour_rows
from {{ ref('github_activity_by_hour') }}
having count(*) <> 24
