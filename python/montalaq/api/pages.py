"""The dashboard: ``GET /`` is ``static/index.html`` with a same-origin
Content-Security-Policy, ``GET /static/<file>`` the files next to it -- no directory
listing, nothing outside the folder, no dotfiles (docs/semantics.md, "Dashboard")."""

from __future__ import annotations

from pathlib import Path

from fastapi import APIRouter
from starlette.responses import FileResponse, Response

from montalaq.api.context import Api, Params
from montalaq.api.responses import ApiError, shown

STATIC_DIR = Path(__file__).resolve().parent / "static"
_DASHBOARD_HEADERS = {
    "Cache-Control": "no-cache",
    "X-Content-Type-Options": "nosniff",
    "Referrer-Policy": "no-referrer",
    "Content-Security-Policy": (
        "default-src 'self'; script-src 'self'; style-src 'self' 'unsafe-inline'; "
        "img-src 'self' data:; object-src 'none'; base-uri 'none'; frame-ancestors 'none'"
    ),
}
_STATIC_HEADERS = {"Cache-Control": "no-cache", "X-Content-Type-Options": "nosniff"}


def add_routes(router: APIRouter, p: Params) -> None:
    """Add ``GET /`` and ``GET /static/{path}`` (pages: not in the schema) to ``router``."""

    @router.get("/", include_in_schema=False)
    def dashboard(api: Api) -> Response:
        index = api.static_root / "index.html"
        if not index.is_file():
            raise ApiError(
                404, f"the dashboard is not installed: {index.name} is missing from the static folder"
            )
        return FileResponse(index, media_type="text/html; charset=utf-8", headers=_DASHBOARD_HEADERS)

    @router.get("/static/{path:path}", include_in_schema=False)
    def static(api: Api, path: str) -> Response:
        if "\x00" in path:  # regression: Path.resolve raised on the NUL byte (a 500 with a traceback)
            raise ApiError(404, f"path: no such file {shown(path)}")
        target = (api.static_root / path).resolve()
        if (
            not target.is_relative_to(api.static_root)
            or any(part.startswith(".") for part in Path(path).parts)
            or not target.is_file()
        ):
            raise ApiError(404, f"path: no such file {shown(path)}")
        return FileResponse(target, headers=_STATIC_HEADERS)
