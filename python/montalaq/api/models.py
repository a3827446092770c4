"""Response shapes of the HTTP API, for the OpenAPI schema (docs/semantics.md, "HTTP API").

These pydantic models *document* the bodies; the endpoints serialise with
:mod:`montalaq.api.responses` and return bytes, so they are never validated per request.
The schema tests (schemathesis) check every answer against them. Each is derived from its
record in :mod:`montalaq.shapes` (:func:`~montalaq.api.derive.record_model`), never declared
again here. Times are ISO-8601 UTC strings with ``Z``; a field typed ``float | None`` is
``null`` where the value is undefined, never NaN.
"""

from __future__ import annotations

import types

from montalaq import shapes
from montalaq.api.derive import record_model
from montalaq.shapes import EscalationEvent

_STATUS = {"status": "never_run, ok or error"}

# Records nested in others first: the outer model refers to the inner one by its name.
ErrorDetail = record_model(shapes.ErrorDetail)
AgentHealth = record_model(shapes.AgentHealth, descriptions=_STATUS)
ReplayInfo = record_model(shapes.ReplayInfo)
SchedulerInfo = record_model(shapes.SchedulerInfo)
Health = record_model(shapes.Health, replay=None, scheduler=None)
Livez = record_model(shapes.Livez)
AlertItem = record_model(shapes.AlertDoc, name="AlertItem")
Alerts = record_model(shapes.AlertsView, name="Alerts")
AlertAck = record_model(shapes.AlertAck)
ErrorTypeSummary = record_model(shapes.ErrorTypeSummary)
ErrorSummary = record_model(shapes.ErrorSummary)
HealthSnapshot = record_model(shapes.HealthSnapshot, providers=[], llm=None)
DbHealth = record_model(shapes.DbHealth, error=None)
AgentInfo = record_model(shapes.AgentInfo, descriptions=_STATUS)
FindingOut = record_model(shapes.FindingDoc, name="FindingOut")
Agents = record_model(shapes.Agents)
RunResult = record_model(shapes.RunResult, error=None)
RunNowResult = record_model(shapes.RunNowResult)
Findings = record_model(shapes.Findings)
Signals = record_model(shapes.Signals)
SignalsTF = record_model(shapes.SignalsTF, extra=True)  # other timeframes add their keys
FrameFeatures = record_model(shapes.FrameFeatures)
Trend = record_model(shapes.Trend)
OpenBarOut = record_model(shapes.Bar, name="OpenBarOut")
BarOut = record_model(shapes.ClosedBar, name="BarOut")
BarsOut = record_model(shapes.Bars, name="BarsOut")
DebugFeatures = record_model(
    shapes.FeaturesView, name="DebugFeatures", extra=True
)  # flat keys per TIMEFRAMES
AnalysisOut = record_model(shapes.AnalysisDoc, name="AnalysisOut")
AnalysisHistory = types.GenericAlias(list, (AnalysisOut,))
"""``GET /api/analysis/history``: a list of :data:`AnalysisOut`."""
PairStatus = record_model(shapes.PairStatus, calendar="24/7")
ProviderSummary = record_model(shapes.ProviderSummary, closed=0, unknown=0)
IngestionStatus = record_model(shapes.IngestionStatus)
BreakerClose = record_model(shapes.BreakerClose)  # its event: the EscalationEvent record, as is

__all__ = [
    "AgentHealth",
    "AgentInfo",
    "Agents",
    "AlertAck",
    "AlertItem",
    "Alerts",
    "AnalysisHistory",
    "AnalysisOut",
    "BarOut",
    "BarsOut",
    "BreakerClose",
    "DbHealth",
    "DebugFeatures",
    "ErrorDetail",
    "ErrorSummary",
    "ErrorTypeSummary",
    "EscalationEvent",
    "FindingOut",
    "Findings",
    "FrameFeatures",
    "Health",
    "HealthSnapshot",
    "IngestionStatus",
    "Livez",
    "OpenBarOut",
    "PairStatus",
    "ProviderSummary",
    "ReplayInfo",
    "RunNowResult",
    "RunResult",
    "SchedulerInfo",
    "Signals",
    "SignalsTF",
    "Trend",
]
