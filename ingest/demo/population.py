"""The simulated population behind the demo source systems: people, households, behaviour.

Purchases follow the BG/NBD story (Fader, Hardie & Lee 2005): while alive, a customer buys at a
Poisson rate drawn from a gamma distribution; after each *repeat* purchase they drop out with a
probability drawn from a beta distribution. Spend per purchase follows Gamma-Gamma. On top of
that: acquisition spread over the period (growing), complaints that can make a customer leave,
older couples who leave together, and lapsed customers of whom some come back (win-back).

Everything is vectorised with numpy (no loop over people), so a million people take seconds.
Times are float days since `spec.start`.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd

from ingest.demo.config import (
    AGE_BOUNDS,
    AGE_GROUPS,
    AGE_SHARES,
    CALLS_PER_YEAR,
    CHANNEL_WEIGHTS,
    EMAIL_OPT_IN,
    HAS_EMAIL,
    PopulationSpec,
)
from ingest.demo.names import FIRST_NAMES, LAST_NAMES, draw_forenames, draw_surnames

STREETS = [
    "Oak",
    "Maple",
    "Cedar",
    "Pine",
    "Elm",
    "Birch",
    "Willow",
    "Ash",
    "Cherry",
    "Walnut",
    "Chestnut",
    "Poplar",
    "Station",
    "Church",
    "Mill",
    "Park",
    "Victoria",
    "Queens",
    "Kings",
    "Bridge",
    "Meadow",
    "Orchard",
    "Highfield",
    "Manor",
]
STREET_KINDS = ("Street", "Road", "Lane", "Avenue", "Close")
CITIES = [
    "Springfield",
    "Riverton",
    "Lakeside",
    "Hillview",
    "Brookfield",
    "Fairmont",
    "Ashford",
    "Kingsbridge",
    "Millbrook",
    "Oakham",
    "Westbury",
    "Northfield",
]
POSTCODE_AREAS = ("SP", "RV", "LK", "HV", "BF", "FM", "AF", "KB", "MB", "OK", "WB", "NF")
EMAIL_DOMAINS = ("example.com", "mail.example", "post.example", "inbox.example", "web.example")
ORG_WORDS = [
    "Northern",
    "Harbour",
    "Summit",
    "Crescent",
    "Meridian",
    "Beacon",
    "Granite",
    "Silverline",
    "Evergreen",
    "Keystone",
    "Horizon",
    "Pioneer",
    "Riverside",
    "Lighthouse",
    "Foundry",
    "Atlas",
]
ORG_KINDS = (
    ("Ltd", "company"),
    ("Holdings plc", "company"),
    ("Logistics Ltd", "company"),
    ("General Hospital", "public body"),
    ("Academy Trust", "school"),
    ("Borough Council", "public body"),
    ("Foundation", "charity"),
    ("University", "public body"),
)
SECTORS = ("retail", "health", "education", "public", "manufacturing", "logistics", "charity")


@dataclass
class Population:
    """Everything that really happened. Source systems only ever see distorted parts of it."""

    spec: PopulationSpec
    people: pd.DataFrame  # one row per party (persons, then organisations), index = row number
    addresses: pd.DataFrame  # one row per household: address before and after a move
    purchases: pd.DataFrame  # party, day (float), amount, system (branch/web/app)
    complaints: pd.DataFrame  # party, day, satisfaction, resolved_after_days, first_contact
    calls: pd.DataFrame  # party, day, reason, complaint index (-1 if none)
    app_events: pd.DataFrame  # party, day, event
    email_sends: pd.DataFrame  # party, day, campaign, opened, clicked, unsubscribed


def _affine_ids(index: np.ndarray, modulus: int, salt: int) -> np.ndarray:
    """Distinct pseudo-random numbers in [0, modulus) for distinct indexes (an affine bijection)."""
    multiplier = 2654435761  # prime, so coprime to every modulus used here
    offset = (salt * 1_000_003 + 123_456_789) % modulus
    return (index.astype(np.int64) * multiplier + offset) % modulus


def _households(n: int, spec: PopulationSpec, rng: np.random.Generator) -> tuple:
    sizes = rng.choice([1, 2, 3], size=n, p=spec.household_sizes)
    sizes = sizes[: int(np.searchsorted(np.cumsum(sizes), n)) + 1]
    household = np.repeat(np.arange(1, len(sizes) + 1), sizes)[:n]
    start = np.r_[0, np.flatnonzero(np.diff(household)) + 1]
    member = np.arange(n) - np.repeat(start, np.diff(np.r_[start, n]))
    first_of_household = np.repeat(start, np.diff(np.r_[start, n]))
    return household, member, first_of_household


def _age(n: int, member: np.ndarray, head: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    group = rng.choice(len(AGE_GROUPS), size=n, p=AGE_SHARES)
    lo = np.array([b[0] for b in AGE_BOUNDS])[group]
    hi = np.array([b[1] for b in AGE_BOUNDS])[group]
    age = lo + rng.random(n) * (hi - lo)
    partner = member == 1
    age[partner] = age[head[partner]] + rng.normal(0, 3, partner.sum())
    child = member == 2
    age[child] = age[head[child]] - 28 + rng.normal(0, 3, child.sum())
    return np.clip(age, 18, 95)


def age_group_of(age: np.ndarray) -> np.ndarray:
    return np.searchsorted(np.array([b[1] for b in AGE_BOUNDS[:-1]]), age, side="right")


def _episode(
    lam: np.ndarray, p: np.ndarray, t0: np.ndarray, t_end: float, rng: np.random.Generator
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """One BG/NBD life: a purchase at t0, repeat purchases at rate lam, dropout with probability
    p after each repeat purchase. Returns (owner, time) of every purchase and the dropout time
    (inf when still alive at t_end)."""
    n = len(lam)
    span = np.maximum(t_end - t0, 0.0)
    m = rng.poisson(lam * span)  # repeat purchases an immortal customer would make
    k = rng.geometric(np.clip(p, 1e-9, 1.0))  # the repeat purchase after which they drop out
    keep = np.minimum(m, k)
    dies = k <= m
    owner = np.repeat(np.arange(n), m)
    u = rng.random(len(owner))
    u = u[np.argsort(owner + u, kind="stable")]  # sorted within each owner
    starts = np.cumsum(m) - m
    rank = np.arange(len(owner)) - np.repeat(starts, m)
    times = t0[owner] + u * span[owner]
    death = np.full(n, np.inf)
    last = starts + keep - 1
    death[dies] = times[last[dies]]
    sel = rank < np.repeat(keep, m)
    first = np.arange(n)[span > 0]
    owners = np.concatenate([first, owner[sel]])
    when = np.concatenate([t0[first], times[sel]])
    order = np.lexsort((when, owners))
    return owners[order], when[order], death


def simulate(spec: PopulationSpec, rng: np.random.Generator) -> Population:
    """The whole population and its behaviour over [spec.start, spec.end]."""
    n = spec.customers
    horizon = float(spec.days)
    household, member, head = _households(n, spec, rng)
    age = _age(n, member, head, rng)
    group = age_group_of(age)
    male = rng.random(n) < 0.5
    male[member == 1] = ~male[head[member == 1]] | (rng.random((member == 1).sum()) < 0.05)
    first_idx = draw_forenames(male, rng)
    last_idx = draw_surnames(n, rng)
    shares_name = (member > 0) & (rng.random(n) < 0.75)
    last_idx[shares_name] = last_idx[head[shares_name]]
    # acquisition: density growing over the period; household members join close together
    acq = horizon * rng.random(n) ** (1.0 / spec.acquisition_growth)
    joins = member > 0
    head_acq = acq[head[joins]]
    later = head_acq + rng.exponential(60, joins.sum())
    # a member who would join after the period joins at a uniform time after the head instead
    # (clamping them to the last day piled 3% of all customers onto it)
    within = head_acq + rng.random(joins.sum()) * (horizon - head_acq)
    acq[joins] = np.where(later < horizon, later, within)
    acq = np.minimum(np.floor(acq), horizon - 1)
    # surname changes (marriage): the new surname is the household's or a random one
    mess = spec.mess
    changes_name = rng.random(n) < mess.surname_change
    other = draw_surnames(n, rng)
    other = (other + (other == last_idx)) % len(LAST_NAMES)  # a change, never the same name
    new_last = np.where((member > 0) & (last_idx != last_idx[head]), last_idx[head], other)
    name_change_day = np.where(changes_name, acq + rng.random(n) * (horizon - acq), np.inf)
    # channel preferences by age group, individually varied
    base = np.array(CHANNEL_WEIGHTS)[group]
    weights = rng.gamma(base * 4.0 + 0.05, 1.0)
    weights /= weights.sum(axis=1, keepdims=True)
    has = weights > 0.12
    has[np.arange(n), weights.argmax(axis=1)] = True
    has_email = rng.random(n) < np.array(HAS_EMAIL)[group]
    # behaviour: BG/NBD rates and dropout, Gamma-Gamma spend
    lam = rng.gamma(spec.r, 1.0 / spec.alpha, n)
    p = rng.beta(spec.a, spec.b, n)
    spend_scale = spec.spend_gamma / rng.gamma(spec.spend_q, 1.0, n)

    people = pd.DataFrame(
        {
            "person_id": np.arange(1, n + 1),
            "household_id": household,
            "member": member,
            "head": head,
            "party_type": "person",
            "sex": np.where(male, "M", "F"),
            "first_name": np.array(FIRST_NAMES)[first_idx],
            "last_name": np.array(LAST_NAMES)[last_idx],
            "new_last_name": np.array(LAST_NAMES)[new_last],
            "name_change_day": name_change_day,
            "age": age,
            "age_group": np.array(AGE_GROUPS)[group],
            "acquired_day": acq,
            "has_branch": has[:, 0],
            "has_web": has[:, 1],
            "has_app": has[:, 2],
            "has_email": has_email,
            "w_branch": weights[:, 0],
            "w_web": weights[:, 1],
            "w_app": weights[:, 2],
            "lam": lam,
            "p": p,
            "spend_scale": spend_scale,
        }
    )
    people = pd.concat([people, _organisations(spec, n, household.max(), rng)], ignore_index=True)
    _identifiers(people, spec, rng)
    addresses = _addresses(people, spec, rng)
    return _behaviour(spec, people, addresses, rng)


def _organisations(
    spec: PopulationSpec, n_people: int, last_household: int, rng: np.random.Generator
) -> pd.DataFrame:
    k = max(3, round(n_people * spec.institution_share))
    horizon = float(spec.days)
    kinds = rng.integers(0, len(ORG_KINDS), k)
    words = rng.integers(0, len(ORG_WORDS), k)
    cities = rng.integers(0, len(CITIES), k)
    names = [
        f"{CITIES[c]} {ORG_KINDS[kind][0]}"
        if kind >= 3
        else f"{ORG_WORDS[w]} {CITIES[c]} {ORG_KINDS[kind][0]}"
        for w, c, kind in zip(words, cities, kinds, strict=True)
    ]
    # make names unique the way registries do: a number in brackets
    seen: dict[str, int] = {}
    for i, name in enumerate(names):
        seen[name] = seen.get(name, 0) + 1
        if seen[name] > 1:
            names[i] = f"{name} ({seen[name]})"
    ids = np.arange(n_people + 1, n_people + k + 1)
    return pd.DataFrame(
        {
            "person_id": ids,
            "household_id": np.arange(last_household + 1, last_household + k + 1),
            "member": 0,
            "head": ids - 1,
            "party_type": "organisation",
            "sex": "",
            "first_name": "",
            "last_name": names,
            "new_last_name": names,
            "name_change_day": np.inf,
            "age": np.nan,
            "age_group": "business",
            "org_kind": np.array([ORG_KINDS[i][1] for i in kinds]),
            "sector": np.array(SECTORS)[rng.integers(0, len(SECTORS), k)],
            "acquired_day": np.floor(horizon * rng.random(k) * 0.5),
            "has_branch": True,
            "has_web": False,
            "has_app": False,
            "has_email": True,
            "w_branch": 1.0,
            "w_web": 0.0,
            "w_app": 0.0,
            "lam": rng.gamma(4.0, 0.015, k),
            "p": rng.beta(0.3, 30.0, k),
            "spend_scale": 4 * spec.spend_gamma / rng.gamma(spec.spend_q, 1.0, k),
        }
    )


def _identifiers(people: pd.DataFrame, spec: PopulationSpec, rng: np.random.Generator) -> None:
    """National ids (NINO-like; company numbers for organisations), e-mails, phones."""
    idx = people.index.to_numpy()
    person = people.party_type.to_numpy() == "person"
    code = _affine_ids(idx, 676_000_000, spec.seed % 1000)
    letters = np.array([chr(65 + i) for i in range(26)])
    nino = (
        pd.Series(letters[(code // 1_000_000) // 26])
        + letters[(code // 1_000_000) % 26]
        + pd.Series(code % 1_000_000).astype(str).str.zfill(6)
        + np.array(list("ABCD"))[idx % 4]
    )
    crn = pd.Series(_affine_ids(idx, 99_999_989, 17) + 1).astype(str).str.zfill(8)
    people["national_id"] = np.where(person, nino, crn)
    first = people.first_name.str.lower()
    last = people.last_name.str.lower().str.replace(r"[^a-z]", "", regex=True)
    tag = pd.Series(people.person_id.to_numpy()).astype(str)
    style = rng.integers(0, 3, len(people))
    local = np.select(
        [style == 0, style == 1],
        [first + "." + last + tag, first.str[:1] + last + tag],
        last + "." + first + tag,
    )
    domain = np.array(EMAIL_DOMAINS)[rng.integers(0, len(EMAIL_DOMAINS), len(people))]
    org_domain = last.str[:20] + ".org.example"
    people["email"] = np.where(
        person, pd.Series(local) + "@" + domain, "info@" + org_domain
    ).astype(object)
    people["work_email"] = np.where(
        person, first + "." + last + tag + "@work.example", "finance@" + org_domain
    ).astype(object)
    people.loc[~people.has_email, "email"] = None
    salt = 7 + spec.seed % 97
    mobile = _affine_ids(idx, 1_000_000_000, salt)
    people["mobile"] = "+447" + pd.Series(mobile).astype(str).str.zfill(9)
    landline = _affine_ids(people.household_id.to_numpy(), 1_000_000_000, 3)
    people["landline"] = "+441" + pd.Series(landline).astype(str).str.zfill(9)
    # a second mobile for people who change phones (used by app re-registrations)
    mobile2 = _affine_ids(idx + len(people), 1_000_000_000, salt)
    people["mobile2"] = "+447" + pd.Series(mobile2).astype(str).str.zfill(9)
    # shared contact details within households: the partner uses the head's e-mail / landline
    mess = spec.mess
    head = people["head"].to_numpy()
    partner = (people.member.to_numpy() == 1) & person
    people["shares_email"] = partner & (rng.random(len(people)) < mess.shared_email)
    people["shares_email"] &= people.email.notna() & people.email.iloc[head].notna().to_numpy()
    people.loc[people.shares_email, "email"] = people.email.iloc[head][
        people.shares_email.to_numpy()
    ].to_numpy()
    people["shares_phone"] = partner & (rng.random(len(people)) < mess.shared_phone)
    people["phone"] = np.where(people.shares_phone, people.landline, people.mobile)
    people.loc[~person, "phone"] = people.landline[~person]
    end = pd.Timestamp(spec.end)
    people["date_of_birth"] = (
        end - pd.to_timedelta(np.nan_to_num(people.age.to_numpy() * 365.25), unit="D")
    ).normalize()
    people.loc[~person, "date_of_birth"] = pd.NaT


def _addresses(
    people: pd.DataFrame, spec: PopulationSpec, rng: np.random.Generator
) -> pd.DataFrame:
    """Per household an address, and for some a new address from a move day on."""
    households = people.household_id.to_numpy()
    h = int(households.max())
    horizon = float(spec.days)

    # Every household, before and after a move, gets an address of its own: drawn without
    # replacement from a space of (city, street, kind, house number) three times larger than
    # needed (more house numbers for larger populations), so unrelated households never share
    # one. Drawn with replacement, half of all addresses were shared at 1M customers.
    cities, streets, kinds = len(CITIES), len(STREETS), len(STREET_KINDS)
    numbers = max(399, -(-3 * 2 * h // (cities * streets * kinds)))
    drawn = rng.choice(cities * streets * kinds * numbers, size=2 * h, replace=False)

    def one(index: np.ndarray) -> pd.DataFrame:
        no = index % numbers + 1
        kind = index // numbers % kinds
        street = index // (numbers * kinds) % streets
        city = index // (numbers * kinds * streets)
        line = (
            pd.Series(no).astype(str)
            + " "
            + np.array(STREETS)[street]
            + " "
            + np.array(STREET_KINDS)[kind]
        )
        postcode = (
            pd.Series(np.array(POSTCODE_AREAS)[city])
            + pd.Series(no % 20 + 1).astype(str)
            + " "
            + pd.Series(street % 9 + 1).astype(str)
            + np.array(list("ABDEFGHJ"))[kind + street % 3]
            + np.array(list("LNPQRSTUWXYZ"))[street % 12]
        )
        return pd.DataFrame(
            {"address_line": line, "city": np.array(CITIES)[city], "postcode": postcode}
        )

    before, after = one(drawn[:h]), one(drawn[h:])
    move = rng.random(h) < spec.mess.address_move
    first_acq = people.groupby("household_id").acquired_day.min().reindex(np.arange(1, h + 1))
    move_day = np.where(
        move, first_acq.to_numpy() + rng.random(h) * (horizon - first_acq.to_numpy()), np.inf
    )
    out = pd.concat([before.add_suffix("_0"), after.add_suffix("_1")], axis=1)
    out.insert(0, "household_id", np.arange(1, h + 1))
    out["move_day"] = move_day
    return out


def _behaviour(
    spec: PopulationSpec, people: pd.DataFrame, addresses: pd.DataFrame, rng: np.random.Generator
) -> Population:
    n = len(people)
    horizon = float(spec.days)
    acq = people.acquired_day.to_numpy(dtype=float)
    lam, p = people.lam.to_numpy(), people.p.to_numpy()
    owner1, t1, death1 = _episode(lam, p, acq, horizon, rng)
    cause = np.where(np.isfinite(death1), "dropout", "").astype(object)
    # complaints while active; a badly handled first complaint may make the customer leave
    rate = rng.gamma(0.5, spec.complaints_per_year / 365.0 / 0.5, n)
    active_end = np.minimum(death1, horizon)
    nc = rng.poisson(rate * np.maximum(active_end - acq, 0))
    c_owner = np.repeat(np.arange(n), nc)
    c_day = acq[c_owner] + rng.random(len(c_owner)) * (active_end - acq)[c_owner]
    order = np.lexsort((c_day, c_owner))
    c_owner, c_day = c_owner[order], c_day[order]
    satisfaction = rng.choice([1, 2, 3, 4, 5], len(c_owner), p=[0.25, 0.25, 0.2, 0.18, 0.12])
    first_c = np.r_[True, c_owner[1:] != c_owner[:-1]] if len(c_owner) else np.array([], bool)
    leave_p = np.where(satisfaction <= 2, spec.complaint_churn, spec.complaint_churn_handled)
    leaves = first_c & (rng.random(len(c_owner)) < leave_p)
    leave_day = c_day + rng.exponential(21.0, len(c_owner))
    earlier = leaves & (leave_day < death1[c_owner]) & (leave_day < horizon)
    death1[c_owner[earlier]] = leave_day[earlier]
    cause[c_owner[earlier]] = "complaint"
    # older couples decide together: when one leaves, so does the other
    person = people.party_type.to_numpy() == "person"
    older = person & (people.age.fillna(0).to_numpy() >= 65)
    head = people["head"].to_numpy()
    couple = (people.member.to_numpy() == 1) & older & older[head]
    partner_idx, head_idx = np.flatnonzero(couple), head[couple]
    together = np.minimum(death1[partner_idx], death1[head_idx])
    for idx in (partner_idx, head_idx):
        follows = together < death1[idx]
        death1[idx[follows]] = together[follows]
        cause[idx[follows]] = "household"
    keep = t1 <= death1[owner1]
    owner1, t1 = owner1[keep], t1[keep]
    keep_c = c_day <= death1[c_owner]
    complaints = pd.DataFrame(
        {
            "party": c_owner[keep_c],
            "day": c_day[keep_c],
            "satisfaction": satisfaction[keep_c],
            "first_contact": rng.random(int(keep_c.sum())) < 0.3,
            "resolved_after_days": rng.lognormal(1.0, 1.2, int(keep_c.sum())),
        }
    )
    complaints.loc[complaints.first_contact, "resolved_after_days"] = rng.random(
        int(complaints.first_contact.sum())
    ) * (20 / 1440)
    # win-back: some lapsed customers return after a gap and start a new life
    lo, hi = spec.winback_gap_days
    back_day = death1 + rng.uniform(lo, hi, n)
    won_back = np.isfinite(death1) & (back_day < horizon - 1) & (rng.random(n) < spec.winback)
    wb = np.flatnonzero(won_back)
    owner2, t2, death2 = _episode(lam[wb], p[wb], np.floor(back_day[wb]), horizon, rng)
    owner2 = wb[owner2]
    final_death = death1.copy()
    final_death[wb] = death2
    owners = np.concatenate([owner1, owner2])
    days = np.concatenate([t1, t2])
    order = np.lexsort((owners, days))
    owners, days = owners[order], days[order]
    scale = people.spend_scale.to_numpy()[owners]
    amount = np.round(rng.gamma(spec.spend_p, scale / spec.spend_p), 2) + 1.0
    # which system records each purchase: by the person's channel weights over their systems
    w = people[["w_branch", "w_web", "w_app"]].to_numpy() * people[
        ["has_branch", "has_web", "has_app"]
    ].to_numpy(dtype=float)
    cum = np.cumsum(w / w.sum(axis=1, keepdims=True), axis=1)[owners]
    system = (rng.random(len(owners))[:, None] > cum[:, :2]).sum(axis=1)
    purchases = pd.DataFrame(
        {
            "party": owners,
            "day": days,
            "amount": amount,
            "system": np.array(["branch", "web", "app"])[system],
        }
    )
    people["churn_cause"] = np.where(won_back & ~np.isfinite(final_death), "", cause)
    people["churn_day"] = final_death
    people["first_churn_day"] = death1
    people["winback_day"] = np.where(won_back, np.floor(back_day), np.inf)
    people["status"] = np.where(np.isfinite(final_death), "churned", "alive")
    people["complaints"] = np.bincount(complaints.party, minlength=n)
    calls = _calls(spec, people, complaints, rng)
    app_events = _app_events(spec, people, purchases, rng)
    email_sends = _email(spec, people, rng)
    return Population(
        spec=spec,
        people=people,
        addresses=addresses,
        purchases=purchases,
        complaints=complaints,
        calls=calls,
        app_events=app_events,
        email_sends=email_sends,
    )


def _active_window(people: pd.DataFrame, horizon: float) -> tuple[np.ndarray, np.ndarray]:
    start = people.acquired_day.to_numpy(dtype=float)
    end = np.minimum(people.churn_day.to_numpy(), horizon)
    return start, np.maximum(end, start)


def _calls(
    spec: PopulationSpec, people: pd.DataFrame, complaints: pd.DataFrame, rng: np.random.Generator
) -> pd.DataFrame:
    """Service calls (older people call more), plus one call per complaint."""
    horizon = float(spec.days)
    start, end = _active_window(people, horizon)
    rate = np.array([*CALLS_PER_YEAR, 0.0])[
        pd.Categorical(
            people.age_group, categories=["18-29", "30-44", "45-64", "65+", "business"]
        ).codes
    ]
    k = rng.poisson(rate * (end - start) / 365.0)
    owner = np.repeat(np.arange(len(people)), k)
    day = start[owner] + rng.random(len(owner)) * (end - start)[owner]
    reasons = np.array(["BAL", "CARD", "ADDR", "PROD", "OTHR"])
    calls = pd.DataFrame(
        {
            "party": np.concatenate([owner, complaints.party.to_numpy()]),
            "day": np.concatenate([day, complaints.day.to_numpy()]),
            "reason": np.concatenate(
                [reasons[rng.integers(0, len(reasons), len(owner))], ["COMP"] * len(complaints)]
            ),
            "complaint": np.r_[np.full(len(owner), -1), np.arange(len(complaints))],
        }
    )
    calls["ticket"] = (calls.complaint >= 0) | (rng.random(len(calls)) < 0.25)
    return calls.sort_values(["day", "party"], kind="stable").reset_index(drop=True)


def _app_events(
    spec: PopulationSpec, people: pd.DataFrame, purchases: pd.DataFrame, rng: np.random.Generator
) -> pd.DataFrame:
    """App logins and offer views of app users, about `app_events_per_payment` per payment."""
    horizon = float(spec.days)
    start, end = _active_window(people, horizon)
    payments = np.bincount(
        purchases.party[purchases.system == "app"], minlength=len(people)
    ).astype(float)
    k = rng.poisson(spec.app_events_per_payment * payments + people.has_app.to_numpy() * 1.0)
    owner = np.repeat(np.arange(len(people)), k)
    day = start[owner] + rng.random(len(owner)) * (end - start)[owner]
    kinds = np.array(["login", "view_offer", "push_open", "update_profile"])
    return pd.DataFrame(
        {
            "party": owner,
            "day": day,
            "event": kinds[rng.choice(len(kinds), len(owner), p=[0.6, 0.2, 0.15, 0.05])],
        }
    ).sort_values(["day", "party"], kind="stable", ignore_index=True)


def _email(spec: PopulationSpec, people: pd.DataFrame, rng: np.random.Generator) -> pd.DataFrame:
    """Monthly campaigns to a share of the opted-in subscribers: sends, opens, clicks, unsubs."""
    n = len(people)
    person = people.party_type.to_numpy() == "person"
    group = pd.Categorical(people.age_group, categories=["18-29", "30-44", "45-64", "65+"]).codes
    opt_in = (
        person
        & people.email.notna().to_numpy()
        & (rng.random(n) < np.array([*EMAIL_OPT_IN, 0.0])[group])
    )
    opt_in_day = np.floor(people.acquired_day.to_numpy() + rng.exponential(20, n))
    people["email_opt_in_day"] = np.where(opt_in, opt_in_day, np.inf)
    open_p = rng.beta(2, 5, n)
    unsubscribed = np.full(n, np.inf)
    months = pd.date_range(spec.start, spec.end, freq="MS")
    frames = []
    for month in months:
        for c in range(spec.email_campaigns_per_month):
            day = float((month - pd.Timestamp(spec.start)).days + 1 + 7 * c)
            if day >= spec.days:
                continue
            eligible = (people.email_opt_in_day.to_numpy() <= day) & (unsubscribed > day)
            chosen = np.flatnonzero(eligible & (rng.random(n) < spec.email_audience_share))
            lapsed = people.churn_day.to_numpy()[chosen] < day
            opened = rng.random(len(chosen)) < open_p[chosen] * np.where(lapsed, 0.3, 1.0)
            clicked = opened & (rng.random(len(chosen)) < 0.25)
            unsub = rng.random(len(chosen)) < np.where(lapsed, 0.05, 0.01)
            unsubscribed[chosen[unsub]] = day + 0.5
            frames.append(
                pd.DataFrame(
                    {
                        "party": chosen,
                        "day": day + rng.random(len(chosen)) * 0.2 + 0.3,
                        "campaign": f"CMP-{month:%Y%m}-{chr(65 + c)}",
                        "opened": opened,
                        "clicked": clicked,
                        "unsubscribed": unsub,
                    }
                )
            )
    people["email_unsubscribed_day"] = unsubscribed
    if not frames:
        return pd.DataFrame(
            columns=["party", "day", "campaign", "opened", "clicked", "unsubscribed"]
        )
    return pd.concat(frames, ignore_index=True)
