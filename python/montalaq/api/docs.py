"""The router's OpenAPI document (``/api/schema``) and its docs page (``/api/docs``):
Swagger UI from the ``fastapi-offline`` package's files (no CDN), else a plain HTML list of
the operations (docs/semantics.md, "HTTP API")."""

from __future__ import annotations

import html
import importlib.util
import json
import warnings
from pathlib import Path
from typing import Any

from fastapi import APIRouter, Request
from fastapi.openapi.docs import get_swagger_ui_html
from fastapi.openapi.utils import get_openapi
from starlette.responses import FileResponse, HTMLResponse, Response

from montalaq.api.context import Api, ApiContext, Params
from montalaq.api.responses import JSON_MEDIA_TYPE, ApiError, shown

_SCHEMA_PATH = "/api/schema"
_DOCS_ASSETS = {
    "swagger-ui-bundle.js": "text/javascript; charset=utf-8",
    "swagger-ui.css": "text/css; charset=utf-8",
    "favicon.png": "image/png",
}


def swagger_static() -> Path | None:
    """The folder of fastapi-offline's Swagger UI files, when that package is installed
    (None: the docs page lists the operations)."""
    spec = importlib.util.find_spec("fastapi_offline")
    if spec is None or spec.origin is None:
        return None
    folder = Path(spec.origin).resolve().parent / "static"
    return folder if all((folder / name).is_file() for name in _DOCS_ASSETS) else None


def add_routes(router: APIRouter, p: Params) -> None:
    """Add ``/api/schema``, ``/api/docs`` and ``/api/docs/assets/{name}`` (not in the schema)
    to ``router``."""

    @router.get(_SCHEMA_PATH, include_in_schema=False)
    def openapi_schema(api: Api, request: Request) -> Response:
        return Response(
            schema_bytes(api, request), media_type=JSON_MEDIA_TYPE, headers={"Cache-Control": "no-cache"}
        )

    @router.get("/api/docs", include_in_schema=False)
    def docs(api: Api, request: Request) -> Response:
        if api.swagger_dir is None:
            return HTMLResponse(_operations_page(json.loads(schema_bytes(api, request))))
        return get_swagger_ui_html(
            openapi_url="schema",
            title="montalaq API",
            swagger_js_url="docs/assets/swagger-ui-bundle.js",
            swagger_css_url="docs/assets/swagger-ui.css",
            swagger_favicon_url="docs/assets/favicon.png",
            oauth2_redirect_url=None,
            # validatorUrl None: Swagger UI would otherwise ask validator.swagger.io
            swagger_ui_parameters={"validatorUrl": None, "persistAuthorization": False},
        )

    @router.get("/api/docs/assets/{name}", include_in_schema=False)
    def docs_asset(api: Api, name: str) -> Response:
        if api.swagger_dir is None or name not in _DOCS_ASSETS:
            raise ApiError(404, f"name: no such docs asset {shown(name)}")
        return FileResponse(
            api.swagger_dir / name, media_type=_DOCS_ASSETS[name], headers={"Cache-Control": "max-age=86400"}
        )


def schema_bytes(api: ApiContext, request: Request) -> bytes:
    """The router's OpenAPI document with the paths as the client sees them (a mount prefix
    included), made once per prefix, root path and set of registered agents."""
    root_path = str(request.scope.get("root_path", "")).rstrip("/")
    path = str(request.scope["path"])
    if root_path and path.startswith(root_path):
        path = path[len(root_path) :]
    base = path.rsplit("/api/", 1)[0]  # the mount prefix ("" standalone)
    key = (base, root_path, tuple(api.service.agents.names()))
    if key not in api.schemas:
        from montalaq import __version__

        with warnings.catch_warnings():
            # GET routes answer HEAD too: FastAPI sees each operation id twice (the HEAD
            # operations are dropped from the document by _finish_schema).
            warnings.filterwarnings("ignore", message="Duplicate Operation ID")
            doc = get_openapi(
                title="montalaq",
                version=__version__,
                description="montalaq HTTP API: market signals, analyses, feed health, breakers.",
                routes=api.routes,
            )
        api.schemas[key] = json.dumps(_finish_schema(doc, base, root_path)).encode()
    return api.schemas[key]


def _finish_schema(doc: dict[str, Any], prefix: str, root_path: str) -> dict[str, Any]:
    """Prefix the paths, drop HEAD and FastAPI's 422 (never answered: parameter errors are
    400)."""
    paths: dict[str, Any] = {}
    for path, raw_item in doc.get("paths", {}).items():
        item = {m: op for m, op in raw_item.items() if m != "head"}
        for operation in item.values():
            if isinstance(operation, dict):
                operation.get("responses", {}).pop("422", None)
        paths[prefix + path] = item
    doc["paths"] = paths
    schemas = doc.get("components", {}).get("schemas", {})
    text = json.dumps(paths)
    for name in ("HTTPValidationError", "ValidationError"):
        if f"#/components/schemas/{name}" not in text:
            schemas.pop(name, None)
    if root_path:
        doc["servers"] = [{"url": root_path}]
    return doc


def _operations_page(doc: dict[str, Any]) -> str:
    """A plain HTML list of the operations (the docs page without Swagger UI's files)."""
    rows = []
    for path, item in doc.get("paths", {}).items():
        for method, op in item.items():
            if not isinstance(op, dict):
                continue
            params = ", ".join(
                f"{p.get('name')}{'' if p.get('required') else '?'}" for p in op.get("parameters", [])
            )
            codes = ", ".join(op.get("responses", {}))
            rows.append(
                "<tr><td><code>{}</code></td><td><code>{}</code></td><td>{}</td><td>{}</td><td>{}</td></tr>".format(
                    html.escape(method.upper()),
                    html.escape(path),
                    html.escape(str(op.get("summary", ""))),
                    html.escape(params),
                    html.escape(codes),
                )
            )
    title = html.escape(str(doc.get("info", {}).get("title", "API")))
    return (
        "<!doctype html><html lang='en'><head><meta charset='utf-8'>"
        f"<title>{title} - API</title></head><body><h1>{title} API</h1>"
        "<p>OpenAPI document: <a href='schema'>schema</a> (Swagger UI needs the "
        "<code>fastapi-offline</code> package).</p>"
        "<table><thead><tr><th>method</th><th>path</th><th>summary</th><th>parameters</th>"
        f"<th>responses</th></tr></thead><tbody>{''.join(rows)}</tbody></table></body></html>"
    )
