from ingest.layouts import CANONICAL, layout_for, load_layouts, parse_sources


def test_declared_layouts_come_from_the_dbt_sources():
    layouts = load_layouts()
    branch = layouts[("branch", "customers")]
    assert branch.raw_table == "branch__customers"
    assert branch.required == ["CUST_NO"]
    birth = next(c for c in branch.columns if c.name == "BIRTH_DT")
    assert (birth.type, birth.format) == ("date", "%d.%m.%Y")
    assert {e for s, e in layouts if s == CANONICAL} == {
        "customers",
        "transactions",
        "interactions",
    }


def test_unknown_systems_use_the_canonical_layout_and_unknown_entities_none():
    assert layout_for("my_crm", "customers").source == CANONICAL
    assert layout_for("my_crm", "transactions").required == [
        "transaction_id",
        "source_customer_id",
        "occurred_at",
        "amount",
    ]
    assert layout_for("my_crm", "invoices") is None
    assert layout_for("branch", "invoices") is None  # a declared system never falls back


def test_only_raw_schema_sources_are_layouts():
    docs = [
        {
            "sources": [
                {"name": "core", "schema": "core", "tables": [{"name": "x"}]},
                {
                    "name": "s",
                    "schema": "raw",
                    "tables": [
                        {"name": "e", "columns": [{"name": "id", "meta": {"required": True}}]}
                    ],
                },
            ]
        }
    ]
    layouts = parse_sources(docs)
    assert list(layouts) == [("s", "e")]
    assert layouts[("s", "e")].required == ["id"]
