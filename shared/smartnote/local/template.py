"""Read the SAM template: functions, their API routes and the resources to emulate locally."""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, NamedTuple
from urllib.parse import unquote

import yaml

from smartnote.local.intrinsics import Resolver, Unresolvable

FUNCTION_TYPE = "AWS::Serverless::Function"
BUCKET_TYPE = "AWS::S3::Bucket"
QUEUE_TYPE = "AWS::SQS::Queue"
LOCAL_ACCOUNT_ID = "123456789012"  # moto's default account


class CloudFormationLoader(yaml.SafeLoader):
    """A SafeLoader that turns `!Ref x` into `{"Ref": x}`, `!Sub s` into `{"Fn::Sub": s}` etc."""


def _construct_short_tag(loader: yaml.SafeLoader, suffix: str, node: yaml.Node) -> dict[str, Any]:
    """Build the long form of any CloudFormation short tag (`!Name` -> `Fn::Name`)."""
    key = suffix if suffix in ("Ref", "Condition") else f"Fn::{suffix}"
    value: Any
    if isinstance(node, yaml.ScalarNode):
        value = loader.construct_scalar(node)
        if suffix == "GetAtt":  # `!GetAtt Res.Attr` is the short form of ["Res", "Attr"]
            value = str(value).split(".", 1)
    elif isinstance(node, yaml.SequenceNode):
        value = loader.construct_sequence(node, deep=True)
    elif isinstance(node, yaml.MappingNode):
        value = loader.construct_mapping(node, deep=True)
    else:  # pragma: no cover - yaml has no other node kinds
        raise yaml.constructor.ConstructorError(None, None, f"unexpected node {node!r}")
    return {key: value}


CloudFormationLoader.add_multi_constructor("!", _construct_short_tag)


def load_yaml(text: str) -> Any:
    """Parse CloudFormation YAML text, short tags included."""
    return yaml.load(text, Loader=CloudFormationLoader)  # noqa: S506 - a SafeLoader subclass


@dataclass(frozen=True)
class ApiRoute:
    """One `Type: Api` event: a REST v1 resource path and a method (upper case, or ANY)."""

    path: str
    method: str


@dataclass(frozen=True)
class EventSpec:
    """Any event source of a function, raw (Api, Schedule, ScheduleV2, S3, SQS...)."""

    name: str
    type: str
    properties: Mapping[str, Any]


@dataclass
class FunctionSpec:
    """An `AWS::Serverless::Function`, with what the local gateway needs to run it."""

    logical_id: str
    name: str
    code_uri: Path
    handler: str
    environment: dict[str, str]
    api_routes: list[ApiRoute]
    events: list[EventSpec] = field(default_factory=list)
    timeout: int = 3
    memory_size: int = 128

    @property
    def module_path(self) -> Path:
        """The file that holds the handler (`app.handler` -> `<code_uri>/app.py`)."""
        module = self.handler.rsplit(".", 1)[0]
        return self.code_uri / (module.replace(".", "/") + ".py")

    @property
    def handler_attr(self) -> str:
        return self.handler.rsplit(".", 1)[1]

    def events_of_type(self, *types: str) -> list[EventSpec]:
        return [event for event in self.events if event.type in types]


@dataclass(frozen=True)
class ResourceSpec:
    """Any template resource, raw."""

    logical_id: str
    type: str
    properties: Mapping[str, Any]


@dataclass(frozen=True)
class BucketSpec:
    logical_id: str
    bucket_name: str
    # As written in the template, intrinsics unresolved (see `Template.resolver`).
    cors_configuration: Any = None


@dataclass(frozen=True)
class QueueSpec:
    logical_id: str
    queue_name: str
    fifo: bool

    @property
    def arn(self) -> str:
        return f"arn:aws:sqs:us-east-1:{LOCAL_ACCOUNT_ID}:{self.queue_name}"


class RouteMatch(NamedTuple):
    function: FunctionSpec
    resource: str
    path_parameters: dict[str, str]


@dataclass
class Template:
    """The parsed template; `functions` is keyed by function folder name (e.g. "notes")."""

    path: Path
    raw: Mapping[str, Any]
    functions: dict[str, FunctionSpec]
    resources: dict[str, ResourceSpec]

    @property
    def root(self) -> Path:
        return self.path.parent

    @property
    def routes(self) -> list[tuple[FunctionSpec, ApiRoute]]:
        return [(fn, route) for fn in self.functions.values() for route in fn.api_routes]

    @property
    def buckets(self) -> list[BucketSpec]:
        return [_bucket(r) for r in self.resources.values() if r.type == BUCKET_TYPE]

    @property
    def queues(self) -> list[QueueSpec]:
        return [_queue(r) for r in self.resources.values() if r.type == QUEUE_TYPE]

    def resolver(self, environ: Mapping[str, str]) -> Resolver:
        """Evaluates the template's intrinsics with the local parameter values: the environment
        variable a function reads a parameter from (`CORS_ALLOW_ORIGINS: !Ref CorsAllowOrigins`)
        when set, else its Default; a value used must pass the parameter's AllowedPattern and
        AllowedValues, as CloudFormation checks a deploy's."""
        declared: Mapping[str, Any] = self.raw.get("Parameters") or {}
        values = {name: str(spec.get("Default", "")) for name, spec in declared.items()}
        sources: dict[str, str] = {}
        for variable, value in self._environment_variables():
            reference = value.get("Ref") if isinstance(value, Mapping) else None
            if isinstance(reference, str) and reference in declared and variable in environ:
                values[reference] = environ[variable]
                sources[reference] = variable

        def parameter(name: str) -> str:
            if name not in values:
                raise Unresolvable(f"no local value for !Ref {name}")
            _check_parameter(name, declared[name], values[name], sources.get(name))
            return values[name]

        return Resolver(parameter, self.raw.get("Conditions") or {})

    def _environment_variables(self) -> Iterable[tuple[str, Any]]:
        globals_fn = (self.raw.get("Globals") or {}).get("Function") or {}
        functions = [r.properties for r in self.resources.values() if r.type == FUNCTION_TYPE]
        for block in [globals_fn, *functions]:
            variables = ((block.get("Environment") or {}).get("Variables")) or {}
            yield from variables.items()

    def bucket(self, logical_id: str) -> BucketSpec:
        return _bucket(self.resources[logical_id])

    def queue(self, logical_id: str) -> QueueSpec:
        return _queue(self.resources[logical_id])

    def function(self, name: str) -> FunctionSpec:
        """A function by folder name or logical id."""
        if name in self.functions:
            return self.functions[name]
        for fn in self.functions.values():
            if fn.logical_id == name:
                return fn
        known = ", ".join(sorted(self.functions))
        raise KeyError(f"no function {name!r} in {self.path} (known: {known})")


def _check_parameter(name: str, spec: Mapping[str, Any], value: str, source: str | None) -> None:
    pattern, allowed = spec.get("AllowedPattern"), spec.get("AllowedValues")
    if (pattern is not None and not re.fullmatch(pattern, value)) or (
        allowed is not None and value not in [str(choice) for choice in allowed]
    ):
        origin = f" (from {source})" if source else ""
        reason = spec.get("ConstraintDescription") or f"must match {pattern or allowed}"
        raise ValueError(f"parameter {name}{origin} = {value!r}: {reason}")


def _bucket(resource: ResourceSpec) -> BucketSpec:
    name = resource.properties.get("BucketName")
    if not isinstance(name, str):
        name = f"smartnote-{resource.logical_id.lower()}"
    return BucketSpec(resource.logical_id, name, resource.properties.get("CorsConfiguration"))


def _queue(resource: ResourceSpec) -> QueueSpec:
    fifo = resource.properties.get("FifoQueue") in (True, "true", "True")
    name = resource.properties.get("QueueName")
    if not isinstance(name, str):
        name = f"smartnote-{resource.logical_id.lower()}" + (".fifo" if fifo else "")
    return QueueSpec(resource.logical_id, name, fifo)


def _literal(value: Any, resources: Mapping[str, ResourceSpec]) -> str | None:
    """The local value of an env var: literals, and Refs/GetAtts of emulated resources."""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, str | int | float):
        return str(value)
    if isinstance(value, Mapping) and len(value) == 1:
        return _local_reference(value, resources)
    return None


def _local_reference(value: Mapping[str, Any], resources: Mapping[str, ResourceSpec]) -> str | None:
    """`!Ref Bucket`, `!GetAtt Queue.QueueName`... of resources the stack creates locally."""
    for resource in resources.values():
        # A bucket named by the very expression of its BucketName (a function that must not
        # !Ref the bucket, e.g. one its notification triggers, repeats the expression).
        if resource.type == BUCKET_TYPE and resource.properties.get("BucketName") == value:
            return _bucket(resource).bucket_name
    ((key, arg),) = value.items()
    if (
        key == "Ref"
        and isinstance(arg, str)
        and arg in resources
        and resources[arg].type == BUCKET_TYPE
    ):
        return _bucket(resources[arg]).bucket_name
    if key == "Fn::GetAtt" and isinstance(arg, list) and len(arg) == 2 and arg[0] in resources:
        resource, attr = resources[arg[0]], arg[1]
        if resource.type == QUEUE_TYPE and attr in ("QueueName", "Arn"):
            queue = _queue(resource)
            return queue.queue_name if attr == "QueueName" else queue.arn
        if resource.type == BUCKET_TYPE and attr == "Arn":
            return f"arn:aws:s3:::{_bucket(resource).bucket_name}"
    return None  # parameters, conditions, ... have no local value: leave them to the stack


def _environment(*blocks: Any, resources: Mapping[str, ResourceSpec]) -> dict[str, str]:
    env: dict[str, str] = {}
    for block in blocks:
        variables = (block or {}).get("Environment", {}) or {}
        for key, value in (variables.get("Variables", {}) or {}).items():
            resolved = _literal(value, resources)
            if resolved is not None:
                env[str(key)] = resolved
            else:
                env.pop(str(key), None)  # a function-level override hides the global literal
    return env


def _code_and_handler(
    props: Mapping[str, Any], globals_fn: Mapping[str, Any], metadata: Mapping[str, Any]
) -> tuple[Any, Any]:
    """Where the handler's code is and its name; an image function says so in its Metadata
    (the Dockerfile's folder inside DockerContext) and its ImageConfig.Command."""
    if props.get("PackageType") == "Image":
        context = str(metadata.get("DockerContext", "."))
        dockerfile = Path(str(metadata.get("Dockerfile", "Dockerfile")))
        command = (props.get("ImageConfig") or {}).get("Command") or [None]
        return str(Path(context) / dockerfile.parent), command[0]
    return props.get("CodeUri", globals_fn.get("CodeUri")), props.get(
        "Handler", globals_fn.get("Handler")
    )


def _function(
    logical_id: str,
    props: Mapping[str, Any],
    globals_fn: Mapping[str, Any],
    root: Path,
    resources: Mapping[str, ResourceSpec],
    metadata: Mapping[str, Any] | None = None,
) -> FunctionSpec:
    code_uri, handler = _code_and_handler(props, globals_fn, metadata or {})
    if not isinstance(code_uri, str) or not isinstance(handler, str):
        raise TypeError(f"{logical_id}: CodeUri and Handler must be literal strings")
    code_path = (root / code_uri).resolve()
    events: list[EventSpec] = []
    routes: list[ApiRoute] = []
    for event_name, event in (props.get("Events") or {}).items():
        spec = EventSpec(str(event_name), str(event["Type"]), event.get("Properties") or {})
        events.append(spec)
        if spec.type == "Api":
            path = str(spec.properties["Path"])
            method = str(spec.properties.get("Method", "ANY")).upper()
            routes.append(
                ApiRoute(
                    path, "ANY" if method in ("*", "X-AMAZON-APIGATEWAY-ANY-METHOD") else method
                )
            )
    return FunctionSpec(
        logical_id=logical_id,
        name=code_path.name,
        code_uri=code_path,
        handler=handler,
        environment=_environment(globals_fn, props, resources=resources),
        api_routes=routes,
        events=events,
        timeout=int(props.get("Timeout", globals_fn.get("Timeout", 3))),
        memory_size=int(props.get("MemorySize", globals_fn.get("MemorySize", 128))),
    )


class TemplateError(ValueError):
    """A template file that is no SAM template: its message names the file and the fault."""


def load_template(path: str | Path) -> Template:
    """Parse a SAM template file (an OSError if it cannot be read, a TemplateError if it is
    not a template)."""
    template_path = Path(path).resolve()
    try:
        raw = load_yaml(template_path.read_text(encoding="utf-8"))
    except yaml.YAMLError as exc:
        raise TemplateError(f"{template_path} is not valid YAML: {exc}") from None
    if not isinstance(raw, Mapping):
        raise TemplateError(f"{template_path} is not a template (no mapping of sections)")
    globals_fn = (raw.get("Globals") or {}).get("Function") or {}
    raw_resources = raw.get("Resources") or {}
    resources = {
        str(lid): ResourceSpec(str(lid), str(res.get("Type")), res.get("Properties") or {})
        for lid, res in raw_resources.items()
    }
    functions: dict[str, FunctionSpec] = {}
    for resource in resources.values():
        if resource.type == FUNCTION_TYPE:
            fn = _function(
                resource.logical_id,
                resource.properties,
                globals_fn,
                template_path.parent,
                resources,
                raw_resources[resource.logical_id].get("Metadata") or {},
            )
            if fn.name in functions:
                raise ValueError(f"two functions share the folder {fn.name!r}")
            functions[fn.name] = fn
    return Template(template_path, raw, functions, resources)


# --- routing ---------------------------------------------------------------------------------

_LITERAL, _PARAM, _GREEDY = 0, 1, 2


def _split(path: str) -> list[str]:
    return [segment for segment in path.split("/") if segment]


def _match_resource(
    resource: str, segments: list[str]
) -> tuple[tuple[int, ...], dict[str, str]] | None:
    """Match a request path (percent-encoded, as sent) against one resource; returns
    (specificity key, path params). It routes on the segments as sent (a `%2F` stays inside
    its segment) and hands the parameters decoded, as API Gateway's `pathParameters` are."""
    key: list[int] = []
    params: dict[str, str] = {}
    parts = _split(resource)
    for index, part in enumerate(parts):
        if part.startswith("{") and part.endswith("+}"):
            rest = segments[index:]
            if index != len(parts) - 1 or not rest:  # {proxy+} needs at least one segment
                return None
            params[part[1:-2]] = unquote("/".join(rest))
            key.append(_GREEDY)
            return tuple(key), params
        if index >= len(segments):
            return None
        if part.startswith("{") and part.endswith("}"):
            params[part[1:-1]] = unquote(segments[index])
            key.append(_PARAM)
        elif part == segments[index]:
            key.append(_LITERAL)
        else:
            return None
    if len(parts) != len(segments):
        return None
    return tuple(key), params


def _best_resource(
    routes: Iterable[tuple[FunctionSpec, ApiRoute]], path: str
) -> tuple[str, dict[str, str], list[tuple[FunctionSpec, ApiRoute]]] | None:
    """The most specific resource matching `path`, like API Gateway's resource tree walk."""
    segments = _split(path)
    best: tuple[tuple[int, ...], str, dict[str, str]] | None = None
    candidates: dict[str, list[tuple[FunctionSpec, ApiRoute]]] = {}
    for fn, route in routes:
        matched = _match_resource(route.path, segments)
        if matched is None:
            continue
        key, params = matched
        candidates.setdefault(route.path, []).append((fn, route))
        # Per segment literal < {param} < {proxy+}: lexicographic order is the tree walk.
        if best is None or key < best[0]:
            best = (key, route.path, params)
    if best is None:
        return None
    return best[1], best[2], candidates[best[1]]


def match_route(
    routes: Iterable[tuple[FunctionSpec, ApiRoute]], method: str, path: str
) -> RouteMatch | None:
    """The function serving `method path`: exact path > {param} > {proxy+}, then method > ANY.

    Like API Gateway, a method missing on the most specific resource does not fall back to a
    less specific one: the request is as unknown as one for a path no resource has.
    """
    found = _best_resource(routes, path)
    if found is None:
        return None
    resource, params, bound = found
    method = method.upper()
    for wanted in (method, "ANY"):
        for fn, route in bound:
            if route.method == wanted:
                return RouteMatch(fn, resource, params)
    return None
