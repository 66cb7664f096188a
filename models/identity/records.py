"""The customer records identity resolution compares: the latest version of every source record
with matching features (standardised names, birth year, address key, party type, a customer
number of another system that the record names), plus when each record was first seen."""

from __future__ import annotations

import duckdb
import numpy as np
import pandas as pd
import phonenumbers
import pyarrow as pa
from anyascii import anyascii

from ingest.warehouse import relation_exists
from models.identity.tables import PHONES, SCHEMA, read_frame

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
    "olly": "oliver",
    "ollie": "oliver",
}

# The dbt models RECORDS_SQL reads (schema.model): the identity step's upstream in the graph.
DBT_INPUTS = (
    "intermediate.int_customer_records_unioned",
    "intermediate.int_transactions_unioned",
    "intermediate.int_interactions_unioned",
)

# Latest version of each record, with what its source declares about its identifiers (party
# type, birth year, phone region, a customer number of another system): the intermediate layer
# carries all of it, so no source system is named here. The fact unions hold every latest
# version whatever its date: a record is first seen by its facts dated by the run's as-of.
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
        where occurred_at < (select as_of + interval 1 day from meta.run_context)
        union all
        select source_system, source_customer_id, occurred_at
        from intermediate.int_interactions_unioned
        where occurred_at < (select as_of + interval 1 day from meta.run_context)
    )
    group by all
)
select
    f.source_system, f.source_customer_id, f.first_seen_at,
    l.national_id, l.first_name, l.last_name, strftime(l.date_of_birth, '%Y-%m-%d') as date_of_birth,
    l.birth_year, l.email,
    l.phone as phone_given, l.phone_region, l.address_line, l.postcode, l.city, l.updated_at,
    nullif(split_part(l.email, '@', 1), '') as email_user,
    coalesce(l.party_type, 'person') as party_type,
    l.referenced_source_system, l.referenced_customer_id
from first_seen f
left join latest l using (source_system, source_customer_id)
"""
# In a stable order for resolution. The input fingerprint hashes the rows without it: sorting
# 3M records took 2 of its 5 s at 1M customers.
ORDERED_RECORDS_SQL = RECORDS_SQL + "order by f.source_system, f.source_customer_id\n"


def load_records(con: duckdb.DuckDBPyConnection) -> pd.DataFrame:
    """Every source record to resolve, one row each, with matching features (see RECORDS_SQL):
    names, street and postcode as ASCII keys, phone numbers in E.164 with their kind."""
    records = read_frame(con, ORDERED_RECORDS_SQL, types_mapper={pa.int32(): pd.Int32Dtype()}.get)
    records["given_raw"] = ascii_key(records.first_name, "[^a-z]")
    records["given"] = standard_given(records["given_raw"])
    records["surname"] = ascii_key(records.last_name, "[^a-z]")
    records["postcode_key"] = ascii_key(records.postcode, "[^A-Z0-9]", upper=True)
    records["address_key"] = ascii_key(records.address_line, "[^a-z0-9]")
    # the street without the house number in front
    records["street_key"] = records.address_key.str.replace("^[0-9]+", "", regex=True).replace(
        "", None
    )
    records["city_key"] = ascii_key(records.city, "[^a-z]")
    records["phone"], records["phone_kind"] = parse_phones(
        records.phone_given, records.phone_region, known_phones(con)
    )
    records["uid"] = records.source_system + ":" + records.source_customer_id
    return records


def ascii_key(values: pd.Series, drop: str, upper: bool = False) -> pd.Series:
    """Lower- (or upper-) case ASCII transliteration (anyascii: "Zoë Ñúñez" -> "zoe nunez",
    "Пётр" -> "pyotr") without the characters matching `drop`; None when nothing is left.
    Each distinct value is transliterated once."""
    distinct = pd.Series(values.dropna().unique(), dtype=object)
    ascii_ = distinct.map(lambda v: v if v.isascii() else anyascii(v))
    cased = ascii_.str.upper() if upper else ascii_.str.lower()
    key = cased.str.replace(drop, "", regex=True).replace("", None)
    mapped = values.map(pd.Series(key.to_numpy(), index=distinct.to_numpy()))
    return mapped.astype(object).where(mapped.notna(), None)


PHONE_KINDS = {
    phonenumbers.PhoneNumberType.MOBILE: "mobile",
    phonenumbers.PhoneNumberType.FIXED_LINE: "landline",
}


def parse_phones(
    phones: pd.Series, regions: pd.Series, known: pd.DataFrame | None = None
) -> tuple[pd.Series, pd.Series]:
    """(E.164 number, kind) per phone, read with the phonenumbers library in its region (the
    record's country, else its source's declared region); kind is mobile or landline where the
    numbering plan says so, else None. A number the library cannot read keeps its digits.
    Numbers already read on an earlier night (`known`: phone, region, e164, kind; the library
    takes some 30 microseconds a number) are taken from there."""
    given = phones.notna()
    keys = pd.DataFrame({"phone": phones[given], "region": regions[given].fillna("")})
    distinct = keys.drop_duplicates()
    if known is not None and len(known):
        distinct = distinct.merge(known, on=["phone", "region"], how="left")
    else:
        distinct = distinct.assign(e164=None, kind=None)
    todo = distinct.e164.isna().to_numpy()
    parsed = [
        _parse_phone(p, r) for p, r in zip(distinct.phone[todo], distinct.region[todo], strict=True)
    ]
    distinct.loc[todo, "e164"] = [p[0] for p in parsed]
    distinct.loc[todo, "kind"] = [p[1] for p in parsed]
    found = keys.merge(distinct, on=["phone", "region"], how="left").set_index(keys.index)
    number = np.full(len(phones), None, dtype=object)
    kind = np.full(len(phones), None, dtype=object)
    number[given.to_numpy()] = found.e164.to_numpy()
    kind[given.to_numpy()] = found.kind.where(found.kind.notna(), None).to_numpy()
    return pd.Series(number, index=phones.index), pd.Series(kind, index=phones.index)


def known_phones(con: duckdb.DuckDBPyConnection) -> pd.DataFrame | None:
    """The phone numbers read on earlier nights (core.identity_phones), if any."""
    if not relation_exists(con, SCHEMA, PHONES):
        return None
    return con.execute(f"select * from {SCHEMA}.{PHONES}").df()


def store_phones(con: duckdb.DuckDBPyConnection, records: pd.DataFrame) -> None:
    """Keep the numbers read tonight for the next nights (inside the caller's transaction)."""
    read = records.loc[records.phone_given.notna(), ["phone_given", "phone_region", "phone"]]
    read = read.assign(
        region=read.phone_region.fillna(""), kind=records.phone_kind[read.index]
    ).drop_duplicates(["phone_given", "region"])
    con.register("_phones_read", read)
    try:
        con.execute(
            f"insert into {SCHEMA}.{PHONES} select r.phone_given, r.region, r.phone, r.kind "
            f"from _phones_read r anti join {SCHEMA}.{PHONES} k "
            "on k.phone = r.phone_given and k.region = r.region"
        )
    finally:
        con.unregister("_phones_read")


def _parse_phone(phone: str, region: str) -> tuple[str, str | None]:
    try:
        number = phonenumbers.parse(phone, region or None)
    except phonenumbers.NumberParseException:
        return phone, None
    e164 = phonenumbers.format_number(number, phonenumbers.PhoneNumberFormat.E164)
    return e164, PHONE_KINDS.get(phonenumbers.number_type(number))


def standard_given(given: pd.Series) -> pd.Series:
    """Lower-case forename with nicknames replaced by the formal name; None when empty."""
    g = given.fillna("").astype(str)
    return g.map(lambda v: NICKNAMES.get(v, v)).replace("", None)
