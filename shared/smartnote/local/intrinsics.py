"""CloudFormation's condition functions, `Fn::Split`, `Fn::Select` and `Fn::Sub` of parameters,
for a resource the local stack creates or mirrors.

A resource property built from parameters and conditions (the uploads bucket's CORS rule:
`!If [HasCorsOrigins, ..., !Ref AWS::NoValue]`, the CORS headers of the API's GatewayResponses)
is resolved here with the local values of those parameters, so the local resource is the
template's own, not a copy that may drift.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping
from typing import Any

# `${Name}` in a `Fn::Sub` string; `${!Name}` is the literal `${Name}`.
_SUB_VARIABLE = re.compile(r"\$\{(!?)([^}]*)\}")


class Unresolvable(ValueError):
    """An intrinsic function or reference the local stack has no value for."""


class _NoValue:
    """`!Ref AWS::NoValue`: the property (or list item) is left out."""


NO_VALUE = _NoValue()


class Resolver:
    """Resolves values with `parameter` (a parameter's local value, by name; raises
    Unresolvable for none) and the template's `Conditions`."""

    def __init__(self, parameter: Callable[[str], str], conditions: Mapping[str, Any]) -> None:
        self.parameter = parameter
        self.conditions = conditions

    def condition(self, name: str) -> bool:
        if name not in self.conditions:
            raise Unresolvable(f"no condition {name!r} in the template")
        return bool(self.resolve(self.conditions[name]))

    def resolve(self, value: Any) -> Any:
        """`value` with its intrinsics evaluated; NO_VALUE for `!Ref AWS::NoValue`."""
        if isinstance(value, list):
            items = (self.resolve(item) for item in value)
            return [item for item in items if item is not NO_VALUE]
        if not isinstance(value, Mapping):
            return value
        if len(value) == 1:
            ((key, argument),) = value.items()
            if key in {"Ref", "Condition"} or str(key).startswith("Fn::"):
                function = self._FUNCTIONS.get(str(key))
                if function is None:
                    raise Unresolvable(f"{key} is not evaluated locally")
                return function(self, argument)
        resolved = ((key, self.resolve(item)) for key, item in value.items())
        return {key: item for key, item in resolved if item is not NO_VALUE}

    def _ref(self, name: str) -> Any:
        return NO_VALUE if name == "AWS::NoValue" else self.parameter(str(name))

    def _if(self, argument: list[Any]) -> Any:
        condition, if_true, if_false = argument
        return self.resolve(if_true if self.condition(str(condition)) else if_false)

    def _not(self, argument: list[Any]) -> bool:
        (operand,) = argument
        return not self.resolve(operand)

    def _and(self, argument: list[Any]) -> bool:
        return all(self.resolve(operand) for operand in argument)

    def _or(self, argument: list[Any]) -> bool:
        return any(self.resolve(operand) for operand in argument)

    def _equals(self, argument: list[Any]) -> bool:
        left, right = argument
        return bool(self.resolve(left) == self.resolve(right))

    def _split(self, argument: list[Any]) -> list[str]:
        separator, source = argument
        return str(self.resolve(source)).split(separator)

    def _select(self, argument: list[Any]) -> Any:
        index, items = argument
        return self.resolve(items)[int(self.resolve(index))]

    def _sub(self, argument: Any) -> str:
        """The string form only, its variables parameters (no `Res.Attr`, no variable map)."""
        if not isinstance(argument, str):
            raise Unresolvable("Fn::Sub with a variable map is not evaluated locally")

        def variable(match: re.Match[str]) -> str:
            literal, name = match[1], match[2]
            return f"${{{name}}}" if literal else str(self.parameter(name))

        return _SUB_VARIABLE.sub(variable, argument)

    _FUNCTIONS: dict[str, Callable[[Resolver, Any], Any]] = {
        "Ref": _ref,
        "Condition": condition,
        "Fn::If": _if,
        "Fn::Not": _not,
        "Fn::And": _and,
        "Fn::Or": _or,
        "Fn::Equals": _equals,
        "Fn::Split": _split,
        "Fn::Select": _select,
        "Fn::Sub": _sub,
    }
