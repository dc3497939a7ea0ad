"""Load a SAM/CloudFormation template and resolve what the local engine needs.

The local engine does not run the SAM transform. It reads the template as data (short-form intrinsics
included), merges ``Globals.Function`` into each ``AWS::Serverless::Function`` the way SAM does, and
resolves intrinsics (``Ref``, ``Fn::GetAtt``, ``Fn::Sub``, ``Fn::If`` ...) against

* parameters (defaults, overridable),
* pseudo parameters (``AWS::Region``, ``AWS::AccountId`` ...),
* the physical names/ARNs/URLs of the resources the engine created (filled in by the engine after it
  provisioned the moto server, because some of them, e.g. stream ARNs, are only known then).
"""

from __future__ import annotations

import copy
import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

__all__ = [
    "TemplateError",
    "Template",
    "FunctionSpec",
    "EventSpec",
    "load_template",
    "NO_VALUE",
]


class TemplateError(ValueError):
    """The template cannot be loaded or an intrinsic cannot be resolved locally."""


class _NoValue:
    def __repr__(self) -> str:  # pragma: no cover - debugging aid
        return "AWS::NoValue"


NO_VALUE = _NoValue()

# --------------------------------------------------------------------------------------------- YAML

_BaseLoader: type = getattr(yaml, "CSafeLoader", yaml.SafeLoader)


class _CfnLoader(_BaseLoader):  # type: ignore[misc, valid-type]
    """Safe YAML loader that understands CloudFormation short-form intrinsics (``!Ref`` ...)."""


def _construct_node(loader: yaml.Loader, node: yaml.Node) -> Any:
    if isinstance(node, yaml.ScalarNode):
        return loader.construct_scalar(node)
    if isinstance(node, yaml.SequenceNode):
        return loader.construct_sequence(node, deep=True)
    return loader.construct_mapping(node, deep=True)


def _multi_constructor(loader: yaml.Loader, tag_suffix: str, node: yaml.Node) -> Any:
    tag = tag_suffix
    value = _construct_node(loader, node)
    if tag == "Ref":
        return {"Ref": value}
    if tag == "Condition":
        return {"Condition": value}
    if tag == "GetAtt" and isinstance(value, str):
        resource, _, attribute = value.partition(".")
        return {"Fn::GetAtt": [resource, attribute]}
    return {f"Fn::{tag}": value}


_CfnLoader.add_multi_constructor("!", _multi_constructor)
# CloudFormation has no YAML timestamps: keep "2010-09-09" a string even when unquoted.
_CfnLoader.yaml_implicit_resolvers = {
    key: [(tag, regexp) for tag, regexp in resolvers if tag != "tag:yaml.org,2002:timestamp"]
    for key, resolvers in _CfnLoader.yaml_implicit_resolvers.copy().items()
}


def parse_yaml(text: str) -> dict[str, Any]:
    data = yaml.load(text, Loader=_CfnLoader)  # noqa: S506 - a SafeLoader subclass
    if not isinstance(data, dict):
        raise TemplateError("template is not a mapping")
    return data


# --------------------------------------------------------------------------------------------- model


@dataclass
class EventSpec:
    """One entry of a function's ``Events`` (properties resolved)."""

    name: str
    type: str
    properties: dict[str, Any]


@dataclass
class FunctionSpec:
    """An ``AWS::Serverless::Function`` after the Globals merge and intrinsic resolution."""

    logical_id: str
    physical_name: str
    arn: str
    code_uri: Path
    handler: str
    runtime: str | None
    timeout: int
    memory_size: int
    environment: dict[str, str]
    events: dict[str, EventSpec] = field(default_factory=dict)
    properties: dict[str, Any] = field(default_factory=dict)

    @property
    def module_name(self) -> str:
        return self.handler.rsplit(".", 1)[0]

    @property
    def handler_name(self) -> str:
        return self.handler.rsplit(".", 1)[1]

    def events_of_type(self, event_type: str) -> list[EventSpec]:
        return [e for e in self.events.values() if e.type == event_type]


_PSEUDO_DEFAULTS = {
    "AWS::Partition": "aws",
    "AWS::URLSuffix": "amazonaws.com",
    "AWS::NotificationARNs": [],
}

_SUB_RE = re.compile(r"\$\{([^}!][^}]*)\}")


class Template:
    """A parsed template plus the resolution context (parameters, pseudo parameters, resource attributes).

    ``refs`` maps a logical id to what ``!Ref`` returns; ``attributes`` maps ``(logical_id, attribute)`` to
    what ``!GetAtt`` returns. The engine fills both in after creating the resources.
    """

    def __init__(
        self,
        data: dict[str, Any],
        *,
        base_dir: Path,
        parameters: Mapping[str, Any] | None = None,
        region: str = "eu-central-1",
        account_id: str = "123456789012",
        stack_name: str = "crm-local",
    ) -> None:
        self.data = data
        self.base_dir = base_dir
        self.region = region
        self.account_id = account_id
        self.stack_name = stack_name
        self.resources: dict[str, dict[str, Any]] = data.get("Resources") or {}
        self.parameters = self._parameter_values(parameters or {})
        self.pseudo: dict[str, Any] = {
            **_PSEUDO_DEFAULTS,
            "AWS::Region": region,
            "AWS::AccountId": account_id,
            "AWS::StackName": stack_name,
            "AWS::StackId": f"arn:aws:cloudformation:{region}:{account_id}:stack/{stack_name}/local",
        }
        self.refs: dict[str, Any] = {}
        self.attributes: dict[tuple[str, str], Any] = {}
        self._conditions: dict[str, bool] = {}

    # ---------------------------------------------------------------- parameters / conditions

    def _parameter_values(self, overrides: Mapping[str, Any]) -> dict[str, Any]:
        declared: dict[str, Any] = self.data.get("Parameters") or {}
        unknown = set(overrides) - set(declared)
        if unknown:
            raise TemplateError(f"unknown parameter(s): {', '.join(sorted(unknown))}")
        values: dict[str, Any] = {}
        for name, spec in declared.items():
            if name in overrides:
                value = overrides[name]
            elif "Default" in spec:
                value = spec["Default"]
            else:
                raise TemplateError(f"parameter {name} has no Default; pass it in parameters=")
            allowed = spec.get("AllowedValues")
            if allowed is not None and str(value) not in [str(a) for a in allowed]:
                raise TemplateError(f"parameter {name}={value!r} is not one of {allowed}")
            values[name] = value if spec.get("Type", "String").startswith("List") else _scalar(value)
        return values

    def condition(self, name: str) -> bool:
        if name not in self._conditions:
            conditions = self.data.get("Conditions") or {}
            if name not in conditions:
                raise TemplateError(f"unknown condition {name}")
            self._conditions[name] = bool(self.resolve(conditions[name]))
        return self._conditions[name]

    def resource_enabled(self, logical_id: str) -> bool:
        cond = self.resources[logical_id].get("Condition")
        return True if cond is None else self.condition(cond)

    # ---------------------------------------------------------------- resources

    def resources_of_type(self, resource_type: str) -> dict[str, dict[str, Any]]:
        return {
            lid: res
            for lid, res in self.resources.items()
            if res.get("Type") == resource_type and self.resource_enabled(lid)
        }

    def function_properties(self, logical_id: str) -> dict[str, Any]:
        """The function's properties with ``Globals.Function`` merged in (unresolved)."""
        globals_fn = (self.data.get("Globals") or {}).get("Function") or {}
        own = self.resources[logical_id].get("Properties") or {}
        return _sam_merge(copy.deepcopy(globals_fn), copy.deepcopy(own))

    # ---------------------------------------------------------------- intrinsics

    def resolve(self, value: Any) -> Any:
        """Resolve every intrinsic in ``value`` (recursively). ``AWS::NoValue`` removes the key/item."""
        if isinstance(value, dict):
            if len(value) == 1:
                (key, arg), = value.items()
                if key == "Ref":
                    return self._ref(arg)
                if key == "Condition" and isinstance(arg, str):
                    return self.condition(arg)
                if key.startswith("Fn::"):
                    return self._fn(key, arg)
            out = {}
            for k, v in value.items():
                r = self.resolve(v)
                if r is not NO_VALUE:
                    out[k] = r
            return out
        if isinstance(value, list):
            return [r for r in (self.resolve(v) for v in value) if r is not NO_VALUE]
        return value

    def _ref(self, name: Any) -> Any:
        name = self.resolve(name)
        if name == "AWS::NoValue":
            return NO_VALUE
        if name in self.parameters:
            return self.parameters[name]
        if name in self.pseudo:
            return self.pseudo[name]
        if name in self.refs:
            return self.refs[name]
        if name in self.resources:
            raise TemplateError(f"!Ref {name}: the local engine has no value for this resource")
        raise TemplateError(f"!Ref {name}: unknown parameter or resource")

    def _getatt(self, resource: str, attribute: str) -> Any:
        if (resource, attribute) in self.attributes:
            return self.attributes[(resource, attribute)]
        if resource not in self.resources:
            raise TemplateError(f"!GetAtt {resource}.{attribute}: unknown resource")
        raise TemplateError(f"!GetAtt {resource}.{attribute}: not available locally")

    def _fn(self, key: str, arg: Any) -> Any:
        if key == "Fn::GetAtt":
            if isinstance(arg, str):
                arg = arg.split(".", 1)
            resource, attribute = (self.resolve(a) for a in arg)
            return self._getatt(resource, attribute)
        if key == "Fn::Sub":
            if isinstance(arg, list):
                template, variables = arg[0], {k: self.resolve(v) for k, v in (arg[1] or {}).items()}
            else:
                template, variables = arg, {}
            return self._sub(template, variables)
        if key == "Fn::If":
            cond, if_true, if_false = arg
            return self.resolve(if_true if self.condition(cond) else if_false)
        if key == "Fn::Not":
            return not self.resolve(arg[0])
        if key == "Fn::And":
            return all(self.resolve(a) for a in arg)
        if key == "Fn::Or":
            return any(self.resolve(a) for a in arg)
        if key == "Fn::Equals":
            left, right = (self.resolve(a) for a in arg)
            return str(left) == str(right)
        if key == "Fn::Join":
            sep, items = arg
            return str(sep).join(str(i) for i in self.resolve(items))
        if key == "Fn::Select":
            index, items = arg
            return self.resolve(items)[int(self.resolve(index))]
        if key == "Fn::Split":
            sep, text = arg
            return str(self.resolve(text)).split(sep)
        if key == "Fn::Base64":
            import base64

            return base64.b64encode(str(self.resolve(arg)).encode()).decode()
        if key == "Fn::FindInMap":
            name, top, second = (self.resolve(a) for a in arg[:3])
            return (self.data.get("Mappings") or {})[name][top][second]
        if key == "Fn::GetAZs":
            return [f"{self.region}a", f"{self.region}b", f"{self.region}c"]
        if key == "Fn::ToJsonString":
            import json

            return json.dumps(self.resolve(arg), separators=(",", ":"))
        raise TemplateError(f"{key} is not supported by the local engine")

    def _sub(self, template: str, variables: Mapping[str, Any]) -> str:
        def replace(match: re.Match[str]) -> str:
            expr = match.group(1).strip()
            if expr in variables:
                return str(variables[expr])
            if "." in expr and expr.split(".", 1)[0] in self.resources:
                resource, attribute = expr.split(".", 1)
                return str(self._getatt(resource, attribute))
            return str(self._ref(expr))

        out = _SUB_RE.sub(replace, template)
        return out.replace("${!", "${")

    # ---------------------------------------------------------------- functions

    def functions(self) -> dict[str, FunctionSpec]:
        """Every ``AWS::Serverless::Function``, resolved. Needs ``refs``/``attributes`` to be filled in."""
        return {lid: self.function(lid) for lid in self.resources_of_type("AWS::Serverless::Function")}

    def function(self, logical_id: str) -> FunctionSpec:
        props = self.function_properties(logical_id)
        events_raw = props.pop("Events", None) or {}
        resolved = self.resolve(props)
        env = ((resolved.get("Environment") or {}).get("Variables")) or {}
        code_uri = resolved.get("CodeUri")
        if not isinstance(code_uri, str):
            raise TemplateError(f"{logical_id}: CodeUri must be a local path for the local engine")
        handler = resolved.get("Handler")
        if not handler or "." not in handler:
            raise TemplateError(f"{logical_id}: Handler must look like module.function")
        events = {}
        for name, ev in events_raw.items():
            events[name] = EventSpec(
                name=name, type=ev.get("Type", ""), properties=self.resolve(ev.get("Properties") or {})
            )
        return FunctionSpec(
            logical_id=logical_id,
            physical_name=self.refs.get(logical_id, logical_id),
            arn=self.attributes.get((logical_id, "Arn"), ""),
            code_uri=(self.base_dir / code_uri).resolve(),
            handler=handler,
            runtime=resolved.get("Runtime"),
            timeout=int(resolved.get("Timeout", 3)),
            memory_size=int(resolved.get("MemorySize", 128)),
            environment={k: _env_str(v) for k, v in env.items()},
            events=events,
            properties=resolved,
        )


def _scalar(value: Any) -> Any:
    """Parameters are strings in CloudFormation; keep numbers readable (180, not 180.0)."""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, float) and value.is_integer():
        return str(int(value))
    return str(value)


def _env_str(value: Any) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, (dict, list)):
        import json

        return json.dumps(value)
    return str(value)


def _sam_merge(globals_value: Any, own_value: Any) -> Any:
    """SAM's Globals merge: maps merge recursively, lists concatenate (globals first), scalars override."""
    if isinstance(globals_value, dict) and isinstance(own_value, dict):
        if _is_intrinsic(globals_value) or _is_intrinsic(own_value):
            return own_value
        merged = dict(globals_value)
        for key, value in own_value.items():
            merged[key] = _sam_merge(globals_value[key], value) if key in globals_value else value
        return merged
    if isinstance(globals_value, list) and isinstance(own_value, list):
        return globals_value + own_value
    return own_value


def _is_intrinsic(value: dict[str, Any]) -> bool:
    if len(value) != 1:
        return False
    key = next(iter(value))
    return key in ("Ref", "Condition") or key.startswith("Fn::")


def load_template(
    path: str | Path,
    *,
    parameters: Mapping[str, Any] | None = None,
    region: str = "eu-central-1",
    account_id: str = "123456789012",
    stack_name: str = "crm-local",
) -> Template:
    """Read ``path`` and return a :class:`Template` (CodeUri paths are relative to the template's folder)."""
    path = Path(path)
    try:
        text = path.read_text(encoding="utf-8")
    except OSError as exc:
        raise TemplateError(f"cannot read template {path}: {exc}") from exc
    return Template(
        parse_yaml(text),
        base_dir=path.resolve().parent,
        parameters=parameters,
        region=region,
        account_id=account_id,
        stack_name=stack_name,
    )
