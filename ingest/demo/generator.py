"""`cif generate`: deterministic, messy multi-channel landing data with its ground truth aside.

Six source systems, each in its own native layout (see `systems.py` and the dbt sources in
`dbt_project/models/staging/<system>/`), one file per entity and quarter (`file_period`):

| system | entities | format |
| --- | --- | --- |
| branch (core banking) | customers, accounts, account_holders, transactions | `;` CSV, DD.MM.YYYY, decimal comma |
| web (shop / online banking) | accounts (login = e-mail), orders | JSON lines, ISO 8601 with offsets |
| app (mobile app) | profiles (by device), events (payments in minor units) | Parquet, native types |
| callcentre | contacts (by phone), calls, tickets | `,` CSV, MM/DD/YYYY HH:MM |
| email (marketing) | subscribers (by e-mail), events (send/open/click/unsubscribe) | CSV and JSON lines, epoch seconds |
| kam (key-account management) | institutions, targets per quarter | Parquet |

File-level mess (late files, duplicated rows, malformed rows) is applied here; record-level mess
(typos, nicknames, missing fields, second accounts, ...) in `systems.py`. How much of each kind
was applied is written to `_truth/mess.csv`; the truth about every source customer record to
`_truth/customers.csv` and about every person to `_truth/people.csv`. The pipeline never reads
`_truth/` (the loader skips folders starting with `_`).
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import itertools
import json
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq

from ingest.demo import systems
from ingest.demo.config import MessRates, PopulationSpec
from ingest.demo.mess import MessLog
from ingest.demo.population import Population, simulate

TRUTH_DIR = "_truth"
SYSTEMS = ("branch", "web", "app", "callcentre", "email", "kam")
NAME_STYLE = {  # how each system names its files
    "branch": "{prefix}_{y}{m:02d}",
    "web": "{prefix}-{y}-{m:02d}",
    "app": "{prefix}_{y}_{m:02d}",
    "callcentre": "{prefix}_{y}{m:02d}",
    "email": "{prefix}_{y}-{m:02d}",
    "kam": "{prefix}_{y}Q{q}",
}
BAD_VALUES = {
    "date_dmy": "31.02.{y}",
    "date_us": "13/45/{y} 25:61",
    "date_iso": "{y}-13-45T99:00:00",
    "number": "12,34,5",
    "blank": "",
}


@dataclass(frozen=True)
class GenerationSummary:
    out: Path
    files: list[Path]
    people: int
    rows: int


def _period_index(spec: PopulationSpec, day: np.ndarray, period: str) -> np.ndarray:
    months = (
        (np.datetime64(spec.start, "D") + np.floor(day).astype("int64"))
        .astype("datetime64[M]")
        .astype("int64")
    )
    return months // 3 if period == "quarter" else months


def _file_name(system: str, prefix: str, index: int, period: str, ext: str) -> str:
    month = index * 3 if period == "quarter" else index
    y, m = 1970 + month // 12, month % 12 + 1
    return NAME_STYLE[system].format(prefix=prefix, y=y, m=m, q=(m - 1) // 3 + 1) + "." + ext


def _break_rows(
    x: systems.Extract, rows: pd.DataFrame, bad: np.ndarray, rng: np.random.Generator
) -> set[int]:
    """Make the `bad` rows break their layout; returns positions of rows to cut (JSON lines)."""
    cut: set[int] = set()
    columns = list(x.breakable)
    if not columns or not bad.any():
        return cut
    which = rng.integers(0, len(columns), len(rows))
    year = 2000 + int(rng.integers(0, 30))
    for j, col in enumerate(columns):
        hit = np.flatnonzero(bad & (which == j))
        if not len(hit):
            continue
        kind = x.breakable[col]
        if kind == "json":
            cut.update(int(i) for i in hit)
        elif kind == "null":
            rows.iloc[hit, rows.columns.get_loc(col)] = None
        else:
            if rows[col].dtype != object:
                rows[col] = rows[col].astype(object)
            rows.iloc[hit, rows.columns.get_loc(col)] = BAD_VALUES[kind].format(y=year)
    return cut


def write_extract(
    x: systems.Extract, spec: PopulationSpec, out: Path, rng: np.random.Generator, log: MessLog
) -> tuple[list[Path], int]:
    """Write one entity as one file per period, with late, duplicated and malformed rows."""
    mess = spec.mess
    period = x.period or spec.file_period
    rows, n = x.rows, len(x.rows)
    own = _period_index(spec, x.day, period)
    last = int(_period_index(spec, np.array([spec.days - 1.0]), period)[0])
    late = rng.random(n) < mess.late_arrival
    pidx = np.where(late, np.minimum(own + rng.integers(1, 3, n), last), own)
    log.add(  # rows of the last period have no later file to arrive in
        x.system, x.entity, "late_arrival", int((own < last).sum()), int((pidx > own).sum())
    )
    dup = np.flatnonzero(rng.random(n) < mess.duplicate_row)
    dup_p = np.minimum(pidx[dup] + (rng.random(len(dup)) < 0.5), last)
    log.add(x.system, x.entity, "duplicate_row", n, len(dup))
    rows = pd.concat([rows, rows.iloc[dup]], ignore_index=True)
    pidx = np.concatenate([pidx, dup_p])
    order = np.argsort(pidx, kind="stable")
    rows, pidx = rows.iloc[order].reset_index(drop=True), pidx[order]
    bad = (rng.random(len(rows)) < mess.malformed_row) if x.breakable else np.zeros(len(rows), bool)
    cut = _break_rows(x, rows, bad, rng)
    log.add(x.system, x.entity, "malformed_row", len(rows), int(bad.sum()))
    folder = out / x.system / x.entity
    folder.mkdir(parents=True, exist_ok=True)
    files = []
    bounds = np.flatnonzero(np.r_[True, pidx[1:] != pidx[:-1], True])
    for a, b in itertools.pairwise(bounds):
        chunk = rows.iloc[a:b]
        path = folder / _file_name(x.system, x.prefix, int(pidx[a]), period, x.fmt)
        if x.fmt == "csv":
            chunk.to_csv(path, index=False, sep=x.sep, lineterminator="\n")
        elif x.fmt == "jsonl":
            text = chunk.to_json(orient="records", lines=True, date_format="iso")
            lines = text.rstrip("\n").split("\n")
            for i in (i - a for i in cut if a <= i < b):
                lines[i] = lines[i][: max(1, len(lines[i]) // 2)]
            path.write_text("\n".join(lines) + "\n", encoding="utf-8")
        else:
            table = pa.Table.from_pandas(chunk, preserve_index=False)
            pq.write_table(table, path, compression="zstd")
        files.append(path)
    return files, len(rows)


def _days_to_dates(spec: PopulationSpec, day: np.ndarray) -> np.ndarray:
    """Float days -> ISO dates, empty where infinite."""
    finite = np.isfinite(day)
    out = np.full(len(day), None, dtype=object)
    dates = np.datetime64(spec.start, "D") + np.floor(np.where(finite, day, 0)).astype("int64")
    out[finite] = np.datetime_as_string(dates[finite], unit="D")
    return out


def _truth(pop: Population, records: pd.DataFrame, out: Path, log: MessLog) -> list[Path]:
    spec, people = pop.spec, pop.people
    truth = out / TRUTH_DIR
    truth.mkdir(parents=True, exist_ok=True)
    p = records.party.to_numpy()
    customers = pd.DataFrame(
        {
            "person_id": people.person_id.to_numpy()[p],
            "household_id": people.household_id.to_numpy()[p],
            "acquired_on": _days_to_dates(spec, people.acquired_day.to_numpy()[p]),
            "died_on": _days_to_dates(spec, people.churn_day.to_numpy()[p]),
            "source_system": records.source_system.to_numpy(),
            "source_customer_id": records.source_customer_id.to_numpy(),
            "entity": records.entity.to_numpy(),
            "party_type": people.party_type.to_numpy()[p],
            "persons_on_record": records.persons_on_record.to_numpy(),
            "status": people.status.to_numpy()[p],
        }
    )
    bought = np.bincount(pop.purchases.party, minlength=len(people))
    spent = np.bincount(pop.purchases.party, weights=pop.purchases.amount, minlength=len(people))
    move = pop.addresses.move_day.to_numpy()[people.household_id.to_numpy() - 1]
    persons = pd.DataFrame(
        {
            "person_id": people.person_id,
            "household_id": people.household_id,
            "party_type": people.party_type,
            "household_member": people.member,
            "first_name": people.first_name,
            "last_name": people.last_name,
            "last_name_after_change": np.where(
                np.isfinite(people.name_change_day), people.new_last_name, None
            ),
            "surname_changed_on": _days_to_dates(spec, people.name_change_day.to_numpy()),
            "moved_on": _days_to_dates(spec, move),
            "date_of_birth": people.date_of_birth.dt.strftime("%Y-%m-%d"),
            "age_group": people.age_group,
            "national_id": people.national_id,
            "email": people.email,
            "phone": people.phone,
            "shares_email": people.shares_email,
            "shares_phone": people.shares_phone,
            "acquired_on": _days_to_dates(spec, people.acquired_day.to_numpy()),
            "status": people.status,
            "churned_on": _days_to_dates(spec, people.churn_day.to_numpy()),
            "first_churned_on": _days_to_dates(spec, people.first_churn_day.to_numpy()),
            "churn_cause": people.churn_cause.replace("", None),
            "won_back_on": _days_to_dates(spec, people.winback_day.to_numpy()),
            "complaints": people.complaints,
            "purchases": bought,
            "spend": np.round(spent, 2),
            "uses_branch": people.has_branch,
            "uses_web": people.has_web,
            "uses_app": people.has_app,
            "bgnbd_lambda": people.lam.round(6),
            "bgnbd_p": people.p.round(6),
        }
    )
    mess = log.frame()
    configured = dataclasses.asdict(spec.mess)
    mess["configured"] = mess.kind.map(configured)
    config = dataclasses.asdict(spec)
    config = {k: (str(v) if isinstance(v, dt.date) else v) for k, v in config.items()}
    paths = [truth / "customers.csv", truth / "people.csv", truth / "mess.csv"]
    customers.to_csv(paths[0], index=False, lineterminator="\n")
    persons.to_csv(paths[1], index=False, lineterminator="\n")
    mess.to_csv(paths[2], index=False, lineterminator="\n")
    paths.append(truth / "config.json")
    paths[-1].write_text(json.dumps(config, indent=2, sort_keys=True) + "\n")
    return paths


def generate(
    out: Path,
    customers: int = 2000,
    start: dt.date | None = None,
    end: dt.date | None = None,
    seed: int = 7,
    mess: MessRates | None = None,
    **behaviour,
) -> GenerationSummary:
    """Write the demo landing zone to `out` (same seed, same bytes) and the truth to `_truth/`.

    `mess` sets the rates of real-world mess (default `MessRates()`); other keyword arguments
    override fields of `PopulationSpec` (behaviour), e.g. `winback=0.3`.
    """
    end = end or dt.date.today() - dt.timedelta(days=1)
    start = start or end - dt.timedelta(days=730)
    if start >= end:
        raise ValueError(f"--start {start} must be before --end {end}")
    spec = PopulationSpec(
        customers=customers,
        start=start,
        end=end,
        seed=seed,
        mess=mess or MessRates(),
        **behaviour,
    )
    rng = np.random.default_rng(seed)
    pop = simulate(spec, rng)
    log = MessLog()
    outputs = [
        systems.branch(pop, rng, log),
        systems.web(pop, rng, log),
        systems.app(pop, rng, log),
    ]
    branch_records = outputs[0].records.drop_duplicates("party")
    branch_no = pd.Series(
        branch_records.source_customer_id.to_numpy(), index=branch_records.party.to_numpy()
    )
    outputs += [
        systems.callcentre(pop, rng, log, branch_no),
        systems.email(pop, rng, log),
        systems.kam(pop, rng, log),
    ]
    files: list[Path] = []
    rows = 0
    for output in outputs:
        for extract in output.extracts:
            written, count = write_extract(extract, spec, out, rng, log)
            files += written
            rows += count
    records = pd.concat([o.records for o in outputs], ignore_index=True)
    files += _truth(pop, records, out, log)
    return GenerationSummary(out=out, files=files, people=len(pop.people), rows=rows)
