"""A generated landing zone cut into a cold part and one landing per night, every source daily.

The demo generator writes every entity as one file per quarter. `slice_landing` keeps in the
landing zone only the rows dated on or before the cold night's as-of (each file under its own
name) and writes, for night n (business day as-of + n), the rows dated that day into
`<nights>/<n>/<system>/<entity>/`, one file per entity in the system's native layout and file
naming. A row's date is its own business or change date (`DAY_COLUMNS`); a malformed row whose
date does not parse goes with the row before it in its file. Besides the generator's rows each
night gets, by hand and seeded:

- corrections: a few branch transactions of the last 30 days, already landed, re-sent with a
  changed amount (`*_corr` file),
- address changes: a new version of a few branch customers, moved to another customer's address
  (`*_moves` file), and of one customer record of any system the day brought nothing from
  (`*_changes` file), so that every night has files from every source,
- a late file: every 7th night, one entity's day of facts is held back and lands 3 nights later
  under its own date (branch transactions, web orders, app events and calls in turn).
"""

from __future__ import annotations

import datetime as dt
import json
import re
import shutil
from dataclasses import dataclass, field, replace
from pathlib import Path

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq

SYSTEMS = ("branch", "web", "app", "callcentre", "email", "kam")
SEPARATOR = {"branch": ";"}  # CSV separator per system (else ",")
DAY_NAME = {  # each system's file naming, for one day
    "branch": "{prefix}_{d:%Y%m%d}",
    "web": "{prefix}-{d:%Y-%m-%d}",
    "app": "{prefix}_{d:%Y_%m_%d}",
    "callcentre": "{prefix}_{d:%Y%m%d}",
    "email": "{prefix}_{d:%Y-%m-%d}",
    "kam": "{prefix}_{d:%Y-%m-%d}",
}
CC_TIME = "%m/%d/%Y %H:%M"
# The columns that date a row (the first that parses wins: a resolved ticket is dated when it
# was resolved) and their text format; None: a native (Parquet) date or time; "epoch": seconds.
DAY_COLUMNS: dict[tuple[str, str], tuple[tuple[str, str | None], ...]] = {
    ("branch", "customers"): (("CHG_TS", "%Y-%m-%d %H:%M:%S"),),
    ("branch", "accounts"): (("CHG_TS", "%Y-%m-%d %H:%M:%S"),),
    ("branch", "account_holders"): (("VALID_FROM", "%d.%m.%Y"),),
    ("branch", "transactions"): (("BOOK_DT", "%d.%m.%Y"),),
    ("web", "accounts"): (("modifiedAt", "%Y-%m-%dT%H:%M:%SZ"),),
    ("web", "orders"): (("orderedAt", "%Y-%m-%dT%H:%M:%S%z"),),
    ("app", "profiles"): (("updated_at", None),),
    ("app", "events"): (("event_time", None),),
    ("callcentre", "contacts"): (("LastUpdated", CC_TIME),),
    ("callcentre", "calls"): (("StartedAt", CC_TIME),),
    ("callcentre", "tickets"): (("ResolvedAt", CC_TIME), ("OpenedAt", CC_TIME)),
    ("email", "subscribers"): (("last_changed", "%Y-%m-%dT%H:%M:%S"),),
    ("email", "events"): (("event_ts", "epoch"),),
    ("kam", "institutions"): (("updated_at", None),),
    ("kam", "targets"): (("set_on", None),),
}


@dataclass(frozen=True)
class Record:
    """A system's customer records: their key, change time (and its format) and address."""

    entity: str
    key: str
    changed: str
    fmt: str | None
    address: tuple[str, ...] = ()


RECORDS = {
    "branch": Record(
        "customers", "CUST_NO", "CHG_TS", "%Y-%m-%d %H:%M:%S", ("STREET", "ZIP", "CITY")
    ),
    "web": Record(
        "accounts", "login", "modifiedAt", "%Y-%m-%dT%H:%M:%SZ", ("street", "zip", "town")
    ),
    "app": Record("profiles", "device_id", "updated_at", None),
    "callcentre": Record("contacts", "PhoneNumber", "LastUpdated", CC_TIME),
    "email": Record("subscribers", "email_address", "last_changed", "%Y-%m-%dT%H:%M:%S"),
    "kam": Record("institutions", "ka_id", "updated_at", None, ("street", "postcode", "city")),
}
LATE_ENTITIES = (
    ("branch", "transactions"),
    ("web", "orders"),
    ("app", "events"),
    ("callcentre", "calls"),
)
LATE_EVERY, LATE_BY = 7, 3  # nights 1, 8, 15, ... hold back a day that lands 3 nights later
CORRECTION_WINDOW = 30  # days back a correction reaches
EXTRA_SUFFIXES = ("_corr", "_moves", "_changes")  # hand-made files, beside the generator's


@dataclass
class Part:
    """Rows of one entity in their native form, and the day each belongs to (NaT: unparsed)."""

    fmt: str  # csv | jsonl | parquet
    rows: pd.DataFrame | pa.Table | list[str]
    day: np.ndarray  # datetime64[D]
    sep: str = ","

    def __len__(self) -> int:
        return len(self.day)

    def take(self, mask: np.ndarray) -> Part:
        idx = np.flatnonzero(mask)
        if self.fmt == "csv":
            rows = self.rows.iloc[idx].reset_index(drop=True)
        elif self.fmt == "jsonl":
            rows = [self.rows[i] for i in idx]
        else:
            rows = self.rows.take(pa.array(idx, type=pa.int64()))
        return replace(self, rows=rows, day=self.day[idx])

    def write(self, path: Path) -> None:
        path.parent.mkdir(parents=True, exist_ok=True)
        if self.fmt == "csv":
            self.rows.to_csv(path, sep=self.sep, index=False, lineterminator="\n")
        elif self.fmt == "jsonl":
            path.write_text("".join(line + "\n" for line in self.rows), encoding="utf-8")
        else:
            pq.write_table(self.rows, path, compression="zstd")

    def column(self, name: str) -> np.ndarray:
        if self.fmt == "csv":
            return self.rows[name].to_numpy(dtype=object)
        if self.fmt == "jsonl":
            return np.array([_json_or_empty(line).get(name) for line in self.rows], dtype=object)
        return self.rows.column(name).to_numpy(zero_copy_only=False)

    def records(self, idx: np.ndarray) -> list[dict]:
        """The rows at `idx` as dicts (JSON lines that do not parse are left out by callers)."""
        if self.fmt == "csv":
            return self.rows.iloc[idx].to_dict("records")
        if self.fmt == "jsonl":
            return [json.loads(self.rows[i]) for i in idx]
        return self.rows.take(pa.array(idx, type=pa.int64())).to_pylist()

    def from_records(self, records: list[dict]) -> Part:
        """A part of the same layout holding `records` (days unknown: these are extras)."""
        day = np.full(len(records), np.datetime64("NaT"), "datetime64[D]")
        if self.fmt == "csv":
            rows = pd.DataFrame(records, columns=self.rows.columns)
        elif self.fmt == "jsonl":
            rows = [json.dumps(r, separators=(",", ":")) for r in records]
        else:
            rows = pa.Table.from_pylist(records, schema=self.rows.schema)
        return replace(self, rows=rows, day=day)


def concat(parts: list[Part]) -> Part:
    first = parts[0]
    if first.fmt == "csv":
        rows = pd.concat([p.rows for p in parts], ignore_index=True)
    elif first.fmt == "jsonl":
        rows = [line for p in parts for line in p.rows]
    else:  # a column all empty in one file is typed null there, text in another
        rows = pa.concat_tables([p.rows for p in parts], promote_options="default")
    return replace(first, rows=rows, day=np.concatenate([p.day for p in parts]))


def _parse_day(values: pd.Series, fmt: str | None) -> pd.Series:
    if fmt == "epoch":
        seconds = pd.to_numeric(values, errors="coerce")
        return pd.to_datetime(seconds, unit="s", errors="coerce")
    if fmt is None:
        return pd.to_datetime(values, errors="coerce")
    if fmt.endswith("%z"):  # a local time with its offset: the local date is the business day
        values, fmt = values.astype("string").str[:19], fmt[:-2]
    return pd.to_datetime(values.astype("string"), format=fmt, errors="coerce")


def row_days(system: str, entity: str, frame: pd.DataFrame) -> np.ndarray:
    """The day of each row; a row whose date does not parse gets the day of the row before."""
    day = pd.Series(pd.NaT, index=frame.index, dtype="datetime64[ns]")
    for column, fmt in DAY_COLUMNS[(system, entity)]:
        if column in frame:
            day = day.fillna(_parse_day(frame[column], fmt))
    return day.ffill().bfill().to_numpy().astype("datetime64[D]")


def read_part(path: Path, system: str, entity: str) -> Part:
    if path.suffix == ".csv":
        sep = SEPARATOR.get(system, ",")
        rows = pd.read_csv(path, sep=sep, dtype=str, keep_default_na=False)
        return Part("csv", rows, row_days(system, entity, rows), sep)
    if path.suffix == ".jsonl":
        lines = path.read_text(encoding="utf-8").splitlines()
        frame = pd.DataFrame([_json_or_empty(line) for line in lines])
        return Part("jsonl", lines, row_days(system, entity, frame))
    table = pq.read_table(path)
    columns = [c for c, _ in DAY_COLUMNS[(system, entity)]]
    frame = table.select(columns).to_pandas()
    return Part("parquet", table, row_days(system, entity, frame))


def _json_or_empty(line: str) -> dict:
    try:
        return json.loads(line)
    except ValueError:  # a malformed row the generator cut short
        return {}


def parses(part: Part) -> np.ndarray:
    """Rows that are whole records (a cut JSON line is not)."""
    if part.fmt != "jsonl":
        return np.ones(len(part), bool)
    return np.array([bool(_json_or_empty(line)) for line in part.rows], bool)


@dataclass
class Sliced:
    """What `slice_landing` wrote: the generator's rows per entity, cold and per day."""

    prefixes: dict[tuple[str, str], str] = field(default_factory=dict)
    cold: dict[tuple[str, str], Part] = field(default_factory=dict)
    later: dict[tuple[str, str], Part] = field(default_factory=dict)
    # night held back -> (the entity held, the night it lands on)
    late: dict[int, tuple[tuple[str, str], int]] = field(default_factory=dict)


def _entity_folders(landing: Path) -> list[tuple[str, str, Path]]:
    return [
        (system, folder.name, folder)
        for system in SYSTEMS
        for folder in sorted((landing / system).glob("*"))
        if folder.is_dir()
    ]


def cut_cold(landing: Path, as_of: dt.date) -> Sliced:
    """Keep each generated file's rows dated up to `as_of` in place; return the rest."""
    cutoff = np.datetime64(as_of, "D")
    sliced = Sliced()
    for system, entity, folder in _entity_folders(landing):
        key = (system, entity)
        cold, later = [], []
        for path in sorted(folder.glob("*.*")):
            sliced.prefixes.setdefault(key, re.match(r"[a-z]+", path.stem).group(0))
            part = read_part(path, system, entity)
            keep = part.day <= cutoff
            cold.append(part.take(keep))
            later.append(part.take(~keep))
            path.unlink()
            if keep.any():
                cold[-1].write(path)
        sliced.cold[key], sliced.later[key] = concat(cold), concat(later)
    return sliced


def day_file(sliced: Sliced, key: tuple[str, str], day: dt.date, fmt: str, suffix: str = "") -> str:
    name = DAY_NAME[key[0]].format(prefix=sliced.prefixes[key], d=day)
    return f"{name}{suffix}.{fmt}"  # the formats are named by their file extensions


def late_plan(nights: int) -> dict[int, tuple[tuple[str, str], int]]:
    """Night held back -> (entity, night it lands on)."""
    held = [n for n in range(1, nights + 1, LATE_EVERY) if n + LATE_BY <= nights]
    return {n: (LATE_ENTITIES[i % len(LATE_ENTITIES)], n + LATE_BY) for i, n in enumerate(held)}


def _landed_by(sliced: Sliced, key: tuple[str, str], night: int, as_of: dt.date) -> Part:
    """The entity's rows landed before `night` (the cold part and earlier nights' days)."""
    before = np.datetime64(as_of + dt.timedelta(days=night), "D")
    later = sliced.later[key]
    landed = later.day < before
    for held, (entity, lands) in sliced.late.items():
        if entity == key and lands >= night:
            landed &= later.day != np.datetime64(as_of + dt.timedelta(days=held), "D")
    return concat([sliced.cold[key], later.take(landed)])


def corrections(landed: Part, day: dt.date, count: int, rng: np.random.Generator) -> Part | None:
    """`count` landed branch transactions of the last 30 days re-sent with another amount."""
    rows = landed.rows
    since = np.datetime64(day - dt.timedelta(days=CORRECTION_WINDOW), "D")
    good = (
        rows["AMT"].str.fullmatch(r"-?\d+,\d{2}")
        & rows["BOOK_DT"].str.fullmatch(r"\d{2}\.\d{2}\.\d{4}")
        & (rows["CUST_NO"] != "")
    )
    pool = rows[good.to_numpy() & (landed.day >= since)].drop_duplicates("TXN_REF", keep=False)
    if pool.empty:
        return None
    picked = pool.iloc[np.sort(rng.choice(len(pool), min(count, len(pool)), replace=False))].copy()
    cents = picked["AMT"].str.replace(",", "").astype(int).to_numpy()
    factor = 1 + rng.choice([-1, 1], len(cents)) * rng.uniform(0.05, 0.3, len(cents))
    new = np.maximum(np.round(cents * factor).astype(int), 1)
    picked["AMT"] = [f"{c // 100},{c % 100:02d}" for c in new]
    return landed.from_records(picked.to_dict("records"))


def _stamp(fmt: str | None, when: dt.datetime) -> object:
    return when if fmt is None else when.strftime(fmt)


def new_versions(
    landed: Part, record: Record, day: dt.date, count: int, rng: np.random.Generator
) -> Part | None:
    """A new version of `count` records (their latest), changed on `day`: moved to another
    record's address where the layout has one, else only saved again."""
    keys = pd.DataFrame({"key": landed.column(record.key), "day": landed.day})
    keys = keys[parses(landed) & keys.key.notna() & (keys.key != "")]
    latest = keys.sort_values("day", kind="stable").drop_duplicates("key", keep="last")
    if latest.empty:
        return None
    rows = latest.index.to_numpy()
    picked = rows[rng.choice(len(rows), min(count, len(rows)), replace=False)]
    movers = _movers(landed, record, rows, picked, rng)
    out = []
    for j, (new, other) in enumerate(
        zip(landed.records(picked), landed.records(movers), strict=True)
    ):
        new.update({c: other[c] for c in record.address})
        when = dt.datetime.combine(day, dt.time(12, j % 60))
        new[record.changed] = _stamp(record.fmt, when)
        out.append(new)
    return landed.from_records(out)


def _movers(
    landed: Part, record: Record, rows: np.ndarray, picked: np.ndarray, rng: np.random.Generator
) -> np.ndarray:
    """For each picked record, a record whose whole address it moves to (another than its
    own: members of a household share one); itself where the layout has no address."""
    if not record.address:
        return picked
    columns = {c: landed.column(c) for c in record.address}
    address = pd.DataFrame({c: values[rows] for c, values in columns.items()}, index=rows)
    address = address[(address.notna() & (address != "")).all(axis=1)]
    out = []
    for row in picked:
        own = [values[row] for values in columns.values()]
        elsewhere = address.index[(address != own).any(axis=1).to_numpy()]
        out.append(rng.choice(elsewhere) if len(elsewhere) else row)
    return np.array(out, dtype=np.int64)


def _write_night(night_dir: Path, key: tuple[str, str], name: str, part: Part | None) -> None:
    if part is not None and len(part):
        part.write(night_dir / key[0] / key[1] / name)


def write_nights(
    sliced: Sliced, out: Path, as_of: dt.date, nights: int, customers: int, seed: int
) -> None:
    """Write night 1..`nights` into `out/<n>/` (see the module docstring)."""
    sliced.late = late_plan(nights)
    for night in range(1, nights + 1):
        rng = np.random.default_rng([seed, night])
        day = as_of + dt.timedelta(days=night)
        night_dir = out / f"{night:03d}"
        for key, later in sliced.later.items():
            held = sliced.late.get(night)
            lands = night if not held or held[0] != key else held[1]
            todays = later.take(later.day == np.datetime64(day, "D"))
            _write_night(out / f"{lands:03d}", key, day_file(sliced, key, day, later.fmt), todays)
        txn = ("branch", "transactions")
        fixed = corrections(
            _landed_by(sliced, txn, night, as_of), day, max(2, customers // 4000), rng
        )
        _write_night(night_dir, txn, day_file(sliced, txn, day, "csv", "_corr"), fixed)
        _record_changes(sliced, night_dir, night, as_of, customers, rng)


def _record_changes(sliced, night_dir, night, as_of, customers, rng) -> None:
    day = as_of + dt.timedelta(days=night)
    for system, record in RECORDS.items():
        key = (system, record.entity)
        if key not in sliced.later:
            continue
        if system == "branch":
            count, suffix = max(1, customers // 10_000), "_moves"
        elif not any((night_dir / system).glob("*/*")):
            count, suffix = 1, "_changes"
        else:
            continue
        landed = _landed_by(sliced, key, night, as_of)
        part = new_versions(landed, record, day, count, rng)
        _write_night(night_dir, key, day_file(sliced, key, day, landed.fmt, suffix), part)


def slice_landing(
    landing: Path, nights_dir: Path, as_of: dt.date, nights: int, customers: int, seed: int
) -> Sliced:
    """Cut `landing` (generated through as-of + `nights`) into its cold part and the nights."""
    sliced = cut_cold(landing, as_of)
    if nights_dir.exists():
        shutil.rmtree(nights_dir)
    write_nights(sliced, nights_dir, as_of, nights, customers, seed)
    return sliced


def land_night(nights_dir: Path, landing: Path, night: int) -> list[Path]:
    """Copy night `night`'s files into the landing zone; returns the landed paths."""
    landed = []
    source = nights_dir / f"{night:03d}"
    for path in sorted(source.glob("*/*/*")):
        target = landing / path.relative_to(source)
        target.parent.mkdir(parents=True, exist_ok=True)
        shutil.copy2(path, target)
        landed.append(target)
    return landed
