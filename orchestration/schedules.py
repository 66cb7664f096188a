"""When the nightly job runs: a schedule, a sensor for new landed files, and failure alerts."""

import dataclasses
import datetime as dt
import hashlib
import json

import dagster as dg

from ingest.loader import LandedFile, already_loaded_files, discover
from ingest.warehouse import connection
from orchestration.jobs import NIGHTLY_JOB
from orchestration.resources import CifResource
from orchestration.run_report import collect_report, finish_report
from orchestration.settings import CifSettings


def _status(settings: CifSettings, kind):
    """Switched on unless CIF_AUTOMATION=off: a nightly job nobody has to remember to enable."""
    return kind.RUNNING if settings.automation else kind.STOPPED


def _run_request(
    settings: CifSettings, as_of: dt.date, run_key: str | None, trigger: str
) -> dg.RunRequest:
    run_settings = dataclasses.replace(settings, as_of=as_of)
    return dg.RunRequest(
        run_key=run_key,
        run_config=CifResource.run_config(run_settings),
        tags={"cif/as_of": as_of.isoformat(), "cif/trigger": trigger},
    )


def build_nightly_schedule(settings: CifSettings) -> dg.ScheduleDefinition:
    """Runs the nightly job at `nightly_cron` (CIF_NIGHTLY_CRON) for that day's business date."""

    @dg.schedule(
        job_name=NIGHTLY_JOB,
        default_status=_status(settings, dg.DefaultScheduleStatus),
        cron_schedule=settings.nightly_cron,
        execution_timezone=settings.timezone,
        name="nightly_schedule",
        description=f"The nightly run, at '{settings.nightly_cron}' ({settings.timezone}).",
    )
    def nightly_schedule(context: dg.ScheduleEvaluationContext) -> dg.RunRequest:
        as_of = context.scheduled_execution_time.date()
        return _run_request(settings, as_of, f"nightly-{as_of.isoformat()}", "schedule")

    return nightly_schedule


def landing_fingerprints(files: list[LandedFile]) -> dict[str, str]:
    """path -> size and modification time of each landed file."""
    prints = {}
    for landed in files:
        stat = landed.path.stat()
        prints[str(landed.path)] = f"{stat.st_size}:{stat.st_mtime_ns}"
    return prints


def published_files(settings: CifSettings) -> dict[str, str]:
    """The fingerprints of the landed files the published warehouse already holds: what the
    sensor has seen before its first evaluation, so that starting the daemon (`cif ui`) after
    `cif run` does not queue a run for files already loaded."""
    if not settings.warehouse.exists():
        return {}
    with connection(settings.warehouse, read_only=True) as con:
        return landing_fingerprints(already_loaded_files(con, settings.landing))


def build_landing_sensor(settings: CifSettings) -> dg.SensorDefinition:
    """Starts the nightly job when files land (new or changed since the last evaluation)."""

    @dg.sensor(
        job_name=NIGHTLY_JOB,
        default_status=_status(settings, dg.DefaultSensorStatus),
        name="landing_sensor",
        minimum_interval_seconds=60,
        description=f"New files in {settings.landing} start the nightly job.",
    )
    def landing_sensor(context: dg.SensorEvaluationContext):
        seen = json.loads(context.cursor) if context.cursor else published_files(settings)
        current = landing_fingerprints(discover(settings.landing))
        new = sorted(path for path, print_ in current.items() if seen.get(path) != print_)
        context.update_cursor(json.dumps(current))
        if not new:
            return dg.SkipReason(f"no new files in {settings.landing}")
        key = hashlib.sha256("\n".join(f"{p}={current[p]}" for p in new).encode()).hexdigest()[:16]
        context.log.info(f"{len(new)} new landed file(s): {', '.join(new[:5])}")
        return _run_request(settings, dt.date.today(), f"landing-{key}", "sensor")

    return landing_sensor


def build_failure_sensor(settings: CifSettings) -> dg.SensorDefinition:
    """Writes the quality report and raises the alert for failed runs started by Dagster
    (schedule, sensor, UI); `cif run` does this itself."""

    @dg.run_failure_sensor(
        name="nightly_failure_alert",
        monitored_jobs=None,
        default_status=_status(settings, dg.DefaultSensorStatus),
    )
    def nightly_failure_alert(context: dg.RunFailureSensorContext) -> None:
        _report_run(settings, context, success=False)

    return nightly_failure_alert


def build_report_sensor(settings: CifSettings) -> dg.SensorDefinition:
    """Writes the run report of successful runs started by Dagster (schedule, sensor, UI)."""

    @dg.run_status_sensor(
        name="nightly_run_report",
        run_status=dg.DagsterRunStatus.SUCCESS,
        monitored_jobs=None,
        default_status=_status(settings, dg.DefaultSensorStatus),
    )
    def nightly_run_report(context: dg.RunStatusSensorContext) -> None:
        _report_run(settings, context, success=True)

    return nightly_run_report


def _report_run(settings: CifSettings, context, success: bool) -> None:
    """The report (and, for a failure, the alert) of a nightly run `cif run` did not start:
    `cif run` writes its own."""
    run = context.dagster_run
    if run.job_name != NIGHTLY_JOB or run.tags.get("cif/trigger") == "cif run":
        return
    as_of = dt.date.fromisoformat(run.tags.get("cif/as_of", dt.date.today().isoformat()))
    run_settings = dataclasses.replace(settings, as_of=as_of)
    job = context.repository_def.get_job(NIGHTLY_JOB)
    report = collect_report(context.instance, run.run_id, run_settings, job, success=success)
    finish_report(report, context.instance)
