"""Identity resolution: which source records are the same person, under stable customer keys,
and which customers form a household. A model step between the dbt integration layer and the
core (it reads `intermediate.*` and writes `core.*`).

0. The records, with what each source declares its identifiers mean, come from the
   intermediate layer only; names are transliterated, phones read for any country (records.py).
1. Deterministic rules link records sharing a strong identifier (rules.py).
2. A Splink model scores candidate pairs on names, birth date, national id, e-mail, phone and
   address (model.py), its prior and u refitted to the scored pairs (refit.py); only new or
   changed records are compared on an ordinary night (pairs.py).
3. Records linked directly or through others form one customer, a weak link never chaining
   two national ids or birth years together (linking.py).
4. Keys are stable; merges and splits are logged and old keys keep resolving (keys.py).
5. Households get their own stable key (households.py).
Its tables are declared once in tables.py; resolve.py runs one night.
"""

from models.identity import households, records
from models.identity.keys import assign_stable_keys
from models.identity.linking import link_records
from models.identity.resolve import IdentityResult, resolve_identities
from models.identity.rules import DETERMINISTIC_RULES
from models.identity.tables import TABLES

# The dbt models identity resolution reads ("schema.model"), declared beside its SQL.
DBT_INPUTS = tuple(dict.fromkeys(records.DBT_INPUTS + households.DBT_INPUTS))

__all__ = [
    "DBT_INPUTS",
    "DETERMINISTIC_RULES",
    "TABLES",
    "IdentityResult",
    "assign_stable_keys",
    "link_records",
    "resolve_identities",
]
