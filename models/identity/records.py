"""The customer records identity resolution compares: the latest version of every source record
with matching features (standardised names, birth year, address key, party type, the branch
number a caller gave), plus when each record was first seen."""

from __future__ import annotations

import duckdb
import pandas as pd

# Common English nicknames and short forms -> the formal given name they stand for; matching
# compares the formal name so that "Bob Smith" and "Robert Smith" agree on the forename.
NICKNAMES: dict[str, str] = {
    "jim": "james",
    "jimmy": "james",
    "jamie": "james",
    "jack": "john",
    "johnny": "john",
    "bob": "robert",
    "rob": "robert",
    "bobby": "robert",
    "robbie": "robert",
    "mike": "michael",
    "mick": "michael",
    "bill": "william",
    "will": "william",
    "billy": "william",
    "liam": "william",
    "dave": "david",
    "rick": "richard",
    "dick": "richard",
    "rich": "richard",
    "joe": "joseph",
    "tom": "thomas",
    "tommy": "thomas",
    "charlie": "charles",
    "chuck": "charles",
    "dan": "daniel",
    "danny": "daniel",
    "matt": "matthew",
    "tony": "anthony",
    "don": "donald",
    "steve": "steven",
    "andy": "andrew",
    "drew": "andrew",
    "josh": "joshua",
    "ken": "kenneth",
    "kenny": "kenneth",
    "ed": "edward",
    "eddie": "edward",
    "ted": "edward",
    "ron": "ronald",
    "pat": "patricia",
    "patty": "patricia",
    "jenny": "jennifer",
    "jen": "jennifer",
    "liz": "elizabeth",
    "beth": "elizabeth",
    "betty": "elizabeth",
    "lizzie": "elizabeth",
    "babs": "barbara",
    "sue": "susan",
    "susie": "susan",
    "jess": "jessica",
    "maggie": "margaret",
    "meg": "margaret",
    "peggy": "margaret",
    "kim": "kimberly",
    "debbie": "deborah",
    "deb": "deborah",
    "steph": "stephanie",
    "shelly": "michelle",
    "mandy": "amanda",
    "mel": "melissa",
    "sandy": "sandra",
    "becky": "rebecca",
    "becca": "rebecca",
    "chris": "christopher",
    "nick": "nicholas",
    "sam": "samuel",
    "ben": "benjamin",
    "alex": "alexander",
    "greg": "gregory",
    "jeff": "jeffrey",
    "larry": "lawrence",
    "tim": "timothy",
    "pete": "peter",
    "kate": "katherine",
    "katie": "katherine",
    "cathy": "catherine",
    "vicky": "victoria",
}

# The dbt models RECORDS_SQL reads (schema.model): the identity step's upstream in the graph.
DBT_INPUTS = (
    "intermediate.int_customer_records_unioned",
    "intermediate.int_transactions_unioned",
    "intermediate.int_interactions_unioned",
    "staging.stg_app__profiles",
    "staging.stg_callcentre__contacts",
    "staging.stg_branch__customers",
)

# Latest version of each record, with features; person/organisation from the source's own type.
RECORDS_SQL = """
with latest as (
    select * from intermediate.int_customer_records_unioned where is_latest
),
first_seen as (
    select source_system, source_customer_id, min(seen_at) as first_seen_at
    from (
        select source_system, source_customer_id, updated_at as seen_at
        from intermediate.int_customer_records_unioned
        union all
        select source_system, source_customer_id, occurred_at
        from intermediate.int_transactions_unioned
        union all
        select source_system, source_customer_id, occurred_at
        from intermediate.int_interactions_unioned
    )
    group by all
),
app_years as (
    select source_customer_id, max(birth_year) as birth_year
    from staging.stg_app__profiles group by all
),
referenced as (
    select source_customer_id, max(referenced_customer_id) as referenced_customer_id
    from staging.stg_callcentre__contacts group by all
),
business as (
    select distinct source_customer_id from staging.stg_branch__customers
    where customer_type = 'business'
)
select
    f.source_system, f.source_customer_id, f.first_seen_at,
    l.national_id, l.first_name, l.last_name, l.date_of_birth, l.email, l.phone,
    l.address_line, l.postcode, l.updated_at,
    lower(regexp_replace(strip_accents(coalesce(l.first_name, '')), '[^A-Za-z]', '', 'g'))
        as given_raw,
    nullif(lower(regexp_replace(strip_accents(coalesce(l.last_name, '')), '[^A-Za-z]', '', 'g')), '')
        as surname,
    coalesce(year(l.date_of_birth), a.birth_year) as birth_year,
    nullif(split_part(l.email, '@', 1), '') as email_user,
    -- UK numbering plan (+44 7... mobiles); other countries' numbers have no kind
    case
        when l.phone like '+447%' then 'mobile' when l.phone like '+44%' then 'landline'
    end as phone_kind,
    nullif(regexp_replace(upper(coalesce(l.postcode, '')), '[^A-Z0-9]', '', 'g'), '') as postcode_key,
    nullif(lower(regexp_replace(coalesce(l.address_line, ''), '[^A-Za-z0-9]', '', 'g')), '')
        as address_key,
    case when f.source_system = 'kam' or b.source_customer_id is not null
        then 'organisation' else 'person' end as party_type,
    r.referenced_customer_id
from first_seen f
left join latest l using (source_system, source_customer_id)
left join app_years a
    on f.source_system = 'app' and a.source_customer_id = f.source_customer_id
left join referenced r
    on f.source_system = 'callcentre' and r.source_customer_id = f.source_customer_id
left join business b
    on f.source_system = 'branch' and b.source_customer_id = f.source_customer_id
order by f.source_system, f.source_customer_id
"""


def load_records(con: duckdb.DuckDBPyConnection) -> pd.DataFrame:
    """Every source record to resolve, one row each, with matching features (see RECORDS_SQL)."""
    records = con.execute(RECORDS_SQL).df()
    records["given"] = standard_given(records["given_raw"])
    records["uid"] = records.source_system + ":" + records.source_customer_id
    return records


def standard_given(given: pd.Series) -> pd.Series:
    """Lower-case forename with nicknames replaced by the formal name; None when empty."""
    g = given.fillna("").astype(str)
    return g.map(lambda v: NICKNAMES.get(v, v)).replace("", None)
