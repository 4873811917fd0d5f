with

source as (

    select * from {{ source('github', 'raw_github_events') }}

),

renamed as (

    select

        ----------  ids
        ingest_seq,
        natural_key,
        event_id,
        event_type,
        action as event_action,
        cast(actor_id as bigint) as actor_id,
        actor_login,
        cast(repo_id as bigint) as repo_id,
        repo_name,
        org_login,
        source as data_source,

        ----------  details from the event's own payload (kept whole in the raw payload column)
        {{ json_get_text('payload', ['payload', 'ref']) }} as git_ref,
        cast({{ json_get_text('payload', ['payload', 'size']) }} as bigint) as push_commit_count,

        ----------  booleans
        public as is_public,

        ----------  timestamps
        created_at,
        observed_at,
        produced_at,
        ingested_at

    from source

)

select * from renamed
