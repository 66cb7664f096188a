"""`cif serve`: the frontline as server-rendered web pages (Starlette, Jinja2 templates).

Search box, customer page and household page, "as of" a date. Each request attaches the
published warehouse read-only for the length of its lookup (frontline.reader), so the server
never blocks a nightly run and serves a newly published warehouse without a restart.

Who is looking: the server is started for a role (CIF_ROLE). An authenticating proxy in front
of it names the user (X-CIF-User) and, on a server started as admin, may narrow the role per
request (X-CIF-Role); a server started as agent or analyst serves only that role."""

from __future__ import annotations

import datetime as dt
from pathlib import Path

from jinja2 import Environment, FileSystemLoader, select_autoescape
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import HTMLResponse
from starlette.routing import Route

from frontline.reader import WarehouseUnavailable
from frontline.service import Frontline
from ingest.privacy import ROLES

TEMPLATES = Path(__file__).parent / "templates"
USER_HEADER = "x-cif-user"
ROLE_HEADER = "x-cif-role"


class Forbidden(Exception):
    pass


def request_role(request: Request, server_role: str) -> str:
    asked = request.headers.get(ROLE_HEADER, server_role).strip().lower()
    if asked not in ROLES:
        raise Forbidden(f"unknown role {asked!r}")
    if asked != server_role and server_role != "admin":
        raise Forbidden(f"this server serves the {server_role} role only")
    return asked


def request_user(request: Request) -> str:
    host = request.client.host if request.client else "unknown"
    return request.headers.get(USER_HEADER) or f"anonymous@{host}"


def parse_as_of(request: Request) -> dt.date | None:
    value = request.query_params.get("as_of", "").strip()
    if not value:
        return None
    try:
        return dt.date.fromisoformat(value)
    except ValueError:
        raise Forbidden(f"{value!r} is not a date (YYYY-MM-DD)") from None


def create_app(service: Frontline, server_role: str) -> Starlette:
    env = Environment(loader=FileSystemLoader(TEMPLATES), autoescape=select_autoescape())

    def page(name: str, status: int = 200, **context: object) -> HTMLResponse:
        return HTMLResponse(env.get_template(name).render(**context), status_code=status)

    def guarded(handler):
        """Role, user and as-of of the request, and errors as pages."""

        def endpoint(request: Request) -> HTMLResponse:
            try:
                who = {"role": request_role(request, server_role), "user": request_user(request)}
                return handler(request, who, parse_as_of(request))
            except Forbidden as exc:
                return page("error.html", 403, message=str(exc), role=server_role)
            except WarehouseUnavailable as exc:
                return page("error.html", 503, message=str(exc), role=server_role)

        return endpoint

    def search(request: Request, who: dict, as_of: dt.date | None) -> HTMLResponse:
        query = request.query_params.get("q", "").strip()
        found = service.find(query, who["role"], who["user"], "web") if query else []
        return page("search.html", query=query, found=found, as_of=as_of, **who)

    def customer(request: Request, who: dict, as_of: dt.date | None) -> HTMLResponse:
        key = int(request.path_params["key"])
        view = service.show(key, who["role"], who["user"], "web", as_of=as_of)
        if view is None:
            return page("error.html", 404, message=f"No customer with key {key}.", **who)
        return page("customer.html", view=view, as_of=as_of, **who)

    def household(request: Request, who: dict, as_of: dt.date | None) -> HTMLResponse:
        key = int(request.path_params["key"])
        members = service.household(key, who["role"], who["user"], "web")
        return page("household.html", key=key, members=members, as_of=as_of, **who)

    return Starlette(
        routes=[
            Route("/", guarded(search)),
            Route("/customer/{key:int}", guarded(customer)),
            Route("/household/{key:int}", guarded(household)),
        ]
    )
