"""Who may see what, and the frontline view of one customer, on one real nightly run.

The privacy oracle reads the landing files themselves (not the dbt declaration it checks):
every name, e-mail, phone, national id, birth date and street a source sent must be absent
from a default export (every column, every file, the manifest) and from the analyst view."""

from __future__ import annotations

import datetime as dt
import json
import os
import re
import shutil
import signal
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
from pathlib import Path

import duckdb
import pandas as pd
import pytest

from frontline import audit
from frontline.service import Frontline
from ingest.privacy import Hasher, pii_columns, pseudonym_key, role_views
from orchestration.dbt_project import MANIFEST
from orchestration.exports import export_published
from tests.helpers import ARTIFACTS, DEMO_END, browser, clean_env, run_cif

pytestmark = pytest.mark.slow(seconds=30)
AS_OF = DEMO_END.isoformat()

# What each landing column holds, for every demo layout and the canonical one (lower case).
LANDED = {
    "name": {"first_nm", "last_nm", "givenname", "familyname", "first_name", "last_name"},
    "full_name": {"callername", "account_manager"},
    "email": {"email", "login", "email_address", "contact_email"},
    "phone": {"phone", "mobile", "phonenumber", "contact_phone"},
    "national_id": {"natl_id", "national_id"},
    "birth_date": {"birth_dt", "birthdate", "date_of_birth"},
    "address": {"street", "address_line"},
}
# Towns are not personal values (the list), and exports keep them; a word that is both
# a town and a surname ("Brookfield") is a town in a cell that holds exactly a town's name.
LOCALITY = {"city", "town"}
EMAIL = re.compile(r"[^\s@,;]+@[^\s@,;]+\.[a-z]{2,}", re.I)
PHONE_RUN = re.compile(r"\+?\d[\d ()-]{7,}\d")


def read_landed(path: Path) -> pd.DataFrame:
    if path.suffix == ".parquet":
        return pd.read_parquet(path).astype("string")
    if path.suffix == ".jsonl":  # the demo sends malformed lines too: read the others
        records = []
        for line in path.read_text(errors="replace").splitlines():
            try:
                records.append(json.loads(line))
            except ValueError:
                continue
        return pd.DataFrame([r for r in records if isinstance(r, dict)]).astype("string")
    sep = ";" if ";" in path.open().readline() else ","
    return pd.read_csv(path, sep=sep, dtype=str)


def landed_frames(landing: Path):
    for path in landing.glob("*/*/*"):
        if not path.parts[-3].startswith("_"):  # _truth: the generator's answers, not a source
            yield read_landed(path)


def landed_personal_values(landing: Path) -> dict[str, set[str]]:
    """Every personal value of the landing files, normalised for comparison."""
    found: dict[str, set[str]] = {kind: set() for kind in LANDED}
    for frame in landed_frames(landing):
        for column in frame.columns:
            values = [str(v).strip() for v in frame[column].dropna() if str(v).strip()]
            kind = next((k for k, cols in LANDED.items() if column.lower() in cols), None)
            if kind:
                found[kind] |= {normalise(kind, v) for v in values}
            found["email"] |= {m.lower() for v in values for m in EMAIL.findall(v)}
    # "Harry Goldholme" is a forename and a surname; "Millbrook Academy Trust" an institution
    # named after its town (kept in clear): only two-word names are split into words.
    full = found.pop("full_name")
    found["name"] |= {w for name in full if len(name.split()) == 2 for w in name.split()}
    found["full_name"] = {name for name in full if len(name) > 6}
    return {kind: {v for v in values if v} for kind, values in found.items()}


def landed_towns(landing: Path) -> set[str]:
    return {
        str(v).strip().lower()
        for frame in landed_frames(landing)
        for column in frame.columns
        if column.lower() in LOCALITY
        for v in frame[column].dropna()
    }


def normalise(kind: str, value: str) -> str:
    if kind == "phone":
        return re.sub(r"\D", "", value)[-9:]
    if kind == "national_id":
        return re.sub(r"[^A-Za-z0-9]", "", value).upper()
    if kind == "birth_date":
        for fmt in ("%d.%m.%Y", "%Y-%m-%d"):
            try:
                return dt.datetime.strptime(value[:10], fmt).date().isoformat()
            except ValueError:
                pass
        return ""
    return value.lower()


def leaks(
    cells: list[str], personal: dict[str, set[str]], towns: set[str] = frozenset()
) -> list[str]:
    """The cells that hold a landed personal value (as a word, or inside longer text)."""
    found = []
    long_values = personal["email"] | personal["address"] | personal["full_name"]
    for cell in cells:
        text = cell.lower()
        words = set() if text.strip() in towns else set(re.split(r"[\s,;:|/]+", text))
        digits = {re.sub(r"\D", "", run)[-9:] for run in PHONE_RUN.findall(cell)}
        alnum = re.sub(r"[^A-Za-z0-9]", "", cell).upper()
        if (
            words & personal["name"]
            or any(v in text for v in long_values)
            or digits & personal["phone"]
            or any(v in alnum for v in personal["national_id"])
            or any(v in text for v in personal["birth_date"])
        ):
            found.append(cell)
    return found


def cells_of(frame: pd.DataFrame) -> list[str]:
    """Every value of a frame as text (dates and timestamps in ISO form)."""
    return [str(v) for column in frame.columns for v in frame[column].dropna().unique()]


@pytest.fixture(scope="module")
def site(tmp_path_factory, published_demo) -> Path:
    """A copy of the demo and the hand-written source (helpers.land_a_customer_with_an_open_
    complaint) after one `cif run`, laid out as `cif run` lays out its defaults (so `cif`
    commands run in this folder find them)."""
    root = tmp_path_factory.mktemp("frontline") / "site"
    shutil.copytree(published_demo.root, root)
    return root


@pytest.fixture(scope="module")
def personal(site) -> dict[str, set[str]]:
    values = landed_personal_values(site / "landing")
    assert min(len(v) for v in values.values()) > 20, {k: len(v) for k, v in values.items()}
    return values


@pytest.fixture(scope="module")
def towns(site) -> set[str]:
    return landed_towns(site / "landing")


@pytest.fixture(scope="module")
def service(site) -> Frontline:
    warehouse = site / "warehouse" / "cif.duckdb"
    kinds = pii_columns(MANIFEST)["customer_360"]
    return Frontline(warehouse, kinds, pseudonym_key(warehouse), site / "audit.jsonl")


@pytest.fixture(scope="module")
def someone(site) -> dict:
    """A branch customer with every identifier, as the warehouse holds them."""
    with duckdb.connect(str(site / "warehouse" / "cif.duckdb"), read_only=True) as con:
        row = con.execute(
            "select m.customer_key, m.source_customer_id, d.first_name, d.last_name, d.email, "
            "d.phone, d.national_id, d.date_of_birth from core.customer_identity_map m "
            "join core.dim_customer d on d.customer_key = m.customer_key and d.is_current "
            "where m.source_system = 'branch' and d.email is not null and d.phone is not null "
            "and d.national_id is not null and d.date_of_birth is not null "
            "order by m.customer_key limit 1"
        ).fetchone()
    names = [
        "customer_key",
        "branch_no",
        "first_name",
        "last_name",
        "email",
        "phone",
        "national_id",
        "birth",
    ]
    return dict(zip(names, row, strict=True))


def test_no_landed_personal_value_in_the_default_export(site, personal, towns):
    latest = site / "exports" / "latest"
    manifest = json.loads((latest / "manifest.json").read_text())
    assert manifest["role"] == "analyst" and manifest["include_pii"] is False
    files = sorted(p for p in latest.rglob("*") if p.is_file())  # a table's months included
    listed = {f["file"] for t in manifest["tables"] for f in t["files"]}
    assert {p.relative_to(latest).as_posix() for p in files} == {"manifest.json"} | listed
    found = {}
    for path in files:
        if path.suffix == ".parquet":
            name = path.relative_to(latest).as_posix()
            found[name] = leaks(cells_of(pd.read_parquet(path)), personal, towns)
    found["manifest.json"] = leaks(
        re.findall(r'"([^"]*)"', (latest / "manifest.json").read_text()), personal, towns
    )
    assert not {name: cells[:5] for name, cells in found.items() if cells}
    # and the oracle does see them where they are allowed: an admin's export
    warehouse = site / "warehouse" / "cif.duckdb"
    export_published(
        warehouse, site / "admin_bi", DEMO_END, "admin", include_pii=True, role="admin"
    )
    c360 = pd.read_parquet(site / "admin_bi" / AS_OF / "customer_360.parquet")
    shown = cells_of(c360[["email", "phone", "national_id", "last_name", "address_line"]])
    assert len(leaks(shown, personal, towns)) > 100


def test_no_landed_personal_value_in_the_analyst_view(site, personal, towns):
    warehouse = site / "warehouse" / "cif.duckdb"
    with duckdb.connect() as con:
        tables = role_views(
            con, warehouse, "analyst", pii_columns(MANIFEST), pseudonym_key(warehouse)
        )
        assert "customer_360" in tables and "customer_next_steps" in tables
        found = {
            t: leaks(cells_of(con.execute(f"select * from marts.{t}").df()), personal, towns)
            for t in tables
        }
        c360 = con.execute("select * from marts.customer_360").df()
    assert not {t: cells[:5] for t, cells in found.items() if cells}
    assert "date_of_birth" not in c360 and c360.date_of_birth_year.between(1900, 2010).any()
    assert c360.postcode_district.dropna().str.fullmatch(r"[A-Z]{1,2}\d{1,2}").all()


def test_find_by_each_identifier_and_despite_a_typo(service, someone):
    key = someone["customer_key"]
    first, last = someone["first_name"], someone["last_name"]
    typo = last[:2] + last[3:] if len(last) > 4 else last + "e"
    phone_as_said = "0" + someone["phone"][3:6] + " " + someone["phone"][6:]  # +44 7xxx -> 07xxx
    queries = {
        "name": f"{first} {last}",
        "typo": f"{first} {typo}",
        "swapped": f"{last.upper()} {first.lower()}",
        "email": someone["email"].upper(),
        "phone": phone_as_said,
        "national_id": " ".join(someone["national_id"]),
        "branch number": someone["branch_no"],
        "customer key": str(key),
    }
    for what, text in queries.items():
        found = service.find(text, "agent", "tester", "test")
        assert key in [c["customer_key"] for c in found], (what, text, found)
    found = service.find(queries["typo"], "agent", "tester", "test")
    assert (
        found[0]["customer_key"] == key
        and found[0]["matched_on"] == "name"
        and found[0]["score"] < 1
    )
    assert service.find("Zzyzx Qwertyuiop", "agent", "tester", "test") == []


def test_find_by_other_systems_customer_numbers(site, service):
    with duckdb.connect(str(site / "warehouse" / "cif.duckdb"), read_only=True) as con:
        samples = con.execute(
            "select source_system, any_value(source_customer_id), any_value(customer_key) "
            "from core.customer_identity_map group by source_system"
        ).fetchall()
    assert {s for s, _, _ in samples} >= {"branch", "web", "app", "callcentre", "email", "kam"}
    for system, number, key in samples:
        found = [c["customer_key"] for c in service.find(number, "agent", "t", "test")]
        assert key in found, (system, number)


def test_agent_sees_contacts_but_a_masked_national_id_and_no_birth_date(service, someone):
    key = someone["customer_key"]
    admin = service.show(key, "admin", "boss", "test")["customer"]
    agent = service.show(key, "agent", "ann", "test")["customer"]
    analyst = service.show(key, "analyst", "al", "test")["customer"]
    assert (
        admin["national_id"] == someone["national_id"]
        and admin["date_of_birth"] == someone["birth"]
    )
    assert agent["email"] == admin["email"] and agent["phone"] == admin["phone"]
    assert agent["national_id"] == "*" * (len(admin["national_id"]) - 3) + admin["national_id"][-3:]
    assert "date_of_birth" not in agent and "date_of_birth_year" not in agent
    hasher = Hasher(service.key)
    assert analyst["email"] == hasher.value(admin["email"]) != admin["email"]
    assert analyst["date_of_birth_year"] == admin["date_of_birth"].year
    assert analyst["postcode_district"] == admin["postcode"].split()[0]


def test_show_gathers_the_frontline_view(service, someone, site):
    view = service.show(someone["customer_key"], "agent", "ann", "test")
    assert view["as_of"] == DEMO_END and view["customer"]["last_name"] == someone["last_name"]
    assert any(i["identifier"] == f"branch:{someone['branch_no']}" for i in view["identifiers"])
    assert someone["customer_key"] in [m["customer_key"] for m in view["household"]["members"]]
    assert {s["scheme"] for s in view["segments"]} >= {"life_cycle", "value_tier"}
    verdicts = view["verdicts"]
    assert verdicts["next_step"] in {"resolve the complaint", "win back", "retain", "grow"}
    assert verdicts["next_step_rule"] and verdicts["attrition_reason"].split(" ")[0] in {
        "high",
        "medium",
        "low",
        "Not",
    }
    with duckdb.connect(str(site / "warehouse" / "cif.duckdb"), read_only=True) as con:
        count, last = con.execute(
            "select count(*), max(occurred_at) from core.fct_transactions where customer_key = ?",
            [someone["customer_key"]],
        ).fetchone()
    assert (
        len(view["transactions"]) == min(count, 10)
        and view["transactions"][0]["occurred_at"] == last
    )
    # as of an earlier date: nothing after it
    early = service.show(
        someone["customer_key"], "agent", "ann", "test", as_of=dt.date(2024, 6, 30)
    )
    assert all(t["occurred_at"] < dt.datetime(2024, 7, 1) for t in early["transactions"])
    assert early["scores"].get("as_of_date") is None or early["scores"]["as_of_date"] <= dt.date(
        2024, 6, 30
    )


def test_an_open_complaint_comes_first_and_is_open_only_from_its_day(service):
    found = service.find("Ophelia Marchbanks", "agent", "ann", "test")
    assert [c["matched_on"] for c in found[:1]] == ["name"] and found[0]["score"] == 1
    key = found[0]["customer_key"]
    view = service.show(key, "agent", "ann", "test")
    complaints = [(str(c["occurred_at"]), c["is_open"]) for c in view["complaints"]]
    assert complaints == [("2025-06-10 11:15:00", True), ("2024-11-02 09:30:00", False)]
    assert [t["amount"] for t in view["transactions"]] == [84.5] * 6
    verdicts = view["verdicts"]
    assert (verdicts["next_step"], verdicts["next_step_rule"]) == (
        "resolve the complaint",
        "resolve_complaint",
    )
    assert verdicts["next_step_reason"].startswith(
        "1 complaint(s) open, the oldest since 2025-06-10"
    )
    # the day after the first complaint it was still open, and the second not yet made
    then = service.show(key, "agent", "ann", "test", as_of=dt.date(2024, 11, 3))
    assert [(str(c["occurred_at"]), c["is_open"]) for c in then["complaints"]] == [
        ("2024-11-02 09:30:00", True)
    ]
    assert len(then["transactions"]) == 3


def test_an_old_key_resolves_after_a_merge(site, service, tmp_path, someone):
    merged = tmp_path / "cif.duckdb"
    shutil.copyfile(site / "warehouse" / "cif.duckdb", merged)
    with duckdb.connect(str(merged)) as con:  # what a merge leaves: the old key points on
        con.execute(
            "insert into core.customer_key_lookup values (999999, ?)", [someone["customer_key"]]
        )
    after = Frontline(merged, service.kinds, service.key, tmp_path / "audit.jsonl")
    assert [c["customer_key"] for c in after.find("999999", "agent", "t", "test")] == [
        someone["customer_key"]
    ]
    view = after.show(999999, "agent", "t", "test")
    assert view["merged"] and view["customer_key"] == someone["customer_key"]


def test_both_lookups_are_in_the_audit_log(service, someone):
    before = len(audit.entries(service.audit_log))
    service.find(someone["email"], "agent", "ann.agent", "test")
    service.show(someone["customer_key"], "admin", "bob.admin", "test")
    found, shown = audit.entries(service.audit_log)[before:]
    assert (found["user"], found["role"], found["action"]) == ("ann.agent", "agent", "find")
    assert someone["customer_key"] in found["customer_keys"]
    assert someone["email"] not in json.dumps(found)  # the search text is kept as a pseudonym
    assert found["query_pseudonym"] == Hasher(service.key).value(someone["email"].lower())
    assert (shown["user"], shown["role"], shown["action"]) == ("bob.admin", "admin", "show")
    assert shown["customer_keys"] == [someone["customer_key"]] and shown["at"] >= found["at"]


def test_cli_find_and_show_follow_the_role(site, someone):
    found = run_cif("customer", "find", someone["email"], cwd=site, env={"CIF_ROLE": "agent"})
    assert found.returncode == 0, found.stderr
    assert str(someone["customer_key"]) in found.stdout and someone["last_name"] in found.stdout
    shown = run_cif(
        "customer", "show", str(someone["customer_key"]), cwd=site, env={"CIF_ROLE": "agent"}
    )
    assert (
        shown.returncode == 0 and "Next step:" in shown.stdout and someone["email"] in shown.stdout
    )
    assert (
        someone["national_id"] not in shown.stdout and someone["national_id"][-3:] in shown.stdout
    )
    analyst = run_cif("customer", "show", str(someone["customer_key"]), cwd=site)
    assert analyst.returncode == 0 and someone["email"] not in analyst.stdout
    entries = audit.entries(site / "warehouse" / "audit" / "lookups.jsonl")
    assert [e["action"] for e in entries[-3:]] == ["find", "show", "show"]


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.fixture(scope="module")
def server(site):
    """`cif serve` as an admin's server (a proxy narrows the role per request)."""
    port = free_port()
    proc = subprocess.Popen(
        [sys.executable, "-m", "orchestration.cli", "serve", "--port", str(port)],
        cwd=site,
        env={**clean_env(), "CIF_ROLE": "admin"},
        stdin=subprocess.DEVNULL,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
        start_new_session=True,
    )
    url = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        try:
            urllib.request.urlopen(url, timeout=2)
            break
        except OSError:
            time.sleep(0.3)
    yield url
    os.killpg(proc.pid, signal.SIGTERM)
    proc.wait(timeout=30)


def get(url: str, role: str = "admin") -> tuple[int, str]:
    request = urllib.request.Request(url, headers={"X-CIF-Role": role, "X-CIF-User": "t"})
    try:
        with urllib.request.urlopen(request, timeout=30) as response:
            return response.status, response.read().decode()
    except urllib.error.HTTPError as error:
        return error.code, error.read().decode()


def test_the_pages_as_of_a_date_the_household_and_refusals(server, service):
    key = service.find("Ophelia Marchbanks", "agent", "t", "test")[0]["customer_key"]
    status, today = get(f"{server}/customer/{key}", "agent")
    assert (
        status == 200 and "resolve the complaint" in today and "o.marchbanks@example.org" in today
    )
    assert today.count("2025-06-10 11:15:00") == 2  # a complaint and an interaction
    status, then = get(f"{server}/customer/{key}?as_of=2024-11-03", "agent")
    assert status == 200 and "as of 2024-11-03" in then and "2024-11-02 09:30:00" in then
    assert "2025-06-10 11:15:00" not in then and "from the run of 2025-06-30" in then
    household = service.show(key, "agent", "t", "test")["household"]["household_key"]
    status, house = get(f"{server}/household/{household}", "agent")
    assert status == 200 and f'href="/customer/{key}"' in house and "Marchbanks" in house
    assert get(f"{server}/customer/{key}", "auditor")[0] == 403
    assert get(f"{server}/customer/{key}?as_of=yesterday", "agent")[0] == 403
    assert get(f"{server}/customer/987654321", "agent")[0] == 404


def test_the_page_in_a_real_browser_shows_each_role_what_it_may_see(server, someone):
    from selenium.webdriver.common.by import By

    driver = browser()
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    seen = {}
    try:
        driver.execute_cdp_cmd("Network.enable", {})
        for role in ("agent", "admin", "analyst"):
            headers = {"X-CIF-Role": role, "X-CIF-User": f"{role}.tester"}
            driver.execute_cdp_cmd("Network.setExtraHTTPHeaders", {"headers": headers})
            driver.get(server)
            box = driver.find_element(By.NAME, "q")
            typo = someone["first_name"] + " " + someone["last_name"][:-1]
            box.send_keys(typo if role != "analyst" else str(someone["customer_key"]))
            box.submit()
            driver.find_element(By.CSS_SELECTOR, "#results a.customer-link").click()
            assert driver.find_element(By.ID, "role").text == role
            seen[role] = driver.find_element(By.ID, "details").text
            assert driver.find_element(By.ID, "next-step").text.startswith("Suggested next step")
            driver.save_screenshot(str(ARTIFACTS / f"frontline_{role}.png"))
    finally:
        driver.quit()
    assert someone["email"] in seen["agent"] and someone["national_id"] not in seen["agent"]
    assert "date of birth" not in seen["agent"] and someone["national_id"][-3:] in seen["agent"]
    assert someone["national_id"] in seen["admin"] and someone["birth"].isoformat() in seen["admin"]
    assert someone["email"] not in seen["analyst"] and someone["last_name"] not in seen["analyst"]
    assert (ARTIFACTS / "frontline_agent.png").stat().st_size > 10_000
