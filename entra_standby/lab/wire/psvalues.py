"""Conversions between psrpcore's PowerShell objects and the plain Python values the engine speaks."""

from __future__ import annotations

from typing import Any

from psrpcore.types import (
    ErrorCategory,
    ErrorCategoryInfo,
    ErrorRecord,
    NETException,
    PSInt64,
    PSObject,
)

from entra_standby.lab.engine import ErrorInfo

_INT32 = range(-(2**31), 2**31)


def to_plain(value: Any, _depth: int = 0) -> Any:
    """A deserialised PSRP value as str/int/float/bool/None/list/dict (custom objects become dicts)."""
    if _depth > 32:  # a cyclic or absurdly deep object graph: stop rather than recurse forever
        return str(value)
    if value is None or isinstance(value, bool):
        return value
    if isinstance(value, str):
        return str(value)
    if isinstance(value, int):
        return int(value)
    if isinstance(value, float):
        return float(value)
    if isinstance(value, dict):
        return {str(to_plain(k, _depth + 1)): to_plain(v, _depth + 1) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [to_plain(v, _depth + 1) for v in value]
    if isinstance(value, PSObject):
        meta = value.PSObject
        props = list(meta.adapted_properties) + list(meta.extended_properties)
        if props:
            return {p.name: to_plain(p.get_value(value), _depth + 1) for p in props}
        if meta.to_string is not None:
            return str(meta.to_string)
    return str(value)


def to_ps(value: Any) -> Any:
    """A plain engine value in the form psrpcore serialises faithfully (large ints as Int64)."""
    if isinstance(value, bool) or value is None:
        return value
    if isinstance(value, int) and value not in _INT32:
        return PSInt64(value)
    if isinstance(value, dict):
        return {str(k): to_ps(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [to_ps(v) for v in value]
    return value


def net_exception(info: ErrorInfo) -> NETException:
    exception = NETException(Message=info.message, HResult=-2146233087)
    type_names = [info.exception_type]
    if info.exception_type != "System.Management.Automation.RuntimeException":
        type_names.append("System.Management.Automation.RuntimeException")
    type_names += ["System.SystemException", *exception.PSTypeNames]
    exception.PSObject.type_names = type_names
    return exception


def category_info(info: ErrorInfo) -> ErrorCategoryInfo:
    category = ErrorCategory.__members__.get(info.category, ErrorCategory.NotSpecified)
    reason = info.exception_type.rsplit(".", 1)[-1]
    return ErrorCategoryInfo(Category=category, Reason=reason, TargetName=info.target or "")


def error_record(info: ErrorInfo) -> ErrorRecord:
    """The ErrorRecord of a terminating failure (PipelineState Failed's ExceptionAsErrorRecord)."""
    return ErrorRecord(
        Exception=net_exception(info),
        CategoryInfo=category_info(info),
        TargetObject=info.target,
        FullyQualifiedErrorId=info.fully_qualified_error_id,
    )
