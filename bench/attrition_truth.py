"""Attrition scores against what really happened: the demo's truth and CDNOW's holdout.

    .venv/bin/python bench/attrition_truth.py LANDING WAREHOUSE AS_OF   # a demo run
    .venv/bin/python bench/attrition_truth.py --cdnow                   # CDNOW (lifetimes)

Demo: a person has dropped out by AS_OF when the generator's `died_on` <= AS_OF
(`_truth/customers.csv`); persons map to customer keys through core.customer_identity_map.
Prints the AUC of the stored attrition risk and of 1 - P(alive) over the scored customers,
the holdout metrics the run stored for both in scores.model_runs (its own label, out of
time) and the calibration table.

CDNOW: the 2,357 customers of the sample shipped with lifetimes, landed by the real loader;
features at the end of the published 39-week calibration period (1997-09-30), label "no
purchase in the 39-week holdout". The classifier may use only the calibration period, which
is too short for a 39-week label before it: it is trained on 13-week labels (cuts 1997-06-30
and two earlier months), then ranks the customers for the 39 weeks.
"""

from __future__ import annotations

import datetime as dt
import json
import sys
import tempfile
import warnings
from pathlib import Path

import duckdb
import pandas as pd
from sklearn.metrics import roc_auc_score

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

DEMO_SQL = """
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
"""


def demo(landing: Path, warehouse: str, as_of: str) -> None:
    truth = pd.read_csv(landing / "_truth" / "customers.csv", dtype=str)
    con = duckdb.connect(warehouse, read_only=True)
    con.register("truth", truth)
    frame = con.execute(DEMO_SQL, {"as_of": as_of}).df()
    print(f"customers scored and matched to the truth: {len(frame):,}")
    print(f"dropped out by {as_of} (truth): {frame.dropped_out.mean():.1%}")
    risk = roc_auc_score(frame.dropped_out, frame.attrition_risk)
    base = roc_auc_score(frame.dropped_out, 1 - frame.p_alive)
    print(f"AUC vs truth, attrition_risk (as stored): {risk:.3f}")
    print(f"AUC vs truth, 1 - p_alive (BTYD):          {base:.3f}   uplift {risk - base:+.3f}")
    runs = con.execute(
        "select model_name, selected, holdout_metrics from scores.model_runs "
        "where as_of_date = cast(? as date) and model_name like 'attrition%' "
        "order by fitted_at desc, model_name limit 2",
        [as_of],
    ).fetchall()
    for name, selected, metrics in runs:
        m = json.loads(metrics)
        print(
            f"holdout (own label, out of time) {name:24} selected={selected!s:5} "
            f"AUC {m['auc']:.3f}  lift {m['top_decile_lift']:.2f}  "
            f"max calibration gap {m['max_calibration_gap']:.3f}"
        )
        if name == "attrition_gbm":
            for row in m["calibration"]:
                print(
                    f"    decile {row['decile']:2}  predicted {row['predicted']:.3f}  "
                    f"observed {row['observed']:.3f}  ({row['customers']} customers)"
                )


def cdnow() -> None:
    from ingest.loader import load_landing
    from models.attrition import (
        baseline_risk,
        btyd_outputs,
        classification_metrics,
        cuts_before,
        features,
        fit_classifier,
        labels,
        predict_risk,
    )
    from tests.test_cdnow import land_cdnow

    calibration_end, holdout_days, train_days = dt.date(1997, 9, 30), 273, 92
    with tempfile.TemporaryDirectory() as tmp:
        land_cdnow(Path(tmp) / "landing")
        con = duckdb.connect(str(Path(tmp) / "cdnow.duckdb"))
        load_landing(con, Path(tmp) / "landing")
        con.execute(
            "create schema core; create table core.fct_transactions as select "
            "cast(source_customer_id as bigint) as customer_key, cast(occurred_at as date) as "
            "occurred_on, cast(amount as decimal(18, 2)) as amount, 'cdnow' as channel "
            "from raw.canonical__transactions; create table core.fct_interactions ("
            "customer_key bigint, occurred_at timestamp, channel varchar, interaction_type "
            "varchar, is_complaint boolean, resolved_at timestamp, satisfaction integer)"
        )
        xs, ys = [], []
        for cut in cuts_before(calibration_end - dt.timedelta(days=train_days)):
            x = features(con, cut, train_days, 7.0)
            xs.append(x)
            ys.append(labels(con, cut, train_days, x.index))
        model = fit_classifier(pd.concat(xs), pd.concat(ys))
        x_cal = features(con, calibration_end, train_days, 7.0)
        y = labels(con, calibration_end, holdout_days, x_cal.index).to_numpy()
        ours = classification_metrics(predict_risk(model, x_cal), y)
        base = classification_metrics(baseline_risk(x_cal), y)
        quiet = btyd_outputs(con, calibration_end, holdout_days, 7.0).p_no_purchase
        quiet_auc = roc_auc_score(y, quiet.reindex(x_cal.index).to_numpy())
    print(f"CDNOW: {len(y):,} customers, no purchase in the 39-week holdout: {y.mean():.1%}")
    print(f"AUC classifier (trained on 13-week labels before week 39): {ours['auc']:.3f}")
    print(f"AUC 1 - p_alive (BG/NBD fitted on weeks 1-39):           {base['auc']:.3f}")
    print(f"AUC BG/NBD P(no purchase in 39 weeks), same fit:         {quiet_auc:.3f}")
    print(
        "(BG/NBD lets a customer drop out only after a repeat purchase: P(alive) = 1 for the "
        "one-time buyers, most of whom never come back)"
    )


if __name__ == "__main__":
    warnings.simplefilter("ignore")
    if sys.argv[1:] == ["--cdnow"]:
        cdnow()
    else:
        demo(Path(sys.argv[1]), sys.argv[2], sys.argv[3])
