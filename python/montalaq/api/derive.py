"""The API's pydantic models built from the records of :mod:`montalaq.shapes`, so that each
record is declared once (docs/architecture.md, "Records"): the fields, their types and the
docstring come from the TypedDict; nested records become their models, ``IsoTime`` a
date-time. What only the API adds is given here: defaults (a field the schema does not
require), descriptions and extra keys.
"""

from __future__ import annotations

import types
from collections.abc import Mapping
from datetime import datetime
from typing import Annotated, Any, Literal, NotRequired, Required, Union, get_args, get_origin

import typing_extensions
from pydantic import BaseModel, ConfigDict, Field, create_model

from montalaq.shapes import IsoTime

_MODELS: dict[object, type[BaseModel]] = {}
RECORDS: dict[str, tuple[type[BaseModel], object]] = {}
"""Every derived model by its name, with the record it was derived from (for the tests)."""


def record_model(
    record: object,
    /,
    *,
    name: str | None = None,
    extra: bool = False,
    descriptions: Mapping[str, str] | None = None,
    **defaults: Any,
) -> type[BaseModel]:
    """The pydantic model of the TypedDict ``record``: named ``name`` (default the record's
    own name), its docstring the schema's description. ``defaults`` make fields optional in
    the schema (None also makes the type nullable); a key the record marks ``NotRequired``
    must have one. ``extra`` allows keys beyond the record's (flat keys per timeframe)."""
    if not typing_extensions.is_typeddict(record):
        raise TypeError(f"record: expected a TypedDict class, got {record!r}")
    hints = typing_extensions.get_type_hints(record, include_extras=True)
    title = name or str(getattr(record, "__name__", ""))
    notes = dict(descriptions or {})
    unknown = sorted((set(defaults) | set(notes)) - set(hints))
    if unknown:
        raise TypeError(f"{title}: no such field(s) {unknown} in {getattr(record, '__name__', record)}")
    fields: dict[str, Any] = {}
    for key, hint in hints.items():
        tp, required = _requiredness(hint)
        tp = api_type(tp)
        if key in defaults:
            default = defaults[key]
            if default is None and type(None) not in get_args(tp) and tp is not Any:
                tp = Union[tp, None]  # noqa: UP007 - tp is a runtime value
        elif not required:
            raise TypeError(f"{title}.{key}: a key that may be missing needs a default in the API's model")
        else:
            default = ...
        fields[key] = (tp, Field(default, description=notes[key]) if key in notes else default)
    model: type[BaseModel] = create_model(
        title,
        __config__=ConfigDict(extra="allow") if extra else None,
        __doc__=getattr(record, "__doc__", None),
        __module__="montalaq.api.models",
        **fields,
    )
    _MODELS[record] = model
    RECORDS[title] = (model, record)
    return model


def _requiredness(hint: Any) -> tuple[Any, bool]:
    """``hint`` without NotRequired/Required, and whether the key must be present."""
    origin = get_origin(hint)
    if origin in (NotRequired, typing_extensions.NotRequired):
        return get_args(hint)[0], False
    if origin in (Required, typing_extensions.Required):
        return get_args(hint)[0], True
    return hint, True


def api_type(tp: Any) -> Any:
    """``tp`` as the API's schema shows it: records that have a model replaced by it (also
    inside lists, dicts and unions), ``IsoTime`` by ``datetime``."""
    if tp is IsoTime:
        return datetime
    model = _MODELS.get(tp)
    if model is not None:
        return model
    origin = get_origin(tp)
    if origin is None or origin is Literal:
        return tp
    args = get_args(tp)
    if origin is Annotated:
        return Annotated[(api_type(args[0]), *tp.__metadata__)]
    mapped = tuple(api_type(a) for a in args)
    if origin in (Union, types.UnionType):
        return Union[mapped]  # noqa: UP007 - built from runtime values
    return origin[mapped]


__all__ = ["RECORDS", "api_type", "record_model"]
