"""The six demo source systems: what each records of the population, in its own native layout.

Each builder returns `Extract`s (one per entity: the rows as the system writes them, the day
each row belongs to, and the file format) and the truth about its customer records (which true
party each source customer id belongs to). Layouts are declared in
`dbt_project/models/staging/<system>/_<system>.yml`.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc

from ingest.demo.mess import MessLog, blank_fields, name_mess
from ingest.demo.population import Population


@dataclass
class Extract:
    """One entity of one system: rows in the native layout and the day each row belongs to."""

    system: str
    entity: str
    rows: pd.DataFrame
    day: np.ndarray  # float days since start: which period's file the row belongs in
    fmt: str  # csv | jsonl | parquet
    prefix: str  # file name prefix
    sep: str = ","
    breakable: dict[str, str] = field(default_factory=dict)  # column -> how a bad row breaks it
    period: str | None = None  # file period: None = the spec's, or "quarter"


@dataclass
class SystemOutput:
    extracts: list[Extract]
    records: pd.DataFrame  # source_system, entity, source_customer_id, party, persons_on_record


# --- time and value formatting (vectorised with Arrow) ---------------------------------------


def timestamps(pop: Population, day: np.ndarray) -> np.ndarray:
    """Float days since start -> datetime64[s] within business hours (08:00-20:00)."""
    whole = np.floor(day)
    seconds = whole * 86400 + 8 * 3600 + np.round((day - whole) * 12 * 3600)
    return np.datetime64(pop.spec.start, "s") + seconds.astype("int64").astype("timedelta64[s]")


def fmt_time(values: np.ndarray, fmt: str) -> np.ndarray:
    arr = pa.array(values.astype("datetime64[s]"), type=pa.timestamp("s"))
    return pc.strftime(arr, format=fmt).to_numpy(zero_copy_only=False).astype(object)


def fmt_day(pop: Population, day: np.ndarray, fmt: str) -> np.ndarray:
    return fmt_time(np.datetime64(pop.spec.start, "D") + np.floor(day).astype("int64"), fmt)


def fmt_amount(amount: np.ndarray, sep: str = ".") -> np.ndarray:
    cents = np.round(np.asarray(amount, dtype=float) * 100).astype("int64")
    sign = np.where(cents < 0, "-", "")
    cents = np.abs(cents)
    whole = pd.Series(cents // 100).astype(str)
    frac = pd.Series(cents % 100).astype(str).str.zfill(2)
    return (sign + whole + sep + frac).to_numpy(dtype=object)


def national_phone(e164: pd.Series | np.ndarray, spaced: bool = True) -> np.ndarray:
    """+447700900123 -> 07700 900123 (or 07700900123)."""
    s = pd.Series(e164, dtype=object)
    local = "0" + s.str[3:]
    if spaced:
        local = local.str[:5] + " " + local.str[5:]
    return local.to_numpy(dtype=object)


def with_none(values: np.ndarray, present: np.ndarray) -> np.ndarray:
    out = np.asarray(values, dtype=object).copy()
    out[~present] = None
    return out


# --- customer records and their versions ----------------------------------------------------


def record_versions(
    pop: Population, party: np.ndarray, created: np.ndarray, rng: np.random.Generator
) -> pd.DataFrame:
    """The versions of customer records: created, then a new version whenever the system
    records a surname change or a move of the party (at `capture_change`, a few days late)."""
    people, addr = pop.people, pop.addresses
    horizon = float(pop.spec.days)
    k = len(party)
    capture = pop.spec.mess.capture_change
    name_day = people.name_change_day.to_numpy()[party]
    household = people.household_id.to_numpy()[party] - 1
    move_day = addr.move_day.to_numpy()[household]
    lag = rng.exponential(7.0, (k, 2))
    records = np.arange(k)
    v_name = np.isfinite(name_day) & (name_day > created) & (rng.random(k) < capture)
    v_move = np.isfinite(move_day) & (move_day > created) & (rng.random(k) < capture)
    rec = np.concatenate([records, records[v_name], records[v_move]])
    day = np.concatenate([created, (name_day + lag[:, 0])[v_name], (move_day + lag[:, 1])[v_move]])
    keep = (day < horizon) | (np.arange(len(rec)) < k)
    rec, day = rec[keep], np.minimum(day[keep], horizon - 0.01)
    order = np.lexsort((day, rec))
    rec, day = rec[order], day[order]
    p = party[rec]
    h = household[rec]
    renamed = name_day[rec] <= day
    moved = move_day[rec] <= day
    out = pd.DataFrame(
        {
            "rec": rec,
            "party": p,
            "day": day,
            "first_name": people.first_name.to_numpy()[p],
            "last_name": np.where(
                renamed, people.new_last_name.to_numpy()[p], people.last_name.to_numpy()[p]
            ),
        }
    )
    for col in ("address_line", "city", "postcode"):
        out[col] = np.where(moved, addr[f"{col}_1"].to_numpy()[h], addr[f"{col}_0"].to_numpy()[h])
    out["version"] = out.groupby("rec").cumcount()
    return out


def messy_names(
    pop: Population,
    versions: pd.DataFrame,
    rng: np.random.Generator,
    log: MessLog,
    system: str,
    entity: str,
) -> tuple[np.ndarray, np.ndarray]:
    n_records = int(versions.rec.max()) + 1 if len(versions) else 0
    u = rng.random((n_records, 5))[versions.rec.to_numpy()]
    person = pop.people.party_type.to_numpy()[versions.party.to_numpy()] == "person"
    return name_mess(
        versions.first_name.to_numpy(),
        versions.last_name.to_numpy(),
        person,
        pop.spec.mess,
        u,
        log,
        system,
        entity,
    )


def second_records(
    pop: Population, party: np.ndarray, created: np.ndarray, rng: np.random.Generator
) -> tuple[np.ndarray, np.ndarray]:
    """People who open a second customer record in the same system, and when."""
    horizon = float(pop.spec.days)
    person = pop.people.party_type.to_numpy()[party] == "person"
    has = person & (rng.random(len(party)) < pop.spec.mess.second_account)
    when = created + rng.random(len(party)) * (horizon - 1 - created)
    has &= when > created + 1
    return has, np.floor(when)


def route(
    party_of_purchase: np.ndarray,
    day: np.ndarray,
    first_rec: np.ndarray,
    second_rec: np.ndarray,
    second_from: np.ndarray,
    share: float,
    rng: np.random.Generator,
) -> np.ndarray:
    """Record a purchase is booked under: the second record (if any, from its creation on)
    for `share` of the purchases, else the first."""
    use_second = (
        (second_rec[party_of_purchase] >= 0)
        & (day >= second_from[party_of_purchase])
        & (rng.random(len(day)) < share)
    )
    return np.where(use_second, second_rec[party_of_purchase], first_rec[party_of_purchase])


def _records_frame(system, entity, ids, owner, users=None) -> pd.DataFrame:
    return pd.DataFrame(
        {
            "source_system": system,
            "entity": entity,
            "source_customer_id": ids,
            "party": owner,
            "persons_on_record": 1 if users is None else users,
        }
    )


# --- branch core banking -------------------------------------------------------------------------


def branch(pop: Population, rng: np.random.Generator, log: MessLog) -> SystemOutput:
    people = pop.people
    n = len(people)
    mess = pop.spec.mess
    first_party = np.flatnonzero(people.has_branch.to_numpy())
    created = people.acquired_day.to_numpy()[first_party]
    has2, created2 = second_records(pop, first_party, created, rng)
    party = np.concatenate([first_party, first_party[has2]])
    created_all = np.concatenate([created, created2[has2]])
    order = np.lexsort((party, created_all))  # customer numbers in order of opening
    cust_no = np.empty(len(party), dtype=object)
    cust_no[order] = (pd.Series(np.arange(len(party)) + 10_000_001).astype(str)).to_numpy()
    first_rec = np.full(n, -1)
    first_rec[first_party] = np.arange(len(first_party))
    second_rec = np.full(n, -1)
    second_rec[first_party[has2]] = len(first_party) + np.arange(has2.sum())
    second_from = np.full(n, np.inf)
    second_from[first_party[has2]] = created2[has2]
    log.add("branch", "customers", "second_account", len(first_party), has2.sum())

    v = record_versions(pop, party, created_all, rng)
    first, last = messy_names(pop, v, rng, log, "branch", "customers")
    p = v.party.to_numpy()
    person = people.party_type.to_numpy()[p] == "person"
    nid = people.national_id.to_numpy()[p].astype(object)
    nino = pd.Series(nid)
    nino_spaced = (
        nino.str[:2]
        + " "
        + nino.str[2:4]
        + " "
        + nino.str[4:6]
        + " "
        + nino.str[6:8]
        + " "
        + nino.str[8:]
    )
    rows = pd.DataFrame(
        {
            "CUST_NO": cust_no[v.rec.to_numpy()],
            "CUST_TYPE": np.where(person, "P", "B"),
            "NATL_ID": np.where(person, nino_spaced, nid),
            "FIRST_NM": pd.Series(first).str.upper().to_numpy(),
            "LAST_NM": pd.Series(last).str.upper().to_numpy(),
            "BIRTH_DT": with_none(
                fmt_time(people.date_of_birth.to_numpy()[p].astype("datetime64[s]"), "%d.%m.%Y"),
                person,
            ),
            "STREET": v.address_line.to_numpy(),
            "CITY": pd.Series(v.city).str.upper().to_numpy(),
            "ZIP": v.postcode.to_numpy(),
            "EMAIL": np.where(
                person, people.email.to_numpy()[p], people.work_email.to_numpy()[p]
            ).astype(object),
            "PHONE": national_phone(people.phone.to_numpy()[p]),
            "BRANCH_CD": pd.Series(v.party.to_numpy() % 40 + 101).astype(str).to_numpy(),
            "CHG_TS": fmt_time(timestamps(pop, v.day.to_numpy()), "%Y-%m-%d %H:%M:%S"),
        }
    )
    rows.loc[~person, "FIRST_NM"] = None
    blank_fields(
        rows,
        ["NATL_ID", "BIRTH_DT", "EMAIL", "PHONE", "STREET"],
        mess.missing_field,
        rng,
        log,
        "branch",
        "customers",
        record=v.rec.to_numpy(),
    )
    customers = Extract(
        "branch",
        "customers",
        rows,
        v.day.to_numpy(),
        "csv",
        "cust",
        sep=";",
        breakable={"BIRTH_DT": "date_dmy", "CUST_NO": "blank"},
    )

    accounts, holders, giro_of_rec = _branch_accounts(pop, party, created_all, cust_no, rng)

    buys = pop.purchases[pop.purchases.system.to_numpy() == "branch"]
    b_party, b_day = buys.party.to_numpy(), buys.day.to_numpy()
    rec = route(b_party, b_day, first_rec, second_rec, second_from, 0.5, rng)
    txn = pd.DataFrame(
        {
            "TXN_REF": "T" + pd.Series(np.arange(1, len(buys) + 1)).astype(str).str.zfill(10),
            "CUST_NO": cust_no[rec],
            "ACCT_NO": giro_of_rec[rec],
            "BOOK_DT": fmt_day(pop, b_day, "%d.%m.%Y"),
            "AMT": fmt_amount(buys.amount.to_numpy(), ","),
            "CCY": "EUR",
            "TXN_TYPE": np.where(
                people.party_type.to_numpy()[b_party] == "person", "KAUF", "FIRMA"
            ),
        }
    )
    transactions = Extract(
        "branch",
        "transactions",
        txn,
        b_day,
        "csv",
        "txn",
        sep=";",
        breakable={"BOOK_DT": "date_dmy", "AMT": "number", "CUST_NO": "blank"},
    )
    records = _records_frame("branch", "customers", cust_no, party)
    return SystemOutput([customers, accounts, holders, transactions], records)


def _branch_accounts(pop, party, created, cust_no, rng):
    """Accounts (current, savings, card, mortgage, credit line) and their holders in roles:
    IN owner, MI joint owner, ZA payer, NU user."""
    people = pop.people
    horizon = float(pop.spec.days)
    k = len(party)
    person = people.party_type.to_numpy()[party] == "person"
    age = people.age.fillna(40).to_numpy()[party]
    products = {
        "GIRO": np.ones(k, bool),
        "SPAR": rng.random(k) < np.where(person, 0.4, 0.5),
        "KART": rng.random(k) < 0.5,
        "HYPO": person & (age > 30) & (rng.random(k) < 0.15),
        "KRED": ~person & (rng.random(k) < 0.6),
    }
    rec_list, prod_list = [], []
    for prod, has in products.items():
        rec_list.append(np.flatnonzero(has))
        prod_list.append(np.full(int(has.sum()), prod))
    rec = np.concatenate(rec_list)
    prod = np.concatenate(prod_list)
    order = np.lexsort((prod, rec))
    rec, prod = rec[order], prod[order]
    is_giro = prod == "GIRO"
    open_day = np.where(
        is_giro, created[rec], created[rec] + rng.random(len(rec)) * (horizon - created[rec])
    )
    open_day = np.floor(open_day)
    churn = people.churn_day.to_numpy()[party[rec]]
    closes = np.isfinite(churn) & (churn > open_day) & (rng.random(len(rec)) < 0.6)
    close_day = np.where(closes, np.floor(churn) + 3, np.inf)
    closes &= close_day < horizon
    number = np.arange(len(rec)) + 1
    acct_no = (
        "GB"
        + pd.Series(number % 89 + 10).astype(str)
        + "CIFB"
        + pd.Series(number + 40_000_000_000).astype(str).str.zfill(14)
    ).to_numpy(dtype=object)
    giro_of_rec = np.empty(len(party), dtype=object)
    giro_of_rec[rec[is_giro]] = acct_no[is_giro]
    branch_cd = pd.Series(people.party_type.to_numpy()[party[rec]]).map(
        {"person": "101", "organisation": "900"}
    )
    opened = pd.DataFrame(
        {
            "ACCT_NO": acct_no,
            "PROD_CD": prod,
            "OPEN_DT": fmt_day(pop, open_day, "%d.%m.%Y"),
            "CLOSE_DT": None,
            "BRANCH_CD": branch_cd.to_numpy(),
            "CHG_TS": fmt_time(timestamps(pop, open_day + 0.1), "%Y-%m-%d %H:%M:%S"),
        }
    )
    closed = opened[closes].copy()
    closed["CLOSE_DT"] = fmt_day(pop, close_day[closes], "%d.%m.%Y")
    closed["CHG_TS"] = fmt_time(timestamps(pop, close_day[closes] + 0.2), "%Y-%m-%d %H:%M:%S")
    rows = pd.concat([opened, closed], ignore_index=True)
    days = np.concatenate([open_day, close_day[closes]])
    accounts = Extract(
        "branch", "accounts", rows, days, "csv", "acct", sep=";", breakable={"OPEN_DT": "date_dmy"}
    )
    # holders: the owner of each account, joint owners, payers and users within households
    member = people.member.to_numpy()[party]
    head = people["head"].to_numpy()[party]
    rec_of_party = pd.Series(np.arange(k), index=party)
    rec_of_party = rec_of_party[~rec_of_party.index.duplicated(keep="first")]
    head_rec = rec_of_party.reindex(head).to_numpy()  # NaN when the head has no branch record
    acct_idx = np.arange(len(rec))
    owner_rows = (acct_idx, rec, np.full(len(rec), "IN"))
    partner = (member[rec] == 1) & ~np.isnan(head_rec[rec]) & (rng.random(len(rec)) < 0.6)
    # the partner is joint owner of the head's current account
    joint_acct = np.flatnonzero(is_giro & partner)
    joint_rows = (
        joint_acct,
        head_rec[rec[joint_acct]].astype(int),
        np.full(len(joint_acct), "MI"),
    )
    # the head pays for a grown-up child's card (payer), partners are users of each other's cards
    child_card = np.flatnonzero((prod == "KART") & (member[rec] == 2) & ~np.isnan(head_rec[rec]))
    payer_rows = (
        child_card,
        head_rec[rec[child_card]].astype(int),
        np.full(len(child_card), "ZA"),
    )
    user_card = np.flatnonzero((prod == "KART") & partner)
    user_rows = (user_card, head_rec[rec[user_card]].astype(int), np.full(len(user_card), "NU"))
    parts = [owner_rows, joint_rows, payer_rows, user_rows]
    a = np.concatenate([x[0] for x in parts])
    holder_rec = np.concatenate([x[1] for x in parts])
    role = np.concatenate([x[2] for x in parts])
    since = np.maximum(open_day[a], created[holder_rec])
    holders = pd.DataFrame(
        {
            "ACCT_NO": acct_no[a],
            "CUST_NO": cust_no[holder_rec],
            "ROLE_CD": role,
            "VALID_FROM": fmt_day(pop, since, "%d.%m.%Y"),
            "VALID_TO": with_none(
                fmt_day(pop, np.where(closes[a], close_day[a], 0), "%d.%m.%Y"), closes[a]
            ),
        }
    )
    order = np.lexsort((role, a))
    holders_x = Extract(
        "branch",
        "account_holders",
        holders.iloc[order].reset_index(drop=True),
        since[order],
        "csv",
        "hold",
        sep=";",
        breakable={"VALID_FROM": "date_dmy"},
    )
    return accounts, holders_x, giro_of_rec


# --- web shop / online banking ---------------------------------------------------------------


def web(pop: Population, rng: np.random.Generator, log: MessLog) -> SystemOutput:
    people = pop.people
    n = len(people)
    users = np.flatnonzero(people.has_web.to_numpy() & (people.party_type.to_numpy() == "person"))
    login_of = people.email.fillna(people.work_email).to_numpy()
    created = people.acquired_day.to_numpy()[users]
    has2, created2 = second_records(pop, users, created, rng)
    has2 &= login_of[users] != people.work_email.to_numpy()[users]
    log.add("web", "accounts", "second_account", len(users), has2.sum())
    logins = np.concatenate([login_of[users], people.work_email.to_numpy()[users][has2]])
    owners = np.concatenate([users, users[has2]])
    when = np.concatenate([created, created2[has2]])
    frame = pd.DataFrame({"login": logins, "party": owners, "created": when})
    frame = frame.sort_values(["created", "party"], kind="stable")
    shared = frame.groupby("login", sort=False).party.nunique()
    frame = frame.drop_duplicates("login", keep="first").reset_index(drop=True)
    login_rec = pd.Series(np.arange(len(frame)), index=frame.login.to_numpy())
    first_rec = np.full(n, -1)
    first_rec[users] = login_rec.reindex(login_of[users]).to_numpy()
    second_rec = np.full(n, -1)
    second_rec[users[has2]] = login_rec.reindex(
        people.work_email.to_numpy()[users][has2]
    ).to_numpy()
    second_from = np.full(n, np.inf)
    second_from[users[has2]] = created2[has2]

    v = record_versions(pop, frame.party.to_numpy(), frame.created.to_numpy(), rng)
    first, last = messy_names(pop, v, rng, log, "web", "accounts")
    p = v.party.to_numpy()
    ts = timestamps(pop, v.day.to_numpy())
    created_ts = timestamps(pop, frame.created.to_numpy())[v.rec.to_numpy()]
    rows = pd.DataFrame(
        {
            "login": frame.login.to_numpy()[v.rec.to_numpy()],
            "accountId": "WS" + pd.Series(v.rec.to_numpy() + 700_001).astype(str),
            "givenName": first,
            "familyName": last,
            "birthDate": with_none(
                fmt_time(people.date_of_birth.to_numpy()[p].astype("datetime64[s]"), "%Y-%m-%d"),
                rng.random(len(v)) < 0.6,
            ),
            "mobile": people.mobile.to_numpy()[p],
            "street": v.address_line.to_numpy(),
            "zip": v.postcode.to_numpy(),
            "town": v.city.to_numpy(),
            "country": "UK",
            "newsletter": np.isfinite(people.email_opt_in_day.to_numpy()[p]),
            "createdAt": fmt_time(created_ts, "%Y-%m-%dT%H:%M:%SZ"),
            "modifiedAt": fmt_time(ts, "%Y-%m-%dT%H:%M:%SZ"),
        }
    )
    blank_fields(
        rows,
        ["mobile", "street", "zip", "town"],
        pop.spec.mess.missing_field,
        rng,
        log,
        "web",
        "accounts",
        record=v.rec.to_numpy(),
    )
    accounts = Extract(
        "web", "accounts", rows, v.day.to_numpy(), "jsonl", "accounts", breakable={"login": "json"}
    )
    buys = pop.purchases[pop.purchases.system.to_numpy() == "web"]
    b_party, b_day = buys.party.to_numpy(), buys.day.to_numpy()
    rec = route(b_party, b_day, first_rec, second_rec, second_from, 0.5, rng)
    # a few orders are cancelled before payment: they are delivered too, with status CANCELLED
    cancelled = rng.random(len(buys)) < 0.02
    o_rec = np.concatenate([rec, rec[cancelled]])
    o_day = np.concatenate([b_day, b_day[cancelled] + 0.01])
    o_amount = np.concatenate([buys.amount.to_numpy(), buys.amount.to_numpy()[cancelled]])
    status = np.r_[np.full(len(rec), "PAID"), np.full(int(cancelled.sum()), "CANCELLED")]
    order = np.argsort(o_day, kind="stable")
    o_ts = timestamps(pop, o_day[order])
    summer = np.isin(o_ts.astype("datetime64[M]").astype(int) % 12 + 1, [4, 5, 6, 7, 8, 9, 10])
    local = o_ts + np.where(summer, 3600, 0).astype("timedelta64[s]")
    orders = pd.DataFrame(
        {
            "orderNo": np.arange(len(order)) + 500_001,
            "login": frame.login.to_numpy()[o_rec[order]],
            "orderedAt": fmt_time(local, "%Y-%m-%dT%H:%M:%S")
            + np.where(summer, "+01:00", "+00:00"),
            "total": np.round(o_amount[order], 2),
            "currency": "EUR",
            "status": status[order],
            "items": rng.integers(1, 5, len(order)),
        }
    )
    order_x = Extract(
        "web",
        "orders",
        orders,
        o_day[order],
        "jsonl",
        "orders",
        breakable={"orderedAt": "json", "total": "json"},
    )
    users_per_login = shared.reindex(frame.login.to_numpy()).to_numpy()
    records = _records_frame(
        "web", "accounts", frame.login.to_numpy(), frame.party.to_numpy(), users_per_login
    )
    return SystemOutput([accounts, order_x], records)


# --- mobile app --------------------------------------------------------------------------------


def app(pop: Population, rng: np.random.Generator, log: MessLog) -> SystemOutput:
    people = pop.people
    n = len(people)
    users = np.flatnonzero(people.has_app.to_numpy())
    created = people.acquired_day.to_numpy()[users]
    has2, created2 = second_records(pop, users, created, rng)
    log.add("app", "profiles", "second_account", len(users), has2.sum())
    party = np.concatenate([users, users[has2]])
    when = np.concatenate([created, created2[has2]])
    phone = np.concatenate(
        [people.mobile.to_numpy()[users], people.mobile2.to_numpy()[users][has2]]
    )
    device = pd.Series(
        (np.arange(len(party), dtype=np.int64) * 2654435761 + 977 * pop.spec.seed) % (16**12)
    ).map(lambda x: f"{x:012x}")
    device = ("dv-" + device).to_numpy(dtype=object)
    first_rec = np.full(n, -1)
    first_rec[users] = np.arange(len(users))
    second_rec = np.full(n, -1)
    second_rec[users[has2]] = len(users) + np.arange(has2.sum())
    second_from = np.full(n, np.inf)
    second_from[users[has2]] = created2[has2]

    v = record_versions(pop, party, when, rng)
    first, last = messy_names(pop, v, rng, log, "app", "profiles")
    p = v.party.to_numpy()
    rec = v.rec.to_numpy()
    ph = pd.Series(phone[rec], dtype=object)
    birth_year = pd.array(people.date_of_birth.dt.year.to_numpy()[p], dtype="Int64")
    rows = pd.DataFrame(
        {
            "device_id": device[rec],
            "platform": np.where(p % 3 == 0, "android", "ios"),
            "first_name": first,
            "last_name": last,
            "phone": (ph.str[:3] + " " + ph.str[3:7] + " " + ph.str[7:]).to_numpy(dtype=object),
            "birth_year": birth_year,
            "registered_at": timestamps(pop, when[rec]),
            "updated_at": timestamps(pop, v.day.to_numpy()),
        }
    )
    rows["last_name"] = with_none(rows.last_name.to_numpy(), rng.random(len(rows)) < 0.7)
    blank_fields(
        rows, ["phone", "birth_year"], pop.spec.mess.missing_field, rng, log, "app", "profiles", rec
    )
    profiles = Extract(
        "app",
        "profiles",
        rows,
        v.day.to_numpy(),
        "parquet",
        "profiles",
        breakable={"device_id": "null"},
    )
    buys = pop.purchases[pop.purchases.system.to_numpy() == "app"]
    b_party, b_day = buys.party.to_numpy(), buys.day.to_numpy()
    # after a new phone, the person only uses the new device
    pay_rec = route(b_party, b_day, first_rec, second_rec, second_from, 1.0, rng)
    ev = pop.app_events
    e_party, e_day = ev.party.to_numpy(), ev.day.to_numpy()
    e_rec = route(e_party, e_day, first_rec, second_rec, second_from, 1.0, rng)
    ok = e_rec >= 0
    all_rec = np.concatenate([pay_rec, e_rec[ok]])
    all_day = np.concatenate([b_day, e_day[ok]])
    kind = np.concatenate([np.full(len(pay_rec), "payment"), ev.event.to_numpy()[ok]])
    minor = np.concatenate(
        [np.round(buys.amount.to_numpy() * 100).astype("int64"), np.zeros(int(ok.sum()), "int64")]
    )
    order = np.argsort(all_day, kind="stable")
    events = pd.DataFrame(
        {
            "event_id": np.arange(len(order), dtype="int64") + 9_000_000_001,
            "device_id": device[all_rec[order]],
            "event_time": timestamps(pop, all_day[order]),
            "event_type": kind[order],
            "amount_minor": pd.array(
                np.where(kind[order] == "payment", minor[order], 0), dtype="Int64"
            ),
            "currency": np.where(kind[order] == "payment", "EUR", None),
        }
    )
    events.loc[events.event_type != "payment", "amount_minor"] = pd.NA
    events_x = Extract(
        "app",
        "events",
        events,
        all_day[order],
        "parquet",
        "events",
        breakable={"device_id": "null"},
    )
    records = _records_frame("app", "profiles", device, party)
    return SystemOutput([profiles, events_x], records)


# --- call centre -------------------------------------------------------------------------------

CC_TIME = "%m/%d/%Y %H:%M"


def callcentre(
    pop: Population, rng: np.random.Generator, log: MessLog, branch_no: pd.Series
) -> SystemOutput:
    """Calls and tickets, keyed by the phone number the caller rings from; the customer number
    the caller gives (their branch customer number) when they know it."""
    people = pop.people
    calls = pop.calls
    c_party, c_day = calls.party.to_numpy(), calls.day.to_numpy()
    phone = national_phone(people.phone.to_numpy()[c_party], spaced=False)
    given_no = branch_no.reindex(c_party).to_numpy(dtype=object)
    gives = pd.notna(given_no) & (rng.random(len(calls)) < 0.4)
    given_no = with_none(given_no, gives)
    call_id = "CL" + pd.Series(np.arange(len(calls)) + 300_000_001).astype(str)
    ticket = calls.ticket.to_numpy()
    ticket_no = np.full(len(calls), None, dtype=object)
    ticket_no[ticket] = (
        "TK" + pd.Series(np.arange(int(ticket.sum())) + 10_000_001).astype(str)
    ).to_numpy()
    start_ts = timestamps(pop, c_day)
    complaint = calls.complaint.to_numpy()
    call_rows = pd.DataFrame(
        {
            "CallID": call_id.to_numpy(),
            "PhoneNumber": phone,
            "CustomerNoGiven": given_no,
            "StartedAt": fmt_time(start_ts, CC_TIME),
            "DurationSec": rng.gamma(2.0, 150.0, len(calls)).astype(int) + 20,
            "ReasonCode": calls.reason.to_numpy(),
            "AgentID": "AG" + pd.Series(rng.integers(100, 160, len(calls))).astype(str),
            "TicketNo": ticket_no,
        }
    )
    calls_x = Extract(
        "callcentre",
        "calls",
        call_rows,
        c_day,
        "csv",
        "calls",
        breakable={"StartedAt": "date_us", "CallID": "blank"},
    )
    # tickets: complaints (satisfaction from the complaint) and service requests
    t = np.flatnonzero(ticket)
    comp = complaint[t]
    is_comp = comp >= 0
    comps = pop.complaints
    sat = np.where(
        is_comp,
        comps.satisfaction.to_numpy()[np.maximum(comp, 0)] if len(comps) else 0,
        rng.choice([3, 4, 5], len(t), p=[0.2, 0.4, 0.4]),
    )
    fcr = np.where(
        is_comp,
        comps.first_contact.to_numpy()[np.maximum(comp, 0)] if len(comps) else False,
        rng.random(len(t)) < 0.7,
    )
    after = np.where(
        is_comp,
        comps.resolved_after_days.to_numpy()[np.maximum(comp, 0)] if len(comps) else 0.0,
        np.where(fcr, rng.random(len(t)) * 0.01, rng.lognormal(0.0, 1.0, len(t))),
    )
    resolved_day = c_day[t] + 0.001 + after
    resolved = resolved_day < float(pop.spec.days) - 0.01
    answered = rng.random(len(t)) < 0.7
    tickets = pd.DataFrame(
        {
            "TicketNo": ticket_no[t],
            "CallID": call_id.to_numpy()[t],
            "PhoneNumber": phone[t],
            "Category": np.where(is_comp, "COMPLAINT", "REQUEST"),
            "OpenedAt": fmt_time(start_ts[t], CC_TIME),
            "ResolvedAt": with_none(
                fmt_time(timestamps(pop, np.where(resolved, resolved_day, 0)), CC_TIME), resolved
            ),
            "FCR": np.where(fcr, "Y", "N"),
            "CSAT": with_none(pd.Series(sat).astype(str).to_numpy(), answered | is_comp),
        }
    )
    # a ticket is delivered when opened, and again when resolved
    done = tickets[resolved].copy()
    open_rows = tickets.copy()
    open_rows["ResolvedAt"] = None
    open_rows["CSAT"] = None
    t_rows = pd.concat([open_rows, done], ignore_index=True)
    t_days = np.concatenate([c_day[t], resolved_day[resolved]])
    tickets_x = Extract(
        "callcentre",
        "tickets",
        t_rows,
        t_days,
        "csv",
        "tickets",
        breakable={"OpenedAt": "date_us", "TicketNo": "blank"},
    )
    # contacts: one per phone number; an agent overwrites the name when someone else calls
    frame = pd.DataFrame({"phone": phone, "party": c_party, "day": c_day, "given": given_no})
    frame = frame.sort_values(["phone", "day"], kind="stable").reset_index(drop=True)
    new_phone = frame.phone.ne(frame.phone.shift())
    changed = new_phone | frame.party.ne(frame.party.shift())
    versions = frame[changed].copy()
    versions["rec"] = np.cumsum(new_phone.to_numpy())[changed.to_numpy()] - 1
    first_of = versions.drop_duplicates("rec")
    persons_on = frame.groupby("phone", sort=False).party.nunique()
    p = versions.party.to_numpy()
    vv = pd.DataFrame(
        {
            "rec": versions.rec.to_numpy(),
            "party": p,
            "first_name": people.first_name.to_numpy()[p],
            "last_name": np.where(
                people.name_change_day.to_numpy()[p] <= versions.day.to_numpy(),
                people.new_last_name.to_numpy()[p],
                people.last_name.to_numpy()[p],
            ),
        }
    )
    first, last = messy_names(pop, vv, rng, log, "callcentre", "contacts")
    contact_rows = pd.DataFrame(
        {
            "PhoneNumber": versions.phone.to_numpy(),
            "CallerName": (
                pd.Series(first, dtype=object) + " " + pd.Series(last, dtype=object)
            ).to_numpy(),
            "CustomerNoGiven": versions.given.to_numpy(),
            "FirstCallAt": fmt_time(
                timestamps(pop, first_of.day.to_numpy()[versions.rec.to_numpy()]), CC_TIME
            ),
            "LastUpdated": fmt_time(timestamps(pop, versions.day.to_numpy()), CC_TIME),
        }
    )
    contacts = Extract(
        "callcentre",
        "contacts",
        contact_rows,
        versions.day.to_numpy(),
        "csv",
        "contacts",
        breakable={"LastUpdated": "date_us", "PhoneNumber": "blank"},
    )
    records = _records_frame(
        "callcentre",
        "contacts",
        first_of.phone.to_numpy(),
        first_of.party.to_numpy(),
        persons_on.reindex(first_of.phone.to_numpy()).to_numpy(),
    )
    return SystemOutput([contacts, calls_x, tickets_x], records)


# --- email marketing ---------------------------------------------------------------------------


def email(pop: Population, rng: np.random.Generator, log: MessLog) -> SystemOutput:
    people = pop.people
    opt_in = people.email_opt_in_day.to_numpy()
    unsub = people.email_unsubscribed_day.to_numpy()
    horizon = float(pop.spec.days)
    subs = np.flatnonzero(np.isfinite(opt_in) & (opt_in < horizon))
    frame = pd.DataFrame(
        {"email": people.email.to_numpy()[subs], "party": subs, "day": opt_in[subs]}
    ).sort_values(["day", "party"], kind="stable")
    persons_on = frame.groupby("email", sort=False).party.nunique()
    frame = frame.drop_duplicates("email").reset_index(drop=True)
    # unsubscribed: when the record's owner (or anyone sharing the address) unsubscribed
    unsub_of = pd.Series(unsub, index=people.email.to_numpy()).dropna()
    unsub_of = unsub_of[unsub_of.index.notna()].groupby(level=0).min()
    frame["unsub"] = unsub_of.reindex(frame.email.to_numpy()).fillna(np.inf).to_numpy()
    k = len(frame)
    gone = np.isfinite(frame.unsub.to_numpy())
    rec = np.concatenate([np.arange(k), np.flatnonzero(gone)])
    day = np.concatenate([frame.day.to_numpy(), frame.unsub.to_numpy()[gone]])
    order = np.lexsort((day, rec))
    rec, day = rec[order], day[order]
    p = frame.party.to_numpy()[rec]
    vv = pd.DataFrame(
        {
            "rec": rec,
            "party": p,
            "first_name": people.first_name.to_numpy()[p],
            "last_name": people.last_name.to_numpy()[p],
        }
    )
    first, last = messy_names(pop, vv, rng, log, "email", "subscribers")
    gives_name = rng.random(k)[rec]
    rows = pd.DataFrame(
        {
            "email_address": frame.email.to_numpy()[rec],
            "first_name": with_none(first, gives_name < 0.6),
            "last_name": with_none(last, gives_name < 0.4),
            "status": np.where(day >= frame.unsub.to_numpy()[rec], "unsubscribed", "subscribed"),
            "opt_in_date": fmt_day(pop, frame.day.to_numpy()[rec], "%Y-%m-%d"),
            "last_changed": fmt_time(timestamps(pop, day), "%Y-%m-%dT%H:%M:%S"),
        }
    )
    subscribers = Extract(
        "email",
        "subscribers",
        rows,
        day,
        "csv",
        "subscribers",
        breakable={"last_changed": "date_iso", "email_address": "blank"},
    )
    sends = pop.email_sends
    s_party, s_day = sends.party.to_numpy(), sends.day.to_numpy()
    parts = [("send", np.ones(len(sends), bool), 0.0)]
    parts += [("open", sends.opened.to_numpy(), 0.15), ("click", sends.clicked.to_numpy(), 0.16)]
    parts += [("unsubscribe", sends.unsubscribed.to_numpy(), 0.17)]
    kinds, idx, offs = [], [], []
    for kind, mask, off in parts:
        i = np.flatnonzero(mask)
        kinds.append(np.full(len(i), kind))
        idx.append(i)
        offs.append(np.full(len(i), off))
    i = np.concatenate(idx)
    e_day = s_day[i] + np.concatenate(offs)
    order = np.argsort(e_day, kind="stable")
    i, e_day = i[order], e_day[order]
    epoch = timestamps(pop, e_day).astype("datetime64[s]").astype("int64")  # seconds since 1970
    events = pd.DataFrame(
        {
            "event": np.concatenate(kinds)[order],
            "email": people.email.to_numpy()[s_party[i]],
            "campaign_id": sends.campaign.to_numpy()[i],
            "event_ts": epoch,
        }
    )
    events_x = Extract(
        "email", "events", events, e_day, "jsonl", "events", breakable={"event_ts": "json"}
    )
    records = _records_frame(
        "email",
        "subscribers",
        frame.email.to_numpy(),
        frame.party.to_numpy(),
        persons_on.reindex(frame.email.to_numpy()).to_numpy(),
    )
    return SystemOutput([subscribers, events_x], records)


# --- key-account management --------------------------------------------------------------------

MANAGERS = ("A. Patel", "J. Morgan", "S. Okafor", "L. Novak", "R. Fitzgerald", "M. Rossi")


def kam(pop: Population, rng: np.random.Generator, log: MessLog) -> SystemOutput:
    people = pop.people
    horizon = float(pop.spec.days)
    orgs = np.flatnonzero(people.party_type.to_numpy() == "organisation")
    since = people.acquired_day.to_numpy()[orgs]
    ka_id = ("KA-" + pd.Series(np.arange(len(orgs)) + 10001).astype(str)).to_numpy(dtype=object)
    manager = np.array(MANAGERS)[rng.integers(0, len(MANAGERS), len(orgs))]
    v = record_versions(pop, orgs, since, rng)
    rec = v.rec.to_numpy()
    p = v.party.to_numpy()
    crn = pd.Series(people.national_id.to_numpy()[p], dtype=object)
    rows = pd.DataFrame(
        {
            "ka_id": ka_id[rec],
            "legal_name": v.last_name.to_numpy(),
            "org_type": people.org_kind.to_numpy()[p],
            "registration_no": (crn.str[:4] + " " + crn.str[4:]).to_numpy(dtype=object),
            "sector": people.sector.to_numpy()[p],
            "account_manager": manager[rec],
            "street": v.address_line.to_numpy(),
            "postcode": v.postcode.to_numpy(),
            "city": v.city.to_numpy(),
            "contact_email": people.email.to_numpy()[p],
            "contact_phone": people.phone.to_numpy()[p],
            "key_account_since": pd.Series(
                np.datetime64(pop.spec.start, "D") + since[rec].astype("int64")
            ).dt.date,
            "updated_at": timestamps(pop, v.day.to_numpy()),
        }
    )
    blank_fields(
        rows,
        ["registration_no", "contact_phone"],
        pop.spec.mess.missing_field,
        rng,
        log,
        "kam",
        "institutions",
        rec,
    )
    institutions = Extract(
        "kam",
        "institutions",
        rows,
        v.day.to_numpy(),
        "parquet",
        "institutions",
        breakable={"ka_id": "null"},
        period="quarter",
    )
    # targets per quarter, set by the account manager a few days before the quarter starts
    quarters = pd.period_range(pop.spec.start, pop.spec.end, freq="Q")
    q_start = np.array(
        [(q.start_time.normalize() - pd.Timestamp(pop.spec.start)).days for q in quarters], float
    )
    org_i, q_i = np.meshgrid(np.arange(len(orgs)), np.arange(len(quarters)), indexing="ij")
    org_i, q_i = org_i.ravel(), q_i.ravel()
    set_day = np.maximum(q_start[q_i] - rng.integers(3, 15, len(org_i)), 0)
    keep = (q_start[q_i] + 91 > since[org_i]) & (set_day < horizon)
    org_i, q_i, set_day = org_i[keep], q_i[keep], set_day[keep]
    party = orgs[org_i]
    quarterly = people.lam.to_numpy()[party] * 91 * people.spend_scale.to_numpy()[party]
    revenue = np.round(quarterly * rng.uniform(0.9, 1.4, len(party)), -2)
    share = np.round(rng.uniform(0.15, 0.6, len(party)), 2)
    # some targets are revised during the quarter: a second row for the same period
    revised = rng.random(len(party)) < 0.15
    r_idx = np.flatnonzero(revised)
    all_i = np.concatenate([np.arange(len(party)), r_idx])
    revenue_all = np.concatenate([revenue, np.round(revenue[r_idx] * 0.9, -2)])
    set_all = np.concatenate([set_day, np.minimum(set_day[r_idx] + 40, horizon - 0.5)])
    period = np.array([f"{q.year}-Q{q.quarter}" for q in quarters])[q_i[all_i]]
    targets = pd.DataFrame(
        {
            "ka_id": ka_id[org_i[all_i]],
            "period": period,
            "revenue_target": revenue_all,
            "products_target": rng.integers(2, 7, len(party))[all_i].astype("int64"),
            "share_of_wallet_target": share[all_i],
            "wallet_estimate": np.round(revenue_all / share[all_i], -2),
            "account_manager": manager[org_i[all_i]],
            "set_on": pd.Series(
                np.datetime64(pop.spec.start, "D") + np.floor(set_all).astype("int64")
            ).dt.date,
        }
    )
    order = np.argsort(set_all, kind="stable")
    targets_x = Extract(
        "kam",
        "targets",
        targets.iloc[order].reset_index(drop=True),
        set_all[order],
        "parquet",
        "targets",
        breakable={"ka_id": "null"},
        period="quarter",
    )
    records = _records_frame("kam", "institutions", ka_id, orgs)
    log.add("kam", "targets", "revised_target", len(party), len(r_idx))
    return SystemOutput([institutions, targets_x], records)
