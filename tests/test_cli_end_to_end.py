"""`cif` end to end: a real landing zone, DuckDB file, dbt build and Dagster run, via the CLI."""

import hashlib
import html
import json
import os
import re
import shutil
import signal
import subprocess
import sys
import time
import urllib.parse
from pathlib import Path

import dagster as dg
import duckdb
import pandas as pd
import pyarrow.parquet as pq
import pytest

from frontline.service import Frontline
from ingest.privacy import pii_columns, pseudonym_key
from orchestration.dbt_project import MANIFEST
from orchestration.warehouse import WriterLock, previous_version, work_folder
from tests.helpers import (
    ARTIFACTS,
    DEMO_END,
    browser,
    clean_env,
    full_page_screenshot,
    notebook_html,
    processes_mentioning,
    run_cif,
)

pytestmark = pytest.mark.slow(seconds=345)
AS_OF = DEMO_END.isoformat()
PUBLISHED_CHECKS = (
    "select checks_passed, checks_failed from meta.publications order by published_at desc limit 1"
)


def cif(*args: str, cwd: Path) -> subprocess.CompletedProcess:
    return run_cif(*args, cwd=cwd)


def sha(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


@pytest.fixture(scope="module")
def site(tmp_path_factory, published_demo):
    """A copy of the demo after its first `cif run` (the run's messages name the original
    folder), for the tests here to run more nights on, in file order."""
    root = tmp_path_factory.mktemp("site") / "site"
    shutil.copytree(published_demo.root, root)
    return root, published_demo.run


def landed_rows(landing: Path) -> int:
    """Rows delivered in every landed file (CSV minus its header, JSON lines, Parquet rows)."""
    total = 0
    for path in landing.glob("*/*/*"):
        if path.parts[-3].startswith("_"):
            continue
        if path.suffix == ".parquet":
            total += pq.ParquetFile(path).metadata.num_rows
        else:
            lines = path.read_bytes().count(b"\n")
            total += lines - 1 if path.suffix == ".csv" else lines
    return total


def customers_in_360(warehouse: Path) -> int:
    return query(warehouse, "select count(*) from marts.customer_360")[0][0]


def query(warehouse: Path, sql: str):
    with duckdb.connect(str(warehouse), read_only=True) as con:
        return con.execute(sql).fetchall()


def test_nightly_run_succeeds_and_prints_the_summary(published_demo):
    root, first = published_demo.root, published_demo.run
    assert first.returncode == 0, first.stdout + first.stderr
    out = first.stdout
    for expected in (
        "Rows per source",
        "Time per stage",
        "Checks:",
        "succeeded",
        f"Customers in the 360 view: {customers_in_360(root / 'warehouse' / 'cif.duckdb'):,}",
        str(root / "warehouse" / "cif.duckdb"),
    ):
        assert expected in out


def test_the_warehouse_holds_every_row_and_about_one_row_per_true_customer(site):
    root, _ = site
    wh = root / "warehouse" / "cif.duckdb"
    truth = pd.read_csv(root / "landing" / "_truth" / "customers.csv")
    # The demo data is messy (typos, shared e-mails, second accounts...): deterministic rules
    # leave some records of one person unmerged (and a partner's web orders may sit on the
    # other's login), so there are about as many customers as people, and fewer than records.
    keys, records = query(
        wh, "select count(distinct customer_key), count(*) from core.customer_identity_map"
    )[0]
    assert customers_in_360(wh) == keys
    assert 0.9 * truth.person_id.nunique() <= keys < records
    received, loaded, quarantined = query(
        wh,
        "select sum(rows_received), sum(rows_loaded), sum(rows_quarantined) from meta.load_batches",
    )[0]
    assert (
        received == loaded + quarantined
        and quarantined == query(wh, "select count(*) from quarantine.rejected_rows")[0][0]
    )
    assert received == landed_rows(root / "landing")
    runs = {
        row[0]: row[1:]
        for row in query(
            wh, "select model_name, parameters, time_unit, holdout_metrics from scores.model_runs"
        )
    }
    assert set(runs) == {
        "bgnbd",
        "pareto_nbd",
        "gamma_gamma",
        "attrition_gbm",
        "attrition_btyd_baseline",
    }
    gbm, baseline = (json.loads(runs[m][2]) for m in ("attrition_gbm", "attrition_btyd_baseline"))
    assert gbm["auc"] > baseline["auc"] and gbm["customers"] == baseline["customers"]
    params, unit, metrics = runs["bgnbd"]
    assert unit == "day" and set(json.loads(params)) == {"r", "alpha", "a", "b"}
    assert json.loads(metrics)["actual_purchases"] > 0
    assert (
        query(
            wh, "select count(*) from scores.customer_scores where as_of_date = date '2025-06-30'"
        )[0][0]
        > 0
    )


def test_exports_leave_personal_data_out_and_match_the_manifest(site):
    root, _ = site
    latest = root / "exports" / "latest"
    manifest = json.loads((latest / "manifest.json").read_text())
    assert manifest["as_of"] == AS_OF and manifest["include_pii"] is False
    for table in manifest["tables"]:
        for file in table["files"]:  # one, or one per month of a large or history table
            assert file["sha256"] == sha(latest / file["file"])
            assert file["bytes"] == (latest / file["file"]).stat().st_size > 0
        # a folder of months reads as the table's columns, without the folders' key
        frame = pd.read_parquet(latest / table["path"], partitioning=None)
        assert len(frame) == table["rows"] == sum(f["rows"] for f in table["files"])
        assert list(frame.columns) == [c["name"] for c in table["columns"]]
    assert {t["table"] for t in manifest["tables"] if t["partitioned_by"]} == {
        "customer_segment_history",
        "key_account_performance",
        "kpi_daily",
    }
    c360 = pd.read_parquet(latest / "customer_360.parquet")
    assert "date_of_birth" not in c360.columns and "postcode_district" in c360.columns
    assert not c360.email.str.contains("@", na=False).any()  # pseudonyms (tests/test_privacy.py)
    assert any(c["check"] == "gx_customer_360" and c["passed"] for c in manifest["checks"])
    # On the demo the attrition classifier beats 1 - P(alive): the warning check passes.
    assert any(c["check"] == "attrition_beats_baseline" and c["passed"] for c in manifest["checks"])


def report_of(result: subprocess.CompletedProcess) -> Path:
    """The run report the summary links to."""
    (link,) = re.findall(r"Run report: (file://\S+)", result.stdout)
    return Path(urllib.parse.unquote(urllib.parse.urlparse(link).path))


def test_the_run_report_is_one_file_with_the_runs_facts_and_is_named_on_the_dagster_run(site):
    from orchestration.instance import dagster_instance
    from orchestration.settings import CifSettings

    root, first = site
    wh = root / "warehouse" / "cif.duckdb"
    page = report_of(first).read_text()
    assert "Succeeded" in page and "Nothing failed" in page
    # readable without a server: styles, charts and plots inside the file
    assert "<link" not in page and "<script" not in page and " src='http" not in page
    assert page.count("<svg") >= 5 + 3  # five KPI trends, three segment schemes
    assert page.count("src='data:image/png;base64,") >= 4  # the scoring step's plots
    # quarantine reasons as the warehouse holds them
    for _, _, reason, rows in query(
        wh,
        "select source_system, entity, reason, count(*) from quarantine.rejected_rows group by all",
    ):
        assert f"<td>{html.escape(reason)}</td><td class='n'>{rows:,}</td>" in page, reason
    days, customers = query(wh, "select count(*), max(customers) from marts.kpi_daily")[0]
    assert f"{days:,} days" in page and f">{customers:,}<" in page  # the chart's last value
    models = query(wh, "select model_name from scores.model_runs")
    assert all(name in page for (name,) in models) and "auc = " in page
    # the Dagster run names the report and belongs to the UI's repository (overview timeline)
    settings = CifSettings(warehouse=wh, landing=root / "landing").resolved()
    run_id = report_of(first).stem
    run = dagster_instance(settings).get_run_by_id(run_id)
    assert run.tags["cif/report"] == report_of(first).as_uri()
    origin = run.remote_job_origin
    assert origin.repository_origin.get_label() == "__repository__@orchestration.definitions"
    assert origin.job_name == "nightly"
    # the plots as Markdown images and the holdout figures as numbers in Dagster's metadata
    meta = (
        dagster_instance(settings)
        .get_latest_materialization_event(dg.AssetKey(["scores", "model_runs"]))
        .asset_materialization.metadata
    )
    assert meta["plots"].md_str.count("](data:image/png;base64,") >= 4
    (auc,) = query(wh, "select holdout_metrics->>'auc' from scores.model_runs "
                       "where model_name = 'attrition_gbm'")[0]  # fmt: skip
    assert meta["attrition_gbm.auc"] == dg.MetadataValue.float(float(auc))
    # the publication recorded its rows per table
    counts = dict(query(wh, f"select table_name, row_count from meta.row_count_history "
                            f"where run_id = '{run_id}'"))  # fmt: skip
    assert counts["marts.customer_360"] == customers_in_360(wh)


def test_a_rerun_with_no_new_files_changes_nothing_and_lookups_go_on_meanwhile(site):
    root, _ = site
    wh = root / "warehouse" / "cif.duckdb"
    keys_before = query(wh, "select * from core.customer_identity_map order by all")
    batches_before = query(wh, "select count(*) from meta.load_batches")
    frontline = Frontline(wh, pii_columns(MANIFEST)["customer_360"], pseudonym_key(wh), root / "a")
    someone = keys_before[0][2]
    runs_seen, lookups = [], []

    def look_up() -> None:  # as `cif serve` does, between the run's start and its publishing
        started = time.monotonic()
        assert someone in [
            c["customer_key"] for c in frontline.find(str(someone), "agent", "t", "t")
        ]
        assert frontline.show(someone, "agent", "t", "t")["verdicts"]["next_step"]
        with frontline.reader.lookup() as con:
            runs_seen.append(
                con.execute("select count(distinct run_id) from scores.model_runs").fetchone()[0]
            )
        lookups.append(time.monotonic() - started)

    # an export of an earlier date written 40 days ago: past the default retention (30 days)
    exports = root / "exports"
    stale = exports / ".versions" / "2025-05-31--old"
    shutil.copytree(exports / "latest", stale)
    (exports / "2025-05-31").symlink_to(stale.relative_to(exports), target_is_directory=True)
    forty_days_ago = time.time() - 40 * 86_400
    os.utime(stale, (forty_days_ago, forty_days_ago))

    # started by a parent that ignores SIGTERM: the run still leaves no helper process behind
    again = run_cif("run", "--as-of", AS_OF, cwd=root, ignoring_sigterm=True, meanwhile=look_up)
    assert again.returncode == 0, again.stdout + again.stderr
    summary = " ".join(again.stdout.split())  # as printed, whatever the terminal's width
    assert "30 days ago removed (CIF_EXPORT_KEEP_DAYS): 2025-05-31" in summary
    assert not (exports / "2025-05-31").is_symlink() and not stale.exists()
    assert (exports / AS_OF).resolve() == (exports / "latest").resolve()
    # never blocked by the run; then the same reader sees the newly published warehouse
    assert len(lookups) >= 5 and max(lookups) < 5, lookups
    look_up()
    assert runs_seen[-1] == runs_seen[0] + 1, runs_seen
    assert processes_mentioning(str(root / "warehouse" / ".dagster")) == []
    assert query(wh, "select count(*) from meta.load_batches") == batches_before
    keys_after = query(
        wh,
        "select source_system, source_customer_id, customer_key from core.customer_identity_map order by all",
    )
    assert keys_after == [(r[0], r[1], r[2]) for r in keys_before]
    assert (
        query(
            wh,
            "select count(*), count(distinct customer_key) from scores.customer_scores "
            "where as_of_date = date '2025-06-30'",
        )[0][0]
        == query(wh, "select count(distinct customer_key) from scores.customer_scores")[0][0]
    )


def test_the_second_report_compares_row_counts_and_reads_well_in_a_browser(site):
    root, _ = site
    page_file = root / "warehouse" / "reports" / "latest.html"
    page = page_file.read_text()
    runs = query(root / "warehouse" / "cif.duckdb", "select count(distinct run_id) from "
                 "meta.row_count_history")[0][0]  # fmt: skip
    assert runs == 2 and f"as of {AS_OF}" in page
    assert "<span class='muted'>=</span>" in page  # no new files: the marts kept their rows
    driver = browser(1300, 1000)
    try:
        driver.get(page_file.as_uri())
        broken = driver.execute_script(
            "return [...document.images].filter(i => !i.complete || i.naturalWidth === 0).length"
        )
        overflow = driver.execute_script(
            "return document.documentElement.scrollWidth - document.documentElement.clientWidth"
        )
        height = full_page_screenshot(driver, ARTIFACTS / "run_report.png")
    finally:
        driver.quit()
    assert broken == 0 and overflow <= 0 and height > 3000


def test_a_failed_run_leaves_the_warehouse_as_it_was_and_explains(site):
    root, _ = site
    wh = root / "warehouse" / "cif.duckdb"
    before = sha(wh)
    extra = root / "landing" / "shop" / "transactions" / "late.csv"
    extra.parent.mkdir(parents=True, exist_ok=True)
    extra.write_text("transaction_id,source_customer_id,occurred_at,amount\nx1,c1,2019-12-01,5\n")
    failed = cif("run", "--as-of", "2018-01-01", cwd=root)  # before any customer existed
    extra.unlink()
    assert failed.returncode == 1
    explanation = " ".join(failed.stderr.split())
    assert (
        "blocking check 'gx_customer_identity_map' on core/customer_identity_map failed"
        in explanation
    )
    assert "table row count to be between (observed 0)" in explanation
    assert "so these steps did not run" in explanation and "dbt_marts" in explanation
    assert "was left unchanged" in explanation
    assert sha(wh) == before  # the late file loaded in the failed run was not published
    page = report_of(failed).read_text()
    first = page[page.index("What failed first") : page.index("Rows per source")]
    assert "badge blocking" in first and "gx_customer_identity_map" in first
    assert "nothing of this run was published" in page


def test_a_second_concurrent_run_stops_at_once(site):
    root, _ = site
    with WriterLock(root / "warehouse" / "cif.duckdb", "someone-else"):
        busy = cif("run", "--as-of", AS_OF, cwd=root)
    assert busy.returncode == 3
    assert "being written by another run (run someone-else" in busy.stderr


def test_export_command_includes_pii_as_csv_for_an_admin_only(site):
    root, _ = site
    args = ("export", "--out", "bi", "--format", "csv", "--include-pii")
    refused = run_cif(*args, cwd=root)  # no CIF_ROLE: an analyst
    assert refused.returncode == 2 and "analyst role may not export" in refused.stderr
    result = run_cif(*args, cwd=root, env={"CIF_ROLE": "admin"})
    assert result.returncode == 0, result.stderr
    frame = pd.read_csv(root / "bi" / AS_OF / "customer_360.csv")
    assert {"first_name", "email", "date_of_birth"} <= set(frame.columns)
    assert frame.email.str.contains("@", na=False).any()
    assert len(frame) == customers_in_360(root / "warehouse" / "cif.duckdb")
    # named after the published data's date, not today's; with the published run's checks
    assert sorted(p.name for p in (root / "bi").iterdir()) == [".versions", AS_OF, "latest"]
    manifest = json.loads((root / "bi" / AS_OF / "manifest.json").read_text())
    published = query(root / "warehouse" / "cif.duckdb", PUBLISHED_CHECKS)[0]
    assert manifest["as_of"] == AS_OF and len(manifest["checks"]) == published[0] + published[1]
    # the data's lineage: the run that published it, not the export command
    last_run = "select run_id from meta.publications order by published_at desc limit 1"
    assert manifest["run_id"] == query(root / "warehouse" / "cif.duckdb", last_run)[0][0]
    assert published[0] > 100 and all(c["passed"] for c in manifest["checks"])


def test_a_run_killed_midway_changes_nothing_and_the_next_run_finishes_the_work(site):
    root, _ = site
    wh = root / "warehouse" / "cif.duckdb"
    before = sha(wh)
    batches_before = query(wh, "select count(*) from meta.load_batches")[0][0]
    late = root / "landing" / "shop" / "transactions" / "killed.csv"
    late.parent.mkdir(parents=True, exist_ok=True)
    late.write_text("transaction_id,source_customer_id,occurred_at,amount\nk1,c1,2025-06-01,5\n")
    proc = subprocess.Popen(
        [sys.executable, "-m", "orchestration.cli", "run", "--as-of", AS_OF],
        cwd=root,
        env=clean_env(),
        stdin=subprocess.DEVNULL,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
        start_new_session=True,
    )
    work = work_folder(wh)
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline and not list(work.glob("*/cif.duckdb")):
        time.sleep(0.2)
    assert list(work.glob("*/cif.duckdb")), "the run never started writing its working copy"
    time.sleep(3)  # well inside the ingest and dbt steps
    os.killpg(proc.pid, signal.SIGKILL)
    proc.wait()
    assert sha(wh) == before  # the killed run left the published warehouse as it was

    again = cif("run", "--as-of", AS_OF, cwd=root)
    late.unlink()
    assert again.returncode == 0, again.stdout + again.stderr
    assert query(wh, "select count(*) from meta.load_batches")[0][0] == batches_before + 1
    assert query(
        wh, "select count(*) from raw.canonical__transactions where transaction_id = 'k1'"
    ) == [(1,)]
    # the dead run's copy was cleaned up; the version the last publish replaced is kept
    assert [p.name for p in work.iterdir()] == [previous_version(wh).name]
    # and the run history no longer shows the killed run as running
    from orchestration.instance import dagster_instance
    from orchestration.settings import CifSettings

    settings = CifSettings(warehouse=wh, landing=root / "landing").resolved()
    statuses = [r.status.value for r in dagster_instance(settings).get_runs()]
    assert "STARTED" not in statuses and statuses.count("FAILURE") >= 1, statuses


def run_notebook(name: str):
    """Execute notebooks/<name>.ipynb; returns the notebook and the JSON its last cell prints."""
    import nbclient
    import nbformat

    notebook = nbformat.read(Path(__file__).parent.parent / "notebooks" / f"{name}.ipynb", 4)
    nbclient.NotebookClient(notebook, timeout=300, kernel_name="python3").execute()
    # the kernel may send one print as several stream messages (the text, then its newline)
    last = [c for c in notebook.cells if c.cell_type == "code"][-1]
    printed = "".join(o.get("text", "") for o in last.outputs if o.output_type == "stream")
    charts = sum(
        "image/png" in o.get("data", {}) for c in notebook.cells for o in c.get("outputs", [])
    )
    return notebook, json.loads(printed), charts


def test_the_analysts_notebooks_run_on_the_exports(site, monkeypatch):
    root, _ = site
    latest = root / "exports" / "latest"
    monkeypatch.setenv("CIF_EXPORTS", str(root / "exports"))
    c360 = pd.read_parquet(latest / "customer_360.parquet")

    _, base, charts = run_notebook("customer_base")
    segments = pd.read_parquet(latest / "customer_segments.parquet")
    life_cycle = segments[segments.scheme == "life_cycle"].segment.value_counts()
    assert base["customers"] == len(c360) > 0 and charts >= 3
    assert base["life_cycle"] == {k: int(v) for k, v in life_cycle.items()}
    assert sum(base["preferred_channel"].values()) == len(c360)

    notebook, value, charts = run_notebook("value_and_attrition")
    at_risk = (c360.clv_net_36m.clip(lower=0) * c360.attrition_risk).sum()
    assert value["value_at_risk"] == pytest.approx(at_risk) and charts >= 2
    # the win-back list opens with the largest value at stake, not the highest attrition risk
    win_back = pd.read_parquet(latest / "win_back_candidates.parquet")
    assert value["win_back_values"] == sorted(value["win_back_values"], reverse=True)
    assert value["win_back_values"][0] == pytest.approx(win_back.value_at_stake.max())
    (ARTIFACTS / "notebook_value_and_attrition.html").parent.mkdir(parents=True, exist_ok=True)
    (ARTIFACTS / "notebook_value_and_attrition.html").write_text(notebook_html(notebook))

    _, keys, charts = run_notebook("key_accounts")
    accounts = pd.read_parquet(latest / "key_accounts.parquet")
    targeted = accounts[accounts.revenue_target.notna()]
    assert keys["key_accounts"] == len(accounts) == int(c360.is_key_account.sum()) > 0
    assert keys["with_target"] == len(targeted) and charts >= 2
    assert keys["below_target"] == int((targeted.revenue_attainment.astype(float) < 1).sum())
    assert keys["revenue_target"] == pytest.approx(
        float(targeted.revenue_target.astype(float).sum())
    )

    driver = browser(1100, 900)
    try:
        driver.get((ARTIFACTS / "notebook_value_and_attrition.html").as_uri())
        full_page_screenshot(driver, ARTIFACTS / "notebook_value_and_attrition.png", 1100)
        broken = driver.execute_script(
            "return [...document.images].filter(i => i.naturalWidth === 0).length"
        )
    finally:
        driver.quit()
    assert broken == 0


def test_dbt_docs_are_built_from_a_copy_of_the_warehouse_with_the_exposures(site, tmp_path):
    from orchestration.dbt_project import generate_docs

    root, _ = site
    wh = root / "warehouse" / "cif.duckdb"
    before = sha(wh)
    page = generate_docs(wh, tmp_path / "docs").read_text()
    # one static page: the project, the catalog read from the warehouse, the exposures
    assert "exposure.cif.bi_exports" in page and "cif-data@example.org" in page
    assert '"model.cif.customer_360"' in page and "clv_net_36m" in page
    assert sha(wh) == before and not list(wh.parent.glob("*.wal"))


def test_identity_resolution_quality_against_the_truth(site):
    """Guards the measured quality (bench/bench_identity.py) a little below what it reaches."""
    from models.identity.quality import score_against_truth

    root, _ = site
    with duckdb.connect(str(root / "warehouse" / "cif.duckdb"), read_only=True) as con:
        identity_map = con.execute("select * from core.customer_identity_map").df()
        households = con.execute("select * from core.customer_household").df()
    truth = pd.read_csv(root / "landing" / "_truth" / "customers.csv")
    scores = score_against_truth(identity_map, households, truth)
    assert scores["person"].precision >= 0.95 and scores["person"].f1 >= 0.92
    assert scores["household"].precision >= 0.95 and scores["household"].f1 >= 0.90
    people = truth.person_id.nunique()
    assert people <= identity_map.customer_key.nunique() <= 1.15 * people
