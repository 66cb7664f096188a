"""Attrition scores of a demo run against the generator's truth (`_truth/customers.csv`).

    .venv/bin/python bench/attrition_truth.py LANDING WAREHOUSE AS_OF

Truth: a person has dropped out by AS_OF when `died_on` <= AS_OF. Persons map to customer keys
through core.customer_identity_map (source_system, source_customer_id); prints the AUC of the
attrition risk and of 1 - P(alive) over the scored customers.
"""

import sys
from pathlib import Path

import duckdb
import pandas as pd
from sklearn.metrics import roc_auc_score

landing, warehouse, as_of = Path(sys.argv[1]), sys.argv[2], sys.argv[3]
truth = pd.read_csv(landing / "_truth" / "customers.csv", dtype=str)
con = duckdb.connect(warehouse, read_only=True)
con.register("truth", truth)
frame = con.execute(
    """
    select s.customer_key, any_value(s.attrition_risk) as attrition_risk,
           any_value(s.p_alive) as p_alive,
           max(case when t.died_on is not null and cast(t.died_on as date) <= cast($as_of as date)
               then 1 else 0 end) as dropped_out
    from scores.customer_scores as s
    join core.customer_identity_map as m using (customer_key)
    join truth as t on t.source_system = m.source_system
        and t.source_customer_id = m.source_customer_id
    where s.as_of_date = cast($as_of as date)
    group by s.customer_key
    """,
    {"as_of": as_of},
).df()
print(f"customers scored and matched to the truth: {len(frame):,}")
print(f"dropped out by {as_of}: {frame.dropped_out.mean():.1%}")
print(
    f"AUC attrition_risk (scikit-learn): {roc_auc_score(frame.dropped_out, frame.attrition_risk):.3f}"
)
print(
    f"AUC 1 - p_alive (BTYD):            {roc_auc_score(frame.dropped_out, 1 - frame.p_alive):.3f}"
)
