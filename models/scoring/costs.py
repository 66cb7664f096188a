"""What serving and acquiring a customer costs: the net in net CLV."""

from __future__ import annotations

import datetime as dt

import duckdb
import pandas as pd

from models.clv import ClvAssumptions

# Service cost: interactions that are not marketing (e-mail campaigns and the like are not a
# cost of serving the customer), plus an extra handling cost per complaint, over the last year.
SERVICE_SQL = """
select
    customer_key,
    count(*) filter (
        where not (coalesce(channel, '') ilike '%email%'
            or regexp_matches(lower(coalesce(interaction_type, '')), 'campaign|marketing|newsletter'))
    ) as service_interactions,
    count(*) filter (where coalesce(is_complaint, false)) as complaints
from core.fct_interactions
where occurred_at >= cast($as_of as date) - interval 365 day
  and occurred_at < cast($as_of as date) + interval 1 day
group by customer_key
"""

ACQUISITION_SQL = """
select customer_key, max(cast(acquisition_cost as double)) as acquisition_cost
from core.dim_customer
where is_current and acquisition_cost is not null
group by customer_key
"""


def service_cost_per_year(
    con: duckdb.DuckDBPyConnection, as_of: dt.date, assumptions: ClvAssumptions
) -> pd.Series:
    df = con.execute(SERVICE_SQL, {"as_of": as_of}).df().set_index("customer_key")
    return (
        df.service_interactions * assumptions.service_cost_per_interaction
        + df.complaints * assumptions.complaint_cost
    ).astype(float)


def acquisition_cost(con: duckdb.DuckDBPyConnection) -> pd.Series | None:
    """Acquisition cost per customer where a source provides it (core.dim_customer column)."""
    has_column = con.execute(
        "select count(*) from information_schema.columns where table_schema = 'core' "
        "and table_name = 'dim_customer' and column_name = 'acquisition_cost'"
    ).fetchall()[0][0]
    if not has_column:
        return None
    return con.execute(ACQUISITION_SQL).df().set_index("customer_key").acquisition_cost
