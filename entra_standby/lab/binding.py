"""Parameter binding for the few cmdlets the lab runs, as Windows PowerShell 5.1's binder does it.

Each cmdlet is described with its real parameters (names, aliases, positions, types, parameter sets,
mandatory flags, validation) from its documentation, plus the common parameters every cmdlet has. Binding
follows PowerShell: named arguments first (a unique prefix of a name works), then positional ones in
position order, then type conversion, validation, parameter-set resolution and mandatory checks. Errors carry
PowerShell's FullyQualifiedErrorId (``<id>,<cmdlet class>``) and message (ParameterBinderStrings). A real
parameter the lab does not implement fails with ``LabNotServed`` instead of being ignored.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from .engine import ErrorInfo
from .pslang import Arg, PSFailure, not_served, number

_TYPE_NAMES = {
    "int": "System.Int32",
    "string": "System.String",
    "switch": "System.Management.Automation.SwitchParameter",
    "bool": "System.Boolean",
    "object": "System.Management.Automation.PSObject",
    "objects": "System.Object[]",
}
_INT32 = (-(2**31), 2**31 - 1)


@dataclass(frozen=True)
class Param:
    name: str
    type: str  # a key of _TYPE_NAMES
    position: int | None = None
    mandatory: bool = False
    sets: tuple[str, ...] = ()  # the parameter sets it belongs to; () = every set
    aliases: tuple[str, ...] = ()
    served: bool = True  # False: a real parameter the lab does not implement
    pipeline: bool = False  # ValueFromPipeline
    remaining: bool = False  # ValueFromRemainingArguments
    value_range: tuple[int, int] | None = None  # ValidateRange
    allow_null: bool = False


@dataclass(frozen=True)
class CmdletSpec:
    name: str
    type_name: str  # the implementing class, suffix of FullyQualifiedErrorIds
    params: tuple[Param, ...]
    default_set: str | None = None
    pipeline_served: bool = False  # whether the lab implements pipeline input for it
    module: str = "Microsoft.PowerShell.Utility"  # for module-qualified names (Module\\Name)
    aliases: tuple[str, ...] = ()  # Windows PowerShell 5.1's built-in aliases (Get-Alias)


# about_CommonParameters (5.1): every cmdlet has them; the lab implements none.
COMMON = tuple(
    Param(name, kind, aliases=(alias,), served=False)
    for name, kind, alias in (
        ("Verbose", "switch", "vb"), ("Debug", "switch", "db"), ("ErrorAction", "string", "ea"),
        ("WarningAction", "string", "wa"), ("InformationAction", "string", "infa"),
        ("ErrorVariable", "string", "ev"), ("WarningVariable", "string", "wv"),
        ("InformationVariable", "string", "iv"), ("OutVariable", "string", "ov"), ("OutBuffer", "int", "ob"),
        ("PipelineVariable", "string", "pv"),
    )
)

_PS = "Microsoft.PowerShell.Commands."
_ADSYNC = "Microsoft.IdentityManagement.PowerShell.Cmdlet."
# Parameters: docs.microsoft.com PowerShell 5.1 reference (Microsoft.PowerShell.Utility / Management) and the
# ADSync cmdlet reference (reference-connect-adsync), see ../shared/reference/entra-connect.md.
CMDLETS: dict[str, CmdletSpec] = {spec.name.lower(): spec for spec in (
    CmdletSpec("Write-Output", _PS + "WriteOutputCommand", (
        Param("InputObject", "objects", position=0, mandatory=True, pipeline=True, remaining=True,
              allow_null=True),
        Param("NoEnumerate", "switch", served=False),
    ), pipeline_served=True, aliases=("echo", "write")),
    CmdletSpec("Start-Sleep", _PS + "StartSleepCommand", (
        Param("Seconds", "int", position=0, mandatory=True, sets=("Seconds",), pipeline=True,
              value_range=(0, 2147483)),
        Param("Milliseconds", "int", mandatory=True, sets=("Milliseconds",), aliases=("ms",),
              value_range=(0, 2147483647)),
    ), default_set="Seconds", aliases=("sleep",)),
    CmdletSpec("Select-Object", _PS + "SelectObjectCommand", (
        Param("InputObject", "object", pipeline=True, served=False),
        Param("Property", "objects", position=0),
        Param("ExcludeProperty", "objects", served=False),
        Param("ExpandProperty", "string"),
        Param("Unique", "switch", served=False),
        Param("Last", "int", served=False),
        Param("First", "int", served=False),
        Param("Skip", "int", served=False),
        Param("SkipLast", "int", served=False),
        Param("Wait", "switch", served=False),
        Param("Index", "objects", served=False),
    ), pipeline_served=True, aliases=("select",)),
    CmdletSpec("Out-String", _PS + "OutStringCommand", (
        Param("Stream", "switch"),
        Param("Width", "int", served=False),
        Param("InputObject", "object", pipeline=True, served=False),
    ), pipeline_served=True),
    CmdletSpec("Invoke-Expression", _PS + "InvokeExpressionCommand", (
        Param("Command", "string", position=0, mandatory=True, pipeline=True),
    ), aliases=("iex",)),
    CmdletSpec("Get-ADSyncScheduler", _ADSYNC + "GetADSyncSchedulerCmdlet", (), module="ADSync"),
    CmdletSpec("Start-ADSyncSyncCycle", _ADSYNC + "StartADSyncSyncCycleCmdlet", (
        Param("PolicyType", "string", position=0),
        Param("InteractiveMode", "bool", position=1, served=False),
    ), module="ADSync"),
)}


def find_cmdlet(name: str) -> CmdletSpec | None:
    """The cmdlet a command name resolves to: its name, a built-in alias, or ``Module\\Name``."""
    module, _, bare = name.rpartition("\\")
    lowered = bare.lower()
    for spec in CMDLETS.values():
        if module and (module.lower() != spec.module.lower() or lowered != spec.name.lower()):
            continue
        if lowered == spec.name.lower() or (not module and lowered in spec.aliases):
            return spec
    return None


def _err(spec: CmdletSpec, error_id: str, message: str, *, validation: bool = False) -> PSFailure:
    return PSFailure(ErrorInfo(
        message=message, fully_qualified_error_id=f"{error_id},{spec.type_name}",
        category="InvalidData" if validation else "InvalidArgument",
        exception_type="System.Management.Automation.ParameterBindingValidationException" if validation
        else "System.Management.Automation.ParameterBindingException",
        target=None))


def display(value: Any) -> str:
    """A value as PowerShell shows it in binding messages (its ToString())."""
    if value is None:
        return ""
    if isinstance(value, bool):
        return "True" if value else "False"
    if isinstance(value, list | tuple):
        return "System.Object[]"
    if isinstance(value, dict):
        return "System.Management.Automation.PSCustomObject"
    if isinstance(value, float):
        # .NET Framework's Double.ToString(): 15 significant digits, "E+20" exponents, Infinity/NaN.
        if value != value:
            return "NaN"
        if value in (float("inf"), float("-inf")):
            return "Infinity" if value > 0 else "-Infinity"
        return format(value, ".15g").replace("e", "E")
    return str(value)


def _resolve(spec: CmdletSpec, given: str) -> Param:
    params = spec.params + COMMON
    lowered = given.lower()
    exact = [p for p in params if p.name.lower() == lowered or lowered in (a.lower() for a in p.aliases)]
    if exact:
        return exact[0]
    prefixed = [p for p in params if p.name.lower().startswith(lowered)]
    if len(prefixed) == 1:
        return prefixed[0]
    if prefixed:
        names = " ".join(f"-{p.name}" for p in prefixed)
        raise _err(spec, "AmbiguousParameter", f"Parameter cannot be processed because the parameter "
                   f"name '{given}' is ambiguous. Possible matches include: {names}.")
    raise _err(spec, "NamedParameterNotFound",
               f"A parameter cannot be found that matches parameter name '{given}'.")


def _to_int(spec: CmdletSpec, param: Param, value: Any) -> int:
    def cannot(reason: str) -> PSFailure:
        return _err(spec, "CannotConvertArgumentNoMessage", f"Cannot bind parameter '{param.name}'. "
                    f"Cannot convert value \"{display(value)}\" to type \"System.Int32\". "
                    f"Error: \"{reason}\"")

    converted: int | float | None
    if isinstance(value, bool):
        converted = int(value)
    elif isinstance(value, int | float):
        converted = value
    elif isinstance(value, str):
        converted = number(value.strip()) if value.strip() else 0
        if converted is None:
            raise cannot("Input string was not in a correct format.")
    elif isinstance(value, list | tuple):
        raise not_served(f"an array bound to the [int] parameter -{param.name} of {spec.name}")
    else:
        raise not_served(f"a {type(value).__name__} bound to the [int] parameter -{param.name} of "
                         f"{spec.name}")
    whole = round(converted)  # .NET Convert.ToInt32: banker's rounding, as Python's round()
    if not _INT32[0] <= whole <= _INT32[1]:
        raise cannot("Value was either too large or too small for an Int32.")
    return whole


def _to_switch(spec: CmdletSpec, param: Param, value: Any) -> bool:
    if value is None or isinstance(value, bool):
        return value is not False
    if isinstance(value, int) and not isinstance(value, bool):
        return value != 0
    kind = "System.String" if isinstance(value, str) else "System.Object[]"
    raise _err(spec, "ParameterArgumentTransformationError",
               f"Cannot process argument transformation on parameter '{param.name}'. Cannot convert "
               f"value \"{kind}\" to type \"{_TYPE_NAMES[param.type]}\". Boolean parameters accept "
               "only Boolean values and numbers, such as $True, $False, 1 or 0.")


def _convert(spec: CmdletSpec, param: Param, value: Any) -> Any:
    if value is None and param.type != "switch":
        if param.mandatory and not param.allow_null:
            raise _err(spec, "ParameterArgumentValidationErrorNullNotAllowed",
                       f"Cannot bind argument to parameter '{param.name}' because it is null.",
                       validation=True)
        return None
    if isinstance(value, dict) and param.type not in ("object", "objects"):
        raise not_served(f"an object bound to the parameter -{param.name} of {spec.name}")
    if param.type == "int":
        whole = _to_int(spec, param, value)
        low, high = param.value_range or _INT32
        if whole > high:
            raise _err(spec, "ParameterArgumentValidationError", f"Cannot validate argument on "
                       f"parameter '{param.name}'. The {whole} argument is greater than the maximum "
                       f"allowed range of {high}. Supply an argument that is less than or equal to "
                       f"{high} and then try the command again.", validation=True)
        if whole < low:
            raise _err(spec, "ParameterArgumentValidationError", f"Cannot validate argument on "
                       f"parameter '{param.name}'. The {whole} argument is less than the minimum "
                       f"allowed range of {low}. Supply an argument that is greater than or equal to "
                       f"{low} and then try the command again.", validation=True)
        return whole
    if param.type in ("switch", "bool"):
        return _to_switch(spec, param, value)
    if param.type == "string":
        # PowerShell joins an array with $OFS (a space) when a string is wanted.
        return " ".join(display(v) for v in value) if isinstance(value, list | tuple) else display(value)
    if param.type == "objects":
        return list(value) if isinstance(value, list | tuple) else [value]
    return value


def bind(spec: CmdletSpec, args: tuple[Arg, ...], *, pipeline_input: bool) -> dict[str, Any]:
    """The bound parameters (lower-case names) of one call, or a ``PSFailure`` as PowerShell would raise."""
    named: dict[Param, Any] = {}
    positional: list[Arg] = []
    i = 0
    while i < len(args):
        arg = args[i]
        i += 1
        if arg.name is None:
            positional.append(arg)
            continue
        param = _resolve(spec, arg.name)
        if param in named:
            raise _err(spec, "ParameterAlreadyBound", f"Cannot bind parameter because parameter "
                       f"'{param.name}' is specified more than once. To provide multiple values to "
                       "parameters that can accept multiple values, use the array syntax. For example, "
                       '"-parameter value1,value2,value3".')
        if param.type == "switch":
            value = arg.value if arg.has_value else True
        elif arg.has_value:
            value = arg.value
        elif i < len(args) and args[i].name is None:
            value = args[i].value
            i += 1
        else:
            raise _err(spec, "MissingArgument", f"Missing an argument for parameter '{param.name}'. "
                       f"Specify a parameter of type '{_TYPE_NAMES[param.type]}' and try again.")
        if not param.served:
            raise not_served(f"the parameter -{param.name} of {spec.name}")
        named[param] = value

    slots = sorted((p for p in spec.params if p.position is not None and p not in named),
                   key=lambda p: p.position or 0)
    while positional:
        if not slots:
            raise _err(spec, "PositionalParameterNotFound", "A positional parameter cannot be found "
                       f"that accepts argument '{display(positional[0].value)}'.")
        param = slots.pop(0)
        if not param.served:
            raise not_served(f"the parameter -{param.name} of {spec.name}")
        if param.remaining and len(positional) > 1:
            values = [a.value for a in positional]
            if any(isinstance(v, list | tuple) for v in values):
                raise not_served(f"arrays among several arguments to -{param.name} of {spec.name}")
            named[param] = values
            positional = []
        else:
            named[param] = positional.pop(0).value

    bound = {param: _convert(spec, param, value) for param, value in named.items()}
    sets = {s for p in spec.params for s in p.sets}
    chosen = sets
    for param in bound:
        if param.sets:
            chosen = chosen & set(param.sets)
    if sets and not chosen:
        raise _err(spec, "AmbiguousParameterSet",
                   "Parameter set cannot be resolved using the specified named parameters.")
    active = next(iter(chosen)) if len(chosen) == 1 else spec.default_set
    missing = [p.name for p in spec.params if p.mandatory and p not in bound
               and (not p.sets or active in p.sets) and not (p.pipeline and pipeline_input)]
    if missing:
        raise _err(spec, "MissingMandatoryParameter", "Cannot process command because of one or more "
                   f"missing mandatory parameters: {' '.join(missing)}.")
    if pipeline_input and not spec.pipeline_served:
        raise not_served(f"pipeline input to {spec.name}")
    if pipeline_input and any(p.pipeline for p in bound):
        raise not_served(f"pipeline input to {spec.name} with its pipeline parameter also given")
    return {param.name.lower(): value for param, value in bound.items()}
