"""The HTTP API against its own OpenAPI schema (``/api/schema``) with schemathesis: every
operation, with generated valid and invalid parameters, answers only documented status
codes with bodies of the documented shapes, never a 5xx -- GETs, and POSTs both with the
token and without it.

The app is built when the module is imported: schemathesis parametrizes the tests from the
schema at collection (its fixture-based lazy loader does not run on this pytest)."""

from __future__ import annotations

import shutil
import tempfile
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import schemathesis
from api_fixtures import TOKEN, host_app, stepped_service
from hypothesis import HealthCheck, settings
from schemathesis.config import SchemathesisConfig

from montalaq.api import create_router

_DIR = Path(tempfile.mkdtemp(prefix="montalaq-schema-"))
# 13:30-14:10 replayed: analyses, findings and a defined trend score exist.
_SERVICE = stepped_service(_DIR / "schema.db", 40)
_APP = host_app(create_router(_SERVICE, token=TOKEN), prefix="/montalaq")
# With the token (schemathesis sends it, and leaves it out in its negative cases) ...
schema = schemathesis.openapi.from_asgi(
    "/montalaq/api/schema",
    _APP,
    config=SchemathesisConfig.from_dict({"auth": {"openapi": {"bearerToken": {"bearer": TOKEN}}}}),
)
# ... and without it.
schema_without_token = schemathesis.openapi.from_asgi("/montalaq/api/schema", _APP)
EXAMPLES = settings(max_examples=25, deadline=None, suppress_health_check=list(HealthCheck), database=None)


@pytest.fixture(scope="module", autouse=True)
def _cleanup() -> Iterator[None]:
    yield
    _SERVICE.store.close()
    shutil.rmtree(_DIR, ignore_errors=True)


@schema.parametrize()
@EXAMPLES
def test_every_operation_answers_as_documented(case: Any) -> None:
    case.call_and_validate()


@schema_without_token.include(method="POST").parametrize()
@EXAMPLES
def test_posts_without_the_token_answer_as_documented(case: Any) -> None:
    response = case.call_and_validate()
    # schemathesis also tries the other methods on these paths: 405 is the answer there
    assert response.status_code == (401 if case.method.upper() == "POST" else 405)
