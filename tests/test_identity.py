import datetime as dt

import numpy as np
import pandas as pd

from models.identity import assign_stable_keys, link_records
from models.identity.households import assign_households, household_edges
from models.identity.keys import key_lookup
from models.identity.linking import _walk_constrained, constrained_components
from models.identity.quality import pairwise_score
from models.identity.records import ascii_key, parse_phones, standard_given
from models.identity.resolve import resolve_identities
from tests.helpers import customers, integrated_customers

COLS = ["source_system", "source_customer_id", "national_id", "given", "surname", "email", "phone"]


def records(rows):
    df = pd.DataFrame(rows, columns=COLS)
    df["party_type"] = "person"
    df["uid"] = df.source_system + ":" + df.source_customer_id
    df["email_user"] = df.email.str.split("@").str[0]
    df["first_seen_at"] = pd.Timestamp("2025-01-01")
    return df


RECORDS = records(
    [
        ("branch", "B1", "123", "ann", "lee", "ann@x.com", "+441"),
        ("web", "W1", None, "ann", "lee", "ann@x.com", None),  # same email and forename as B1
        ("app", "A1", None, "ann", None, None, "+441"),  # same phone and forename as B1
        ("web", "W2", None, "bob", "lee", "ann@x.com", "+441"),  # shares Ann's contacts: not Ann
        ("branch", "B2", "123", "anne", "leigh", None, None),  # same national id as B1
        ("email", "ann@x.com", None, None, None, "ann@x.com", None),  # nameless sign-up
        ("crm", "C9", None, None, None, None, None),  # known only from activity
    ]
)
EMPTY = pd.DataFrame(columns=["source_system", "source_customer_id", "customer_key"])


def test_nicknames_map_to_the_formal_name():
    assert list(standard_given(pd.Series(["bob", "robert", None, "liz"]))) == [
        "robert",
        "robert",
        None,
        "elizabeth",
    ]


def test_deterministic_rules_link_strong_identifiers_only():
    linked = link_records(RECORDS)
    cluster = dict(zip(linked.source_customer_id, linked.cluster, strict=True))
    assert cluster["B1"] == cluster["W1"] == cluster["A1"] == cluster["B2"] == cluster["ann@x.com"]
    assert cluster["W2"] != cluster["B1"]  # shared e-mail and phone alone never link
    assert linked.set_index("source_customer_id").match_rule.to_dict() == {
        "B1": "national_id",
        "W1": "email_and_name",
        "A1": "phone_and_name",
        "W2": "singleton",
        "B2": "national_id",
        "ann@x.com": "contact_of_named_record",
        "C9": "singleton",
    }


def test_probabilistic_pairs_join_clusters():
    pairs = pd.DataFrame({"uid_l": ["web:W2"], "uid_r": ["crm:C9"], "match_probability": [0.9]})
    linked = link_records(RECORDS, pairs)
    cluster = dict(zip(linked.source_customer_id, linked.cluster, strict=True))
    assert cluster["W2"] == cluster["C9"] != cluster["B1"]
    assert linked.set_index("source_customer_id").match_rule["C9"] == "probabilistic"


def test_a_weak_link_never_chains_two_national_ids_or_birth_years_together():
    people = records(
        [
            ("branch", "B1", "111", "sam", "kerr", None, None),
            ("branch", "B2", "222", "sam", "kerr", None, None),
            ("app", "A1", None, "sam", "kerr", None, None),
            ("web", "W1", None, "sam", "kerr", None, None),
            ("crm", "X1", None, "sam", "kerr", None, None),
        ]
    ).assign(birth_year=[1980, 1980, None, 1991, None])
    pairs = pd.DataFrame(
        {
            "uid_l": ["app:A1", "app:A1", "web:W1", "crm:X1"],
            "uid_r": ["branch:B2", "branch:B1", "crm:X1", "branch:B1"],
            "match_probability": [0.95, 0.8, 0.9, 0.85],
        }
    )
    cluster = link_records(people, pairs).set_index("source_customer_id").cluster
    assert cluster["A1"] == cluster["B2"]  # the stronger link wins
    assert cluster["B1"] != cluster["B2"]  # the weaker one would join two national ids
    assert cluster["W1"] == cluster["X1"] != cluster["B1"]  # X1 would chain 1991 to 1980


def test_records_compared_directly_may_differ_in_national_id_or_birth_year():
    """A typo in a national id or a birth date is evidence against a match, not a wall: two
    records that the model compared with each other and matched are one customer, and records
    sharing a national id are one customer whatever their birth years say."""
    people = records(
        [
            ("febrl_a", "A1", "5304218", "michaela", "neumann", None, None),
            ("febrl_b", "B1", "5304281", "michaela", "neumann", None, None),
            ("branch", "C1", "999", "ann", "ode", None, None),
            ("branch", "C2", "999", "ann", "ode", None, None),
        ]
    ).assign(birth_year=[1915, 1951, 1970, 1907])
    pairs = pd.DataFrame(
        {"uid_l": ["febrl_a:A1"], "uid_r": ["febrl_b:B1"], "match_probability": [0.99]}
    )
    cluster = link_records(people, pairs).set_index("source_customer_id").cluster
    assert cluster["A1"] == cluster["B1"]
    assert cluster["C1"] == cluster["C2"] != cluster["A1"]


def test_keys_are_stable_across_runs_and_new_records_join_existing_customers():
    first, changes = assign_stable_keys(link_records(RECORDS), EMPTY)
    assert changes == []
    assert first.customer_key.nunique() == 3
    again, changes = assign_stable_keys(link_records(RECORDS), first)
    assert changes == []
    assert again.customer_key.tolist() == first.customer_key.tolist()
    grown = pd.concat(
        [
            RECORDS,
            records(
                [
                    ("web", "W3", None, "ann", "lee", "ann@x.com", None),
                    ("web", "W4", None, "cat", "ng", "cat@x.com", None),
                ]
            ),
        ],
        ignore_index=True,
    )
    third, _ = assign_stable_keys(link_records(grown), first)
    keys = third.set_index("source_customer_id").customer_key
    assert keys["W3"] == keys["B1"]
    assert keys["W4"] == first.customer_key.max() + 1
    assert (keys[first.source_customer_id].to_numpy() == first.customer_key.to_numpy()).all()


def test_two_known_customers_found_to_be_one_merge_into_the_smaller_key():
    previous = pd.DataFrame(
        {
            "source_system": ["branch", "web"],
            "source_customer_id": ["B1", "W1"],
            "customer_key": [7, 3],
        }
    )
    mapped, changes = assign_stable_keys(link_records(RECORDS), previous)
    keys = mapped.set_index("source_customer_id").customer_key
    assert keys["B1"] == keys["W1"] == 3
    assert changes == [
        ("merge", 7, 3, "contact_of_named_record,email_and_name,national_id,phone_and_name")
    ]
    history = pd.DataFrame(
        [("merge", 7, 3, "", pd.Timestamp("2025-01-01"))],
        columns=["change_type", "old_customer_key", "new_customer_key", "evidence", "changed_at"],
    )
    lookup = key_lookup(mapped.customer_key.to_numpy(), history).set_index("customer_key")
    assert lookup.current_customer_key[7] == 3  # the old key still resolves
    assert lookup.current_customer_key[3] == 3


def test_a_customer_found_to_be_two_splits_and_the_larger_part_keeps_the_key():
    # previously W2 (Bob) had been put with Ann under key 5
    previous = pd.DataFrame(
        {
            "source_system": ["branch", "web", "web"],
            "source_customer_id": ["B1", "W1", "W2"],
            "customer_key": [5, 5, 5],
        }
    )
    mapped, changes = assign_stable_keys(link_records(RECORDS), previous)
    keys = mapped.set_index("source_customer_id").customer_key
    assert keys["B1"] == keys["W1"] == 5
    assert keys["W2"] == 6 and keys["C9"] == 7
    assert changes == [("split", 5, 6, "")]


def test_households_from_shared_address_contacts_and_joint_accounts():
    members = pd.DataFrame(
        {
            "customer_key": [1, 2, 3, 4, 5, 6],
            "surname": ["lee", "lee", "ng", "ng", "ho", "fox"],
            "postcode_key": ["A1", "A1", "B2", None, "C3", "D4"],
            "address_key": ["1oak", "1oak", "2elm", None, "3ash", "4fir"],
            "email": [None, None, "ng@x", "ng@x", None, None],
            "phone": [None, None, None, None, None, None],
            "party_type": "person",
        }
    )
    holders = pd.DataFrame({"account_id": ["G1", "G1", "G2"], "customer_key": [5, 6, 5]})
    edges = household_edges(members, holders)
    households, changes = assign_households(np.array([1, 2, 3, 4, 5, 6]), edges, EMPTY_HH)
    hh = households.set_index("customer_key").household_key
    assert hh[1] == hh[2] and hh[3] == hh[4] and hh[5] == hh[6]
    assert len(set(hh)) == 3 and changes == []
    rules = households.set_index("customer_key").household_rule
    assert rules[2] == "same_address" and rules[4] == "shared_email" and rules[6] == "joint_account"
    again, _ = assign_households(np.array([1, 2, 3, 4, 5, 6, 7]), edges, households)
    assert (
        again.set_index("customer_key").household_key[[1, 3, 5]].tolist() == hh[[1, 3, 5]].tolist()
    )
    assert again.set_index("customer_key").household_key[7] == hh.max() + 1


EMPTY_HH = pd.DataFrame(columns=["customer_key", "household_key"])


def test_pairwise_score_counts_pairs():
    frame = pd.DataFrame({"pred": [1, 1, 1, 2], "true": [1, 1, 2, 2]})
    score = pairwise_score(frame, "pred", "true")
    assert (round(score.precision, 3), round(score.recall, 3)) == (0.333, 0.5)


def test_constrained_clustering_walks_only_conflicting_components_with_the_same_result():
    """The vectorised shortcut (only components holding two national ids or birth years are
    walked edge by edge) labels exactly as walking every edge does, refusals included."""
    rng = np.random.default_rng(11)
    n, m = 3000, 3600
    left, right = rng.integers(0, n, m), rng.integers(0, n, m)
    order = np.argsort(-rng.random(m), kind="stable")
    national_id = np.where(rng.random(n) < 0.05, rng.integers(0, 40, n).astype(str), None)
    birth_year = pd.array(
        np.where(rng.random(n) < 0.3, rng.integers(1950, 1960, n), -1), dtype="Int64"
    )
    birth_year[birth_year == -1] = pd.NA
    birth_year = birth_year.to_numpy()
    free = rng.random(m) < 0.1  # shared national ids
    compared = (left[: m // 2], right[: m // 2])  # half the edges are probabilistic pairs
    labels, refused = constrained_components(
        n, left, right, order, national_id, birth_year, free, compared
    )
    matched = set(zip(np.minimum(*compared).tolist(), np.maximum(*compared).tolist(), strict=True))
    walked, walked_refused = _walk_constrained(
        np.arange(n), (left[order], right[order], free[order]), national_id, birth_year, matched
    )
    assert refused == walked_refused > 0
    np.testing.assert_array_equal(labels, walked)
    assert len(np.unique(labels)) < n  # the graph does link records


def test_names_outside_a_to_z_are_transliterated_not_dropped():
    names = pd.Series(["Zoë", "Ñúñez", "Пётр", "O'Brien", "Straße", None, "李"])
    assert ascii_key(names, "[^a-z]").tolist() == [
        "zoe",
        "nunez",
        "petr",
        "obrien",
        "strasse",
        None,
        "li",
    ]


def test_phone_numbers_are_read_in_their_region_for_any_country():
    phones = pd.Series(["0412 345 678", "+61 412 345 678", "07700 900123", "(02) 9374 4000", "x"])
    regions = pd.Series(["AU", None, "GB", "AU", "GB"])
    number, kind = parse_phones(phones, regions)
    assert number.tolist() == ["+61412345678", "+61412345678", "+447700900123", "+61293744000", "x"]
    assert kind.tolist() == ["mobile", "mobile", None, "landline", None]  # 07700 900: drama range


def test_a_record_naming_a_customer_number_of_a_declared_system_is_that_customer():
    people = records(
        [
            ("bank", "42", None, "ann", "lee", None, None),
            ("calls", "+441", None, "ann", None, None, "+441"),
            ("calls", "+442", None, "bob", None, None, "+442"),
            ("shop", "42", None, "cat", "ng", None, None),  # the same number, another system
        ]
    ).assign(
        referenced_source_system=[None, "bank", "bank", None],
        referenced_customer_id=[None, "42", "43", None],
    )
    cluster = link_records(people).set_index("uid").cluster
    assert cluster["calls:+441"] == cluster["bank:42"] != cluster["shop:42"]
    assert cluster["calls:+442"] not in (cluster["bank:42"], cluster["shop:42"])


def test_an_empty_or_tiny_population_resolves_without_error(con):
    integrated_customers(con, [])
    assert resolve_identities(con).customers == 0
    integrated_customers(con, [{"source_system": "crm", "source_customer_id": "c1"}])
    assert resolve_identities(con).customers == 1
    pair = [
        {
            "source_system": "crm",
            "source_customer_id": f"c{i}",
            "first_name": "Ann",
            "last_name": "Lee",
            "email": "ann@example.com",
        }
        for i in (1, 2)
    ]
    integrated_customers(con, pair)
    result = resolve_identities(con)
    assert (result.records, result.customers, result.model_trained) == (2, 1, True)


def test_namesakes_with_their_own_contacts_stay_apart(con):
    """80 records of one name ("Name1".."Name80" read as "name") at one postcode, each with
    its own e-mail and street: expectation maximisation on a block where every pair agrees
    learns nothing (Splink fails there) and is skipped; nobody is merged."""
    rows = [
        {k: v for k, v in r.items() if k != "updated_at" and v == v} | {"source_system": "crm"}
        for r in customers().to_dict("records")
    ]
    integrated_customers(con, rows)
    result = resolve_identities(con)
    assert (result.records, result.customers) == (80, 80)


def test_a_night_without_new_or_changed_records_skips_resolution(con):
    """Same records and holders as the last resolution: linking and households are skipped
    and the tables stay as they were; a changed record (or a forced run) resolves again."""
    people = [
        {
            "source_system": "crm",
            "source_customer_id": f"c{i}",
            "first_name": first,
            "last_name": "Lee",
            "email": email,
        }
        for i, (first, email) in enumerate(
            [("Ann", "ann@example.com"), ("Ann", "ann@example.com"), ("Bob", "bob@example.com")]
        )
    ]
    integrated_customers(con, people)
    first = resolve_identities(con, dt.datetime(2025, 1, 1))
    assert (first.records, first.customers, first.skipped) == (3, 2, False)
    state = "select * from core.customer_identity_map order by all"
    before = con.execute(state).fetchall()
    again = resolve_identities(con, dt.datetime(2025, 1, 2))
    assert again.skipped and (again.records, again.customers, again.households) == (
        3,
        2,
        first.households,
    )
    assert again.compared_records == 0 and again.new_customers == 0
    assert con.execute(state).fetchall() == before  # resolved_at of the first night kept
    integrated_customers(con, [*people, {**people[2], "source_customer_id": "c3"}])
    changed = resolve_identities(con, dt.datetime(2025, 1, 3))
    assert not changed.skipped and (changed.records, changed.customers) == (4, 2)
    forced = resolve_identities(con, dt.datetime(2025, 1, 4), force=True)
    assert not forced.skipped and forced.customers == 2
    # the account holders are inputs too: one held, then the holding ended
    con.execute(
        "create table intermediate.int_account_holders_unioned as select * from (values "
        "('crm', 'c0', 'A1', null::timestamp)) v(source_system, source_customer_id, account_id, "
        "valid_to)"
    )
    assert not resolve_identities(con, dt.datetime(2025, 1, 5)).skipped
    assert resolve_identities(con, dt.datetime(2025, 1, 6)).skipped
    con.execute("update intermediate.int_account_holders_unioned set valid_to = '2025-01-06'")
    assert not resolve_identities(con, dt.datetime(2025, 1, 7)).skipped
