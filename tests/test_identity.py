import pandas as pd

from ingest.identity import assign_stable_keys, link_records


def records(rows):
    cols = [
        "source_system",
        "source_customer_id",
        "national_id",
        "first_name",
        "last_name",
        "email",
        "phone",
    ]
    return pd.DataFrame(rows, columns=cols)


RECORDS = records(
    [
        ("branch", "B1", "123", "ann", "lee", "ann@x.com", "+441"),
        ("web", "W1", None, "ann", "lee", "ann@x.com", None),  # same email and name as B1
        ("app", "A1", None, "ann", "lee", None, "+441"),  # same phone and name as B1
        (
            "web",
            "W2",
            None,
            "bob",
            "lee",
            "ann@x.com",
            None,
        ),  # shares Ann's email: a household, not Ann
        ("branch", "B2", "123", "anne", "leigh", None, None),  # same national id as B1
        ("crm", "C9", None, None, None, None, None),  # known only from activity
    ]
)


def test_deterministic_rules_link_strong_identifiers_only():
    linked = link_records(RECORDS)
    cluster = dict(zip(linked.source_customer_id, linked.cluster, strict=True))
    assert cluster["B1"] == cluster["W1"] == cluster["A1"] == cluster["B2"]
    assert cluster["W2"] != cluster["B1"]
    assert linked.set_index("source_customer_id").match_rule.to_dict() == {
        "B1": "national_id",
        "W1": "email_and_name",
        "A1": "phone_and_name",
        "W2": "singleton",
        "B2": "national_id",
        "C9": "singleton",
    }


def test_keys_are_stable_across_runs_and_new_records_join_existing_customers():
    first, merges = assign_stable_keys(
        link_records(RECORDS),
        pd.DataFrame(columns=["source_system", "source_customer_id", "customer_key"]),
    )
    assert merges == []
    assert first.customer_key.nunique() == 3
    again, _ = assign_stable_keys(link_records(RECORDS), first)
    assert again.set_index("source_customer_id").customer_key.equals(
        first.set_index("source_customer_id").customer_key
    )

    grown = pd.concat(
        [
            RECORDS,
            records(
                [
                    ("web", "W3", None, "ann", "lee", "ann@x.com", None),
                    ("web", "W4", None, "cat", "ng", "cat@x.com", None),
                ]
            ),
        ]
    )
    third, _ = assign_stable_keys(link_records(grown.reset_index(drop=True)), first)
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
    mapped, merges = assign_stable_keys(link_records(RECORDS), previous)
    keys = mapped.set_index("source_customer_id").customer_key
    assert keys["B1"] == keys["W1"] == 3
    assert merges == [(7, 3, "email_and_name,national_id,phone_and_name")]
