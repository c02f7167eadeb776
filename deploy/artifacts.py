"""The stack's deployable artifacts: what `sam build` should build and what it built.

`python -m deploy.artifacts zip-template template.yaml out.json` writes the template without
its container-image functions (building those needs Docker; they are validated, not built).
`python -m deploy.artifacts sizes .aws-sam/build` reports each zip function's unzipped size
with its layers and fails above Lambda's limit.
`python -m deploy.artifacts bytecode .aws-sam/build` fails unless every module of the build has
its unchecked-hash .pyc for the runtime (deploy/build.sh compiles them): without them each
cold start compiles every module it imports (3-5x the import time, bench/coldstart.py).
`python -m deploy.artifacts openapi .aws-sam/build` fails unless the docs function has the
OpenAPI document deploy/build.sh writes; `python -m deploy.artifacts lean .aws-sam/build` fails
if a zip function or its layers ship a package none of them needs (UNWANTED_PACKAGES).
`python -m deploy.artifacts image-deps template.yaml` resolves each image function's
Dockerfile `pip install` with pip (nothing installed, no Docker) and fails if a package its code
imports is not in it: the image has no Lambda runtime to provide boto3.
"""

from __future__ import annotations

import argparse
import ast
import importlib.metadata
import json
import shlex
import subprocess
import sys
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from smartnote.local.template import FUNCTION_TYPE, load_yaml

LAYER_TYPE = "AWS::Serverless::LayerVersion"
# Lambda's quota: function code plus all its layers, unzipped.
UNZIPPED_LIMIT_BYTES = 262_144_000
MIB = 1024 * 1024


def is_image_function(resource: Mapping[str, Any]) -> bool:
    properties = resource.get("Properties") or {}
    return resource.get("Type") == FUNCTION_TYPE and properties.get("PackageType") == "Image"


def zip_only(template: dict[str, Any]) -> tuple[dict[str, Any], list[str]]:
    """`template` without its image functions, and their logical ids."""
    resources = template.get("Resources") or {}
    images = sorted(lid for lid, res in resources.items() if is_image_function(res))
    kept = {lid: res for lid, res in resources.items() if lid not in images}
    return {**template, "Resources": kept}, images


@dataclass(frozen=True)
class BuiltFunction:
    """A zip function in the build folder: its code, its layers' folders, its settings."""

    logical_id: str
    handler: str
    code_dir: Path
    layer_dirs: tuple[Path, ...]
    unresolved_layers: tuple[str, ...]  # layers given by ARN: not measurable here
    timeout: int
    memory: int

    @property
    def python_paths(self) -> list[Path]:
        """sys.path entries Lambda adds for this function (/var/task, then /opt/python)."""
        return [self.code_dir, *(layer / "python" for layer in self.layer_dirs)]


def _layer_refs(properties: Mapping[str, Any], globals_fn: Mapping[str, Any]) -> list[Any]:
    layers = properties.get("Layers", globals_fn.get("Layers")) or []
    return list(layers)


def built_functions(build_dir: Path) -> list[BuiltFunction]:
    """The zip functions of `<build_dir>/template.yaml` (what `sam build` wrote)."""
    template = load_yaml((build_dir / "template.yaml").read_text(encoding="utf-8"))
    resources: Mapping[str, Any] = template.get("Resources") or {}
    globals_fn: Mapping[str, Any] = (template.get("Globals") or {}).get("Function") or {}
    functions = []
    for logical_id, resource in resources.items():
        if resource.get("Type") != FUNCTION_TYPE or is_image_function(resource):
            continue
        properties = resource.get("Properties") or {}
        layer_dirs: list[Path] = []
        unresolved: list[str] = []
        for layer in _layer_refs(properties, globals_fn):
            ref = layer.get("Ref") if isinstance(layer, Mapping) else None
            target = resources.get(ref) if isinstance(ref, str) else None
            if target and target.get("Type") == LAYER_TYPE:
                layer_dirs.append(build_dir / str(target["Properties"]["ContentUri"]))
            else:
                unresolved.append(json.dumps(layer))
        functions.append(
            BuiltFunction(
                logical_id=str(logical_id),
                handler=str(properties.get("Handler", globals_fn.get("Handler"))),
                code_dir=build_dir / str(properties.get("CodeUri", globals_fn.get("CodeUri"))),
                layer_dirs=tuple(layer_dirs),
                unresolved_layers=tuple(unresolved),
                timeout=int(properties.get("Timeout", globals_fn.get("Timeout", 3))),
                memory=int(properties.get("MemorySize", globals_fn.get("MemorySize", 128))),
            )
        )
    return functions


def folder_size(path: Path) -> int:
    """Bytes of the regular files under `path` (what unzipping the artifact takes)."""
    return sum(f.stat().st_size for f in path.rglob("*") if f.is_file() and not f.is_symlink())


@dataclass(frozen=True)
class SizeReport:
    function: BuiltFunction
    code_bytes: int
    layer_bytes: int

    @property
    def total_bytes(self) -> int:
        return self.code_bytes + self.layer_bytes

    @property
    def too_large(self) -> bool:
        return self.total_bytes > UNZIPPED_LIMIT_BYTES


def size_reports(functions: list[BuiltFunction]) -> list[SizeReport]:
    layer_sizes: dict[Path, int] = {}
    reports = []
    for fn in functions:
        for layer in fn.layer_dirs:
            if layer not in layer_sizes:
                layer_sizes[layer] = folder_size(layer)
        reports.append(
            SizeReport(fn, folder_size(fn.code_dir), sum(layer_sizes[p] for p in fn.layer_dirs))
        )
    return reports


def format_sizes(reports: list[SizeReport]) -> str:
    lines = [f"{'function':<22} {'code':>9} {'layers':>9} {'total':>9}  (limit 250 MB unzipped)"]
    for report in reports:
        flag = "  TOO LARGE" if report.too_large else ""
        lines.append(
            f"{report.function.logical_id:<22} {report.code_bytes / MIB:>7.1f}Mi "
            f"{report.layer_bytes / MIB:>7.1f}Mi {report.total_bytes / MIB:>7.1f}Mi{flag}"
        )
        for layer in report.function.unresolved_layers:
            lines.append(f"  note: layer {layer} is not in this template; its size is not counted")
    return "\n".join(lines)


RUNTIME_CACHE_TAG = "cpython-312"  # the python3.12 runtime of template.yaml
_UNCHECKED_HASH_FLAGS = 0b01  # PEP 552: hash-based, source not checked


def missing_bytecode(build_dir: Path, cache_tag: str = RUNTIME_CACHE_TAG) -> list[Path]:
    """The modules under `build_dir` without an unchecked-hash .pyc for `cache_tag`."""
    missing = []
    for source in sorted(build_dir.rglob("*.py")):
        compiled = source.parent / "__pycache__" / f"{source.stem}.{cache_tag}.pyc"
        header = compiled.read_bytes()[:8] if compiled.is_file() else b""
        if len(header) < 8 or int.from_bytes(header[4:8], "little") != _UNCHECKED_HASH_FLAGS:
            missing.append(source)
    return missing


DOCS_FUNCTION = "DocsFunction"
PREBUILT_OPENAPI = "openapi.json"  # smartnote.openapi.PREBUILT_NAME, written by deploy/build.sh


def prebuilt_openapi_problem(build_dir: Path) -> str | None:
    """Why the docs function's prebuilt OpenAPI document is missing or unusable, or None."""
    path = build_dir / DOCS_FUNCTION / PREBUILT_OPENAPI
    if not path.is_file():
        return f"{path} is missing: deploy/build.sh writes it after sam build"
    try:
        document = json.loads(path.read_bytes())
    except ValueError as exc:
        return f"{path} is not JSON: {exc}"
    paths = document.get("paths") if isinstance(document, dict) else None
    if not str(document.get("openapi", "")).startswith("3.") or not paths:
        return f"{path} is not an OpenAPI 3 document with paths"
    return None


# Packages no zip function may ship, and why: each costs every cold start import time and
# memory, and none is needed by the API (bench/README.md, cold start).
UNWANTED_PACKAGES = {
    "cryptography": "jose checks our HMAC tokens with the standard library's hmac",
    "cv2": "OpenCV belongs to the image function's container image only",
    "numpy": "numpy belongs to the image function's container image only",
    "PIL": "no API function decodes images",
}


def unwanted_packages(build_dir: Path) -> list[str]:
    """One line per zip function folder or layer of the build that holds an unwanted package."""
    found = []
    folders = {path for fn in built_functions(build_dir) for path in fn.python_paths}
    for folder in sorted(folders):
        for package, reason in UNWANTED_PACKAGES.items():
            if (folder / package).is_dir() or (folder / f"{package}.py").is_file():
                found.append(f"{folder.relative_to(build_dir)}/{package}: {reason}")
    return found


def resolved_distributions(*requirements: str, python: str = sys.executable) -> set[str]:
    """Lower-cased names of the distributions `pip install <requirements>` would install,
    resolved by pip (`--dry-run --report`) without installing anything."""
    pip = [python, "-m", "pip", "install", "--dry-run", "--quiet", "--ignore-installed"]
    report = subprocess.run(
        [*pip, "--report", "-", *requirements],
        capture_output=True,
        text=True,
        check=True,
        timeout=300,
    )
    return {item["metadata"]["name"].lower() for item in json.loads(report.stdout)["install"]}


def dockerfile_pip_install(dockerfile: Path, context: Path) -> list[str]:
    """The arguments of the Dockerfile's `pip install`, its COPY destinations mapped back to
    the paths under `context` they were copied from (options dropped)."""
    text = dockerfile.read_text(encoding="utf-8").replace("\\\n", " ")
    copied: dict[str, Path] = {}
    arguments: list[str] = []
    for line in text.splitlines():
        words = shlex.split(line, comments=True)
        if len(words) == 3 and words[0].upper() == "COPY":
            copied[words[2].rstrip("/")] = context / words[1]
        elif words and words[0].upper() == "RUN" and "pip" in words:
            start = words.index("install", words.index("pip")) + 1
            end = words.index("&&", start) if "&&" in words[start:] else len(words)
            arguments = words[start:end]
    install = []
    for word in arguments:
        if word.startswith("-") and word != "-r":
            continue
        install.append(str(copied.get(word.rstrip("/"), word)))
    return install


def _type_checking_only(node: ast.AST) -> bool:
    return isinstance(node, ast.If) and "TYPE_CHECKING" in ast.unparse(node.test)


def _imported_names(module: Path, package: str) -> set[str]:
    """Absolute names of the modules `module` imports, at any depth of its code (the lazy
    imports in functions count), except under `if TYPE_CHECKING:`."""
    names: set[str] = set()
    parts = module.with_suffix("").parts
    pending: list[ast.AST] = [ast.parse(module.read_text(encoding="utf-8"))]
    while pending:
        node = pending.pop()
        if _type_checking_only(node):
            pending.extend(getattr(node, "orelse", []))
            continue
        if isinstance(node, ast.Import):
            names.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom):
            if node.level:  # relative: resolved against the module's own package
                base = ".".join(parts[parts.index(package) : len(parts) - node.level])
                origin = f"{base}.{node.module}" if node.module else base
            else:
                origin = str(node.module)
            names.add(origin)
            names.update(f"{origin}.{alias.name}" for alias in node.names)  # maybe modules
        pending.extend(ast.iter_child_nodes(node))
    return names


def third_party_imports(entry: Path, package_root: Path, package: str = "smartnote") -> set[str]:
    """Top-level modules outside the standard library that `entry` may import at run time,
    following its imports through `package_root/<package>` (`smartnote.local` is never shipped
    code, so never followed)."""
    seen: set[Path] = set()
    found: set[str] = set()
    pending = [entry]
    while pending:
        module = pending.pop()
        if module in seen:
            continue
        seen.add(module)
        for name in _imported_names(module, package):
            top = name.split(".")[0]
            if top != package:
                if top not in sys.stdlib_module_names and top != "__future__":
                    found.add(top)
                continue
            if name == f"{package}.local" or name.startswith(f"{package}.local."):
                continue
            path = package_root.joinpath(*name.split("."))
            for candidate in (path.with_suffix(".py"), path / "__init__.py"):
                if candidate.is_file():
                    pending.append(candidate)
            for parent in path.relative_to(package_root).parents:  # packages run their __init__
                if parent.parts and (package_root / parent / "__init__.py").is_file():
                    pending.append(package_root / parent / "__init__.py")
    return found


def distributions_of(modules: set[str]) -> dict[str, set[str]]:
    """Each top-level module's distribution names (lower-cased) as installed here; a module no
    installed distribution provides maps to an empty set."""
    installed = importlib.metadata.packages_distributions()
    return {module: {d.lower() for d in installed.get(module, [])} for module in modules}


def missing_image_packages(template_path: Path) -> list[str]:
    """One line per top-level module an image function imports that its Dockerfile's
    `pip install` does not bring (resolved by pip)."""
    template = load_yaml(template_path.read_text(encoding="utf-8"))
    root = template_path.resolve().parent
    problems = []
    for logical_id, resource in (template.get("Resources") or {}).items():
        if not is_image_function(resource):
            continue
        metadata = resource.get("Metadata") or {}
        context = root / str(metadata.get("DockerContext", "."))
        dockerfile = context / str(metadata["Dockerfile"])
        properties = resource.get("Properties") or {}
        command: list[str] = (properties.get("ImageConfig") or {}).get("Command") or []
        if not command:
            problems.append(f"{logical_id}: no ImageConfig.Command names its handler")
            continue
        entry = dockerfile.parent / (str(command[0]).split(".")[0] + ".py")
        resolved = resolved_distributions(*dockerfile_pip_install(dockerfile, context))
        needed = distributions_of(third_party_imports(entry, root / "shared"))
        for module, distributions in sorted(needed.items()):
            if not distributions & resolved:
                wanted = " or ".join(sorted(distributions)) or "(no installed distribution)"
                problems.append(
                    f"{logical_id}: imports {module}, but {dockerfile.relative_to(root)}"
                    f" does not install {wanted}"
                )
    return problems


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m deploy.artifacts", description=__doc__)
    commands = parser.add_subparsers(dest="command", required=True)
    zip_cmd = commands.add_parser("zip-template", help="the template without image functions")
    zip_cmd.add_argument("template", type=Path)
    zip_cmd.add_argument("output", type=Path)
    sizes_cmd = commands.add_parser("sizes", help="unzipped sizes of the built functions")
    sizes_cmd.add_argument("build_dir", type=Path)
    bytecode_cmd = commands.add_parser("bytecode", help="every module has its runtime .pyc")
    bytecode_cmd.add_argument("build_dir", type=Path)
    bytecode_cmd.add_argument("--cache-tag", default=RUNTIME_CACHE_TAG)
    openapi_cmd = commands.add_parser("openapi", help="the docs function has its OpenAPI file")
    openapi_cmd.add_argument("build_dir", type=Path)
    lean_cmd = commands.add_parser("lean", help="no zip function ships an unwanted package")
    lean_cmd.add_argument("build_dir", type=Path)
    image_cmd = commands.add_parser("image-deps", help="image functions install what they import")
    image_cmd.add_argument("template", type=Path)
    args = parser.parse_args(argv)
    run: dict[str, Callable[[argparse.Namespace], int]] = {
        "zip-template": _write_zip_template,
        "sizes": lambda a: _check_sizes(a.build_dir),
        "bytecode": lambda a: _check_bytecode(a.build_dir, a.cache_tag),
        "openapi": lambda a: _check_openapi(a.build_dir),
        "lean": lambda a: _check_lean(a.build_dir),
        "image-deps": lambda a: _check_image_deps(a.template),
    }
    return run[args.command](args)


def _write_zip_template(args: argparse.Namespace) -> int:
    template, images = zip_only(load_yaml(args.template.read_text(encoding="utf-8")))
    args.output.parent.mkdir(parents=True, exist_ok=True)
    args.output.write_text(json.dumps(template, indent=2) + "\n", encoding="utf-8")
    for logical_id in images:
        print(f"{logical_id}: PackageType Image - validated, not built (needs Docker)")
    return 0


def _check_sizes(build_dir: Path) -> int:
    reports = size_reports(built_functions(build_dir))
    print(format_sizes(reports))
    if not reports:
        print("error: no zip functions in the build", file=sys.stderr)
        return 1
    too_large = [r.function.logical_id for r in reports if r.too_large]
    if too_large:
        names = ", ".join(too_large)
        print(f"error: over Lambda's 250 MB unzipped limit: {names}", file=sys.stderr)
        return 1
    return 0


def _check_openapi(build_dir: Path) -> int:
    problem = prebuilt_openapi_problem(build_dir)
    print(
        f"error: {problem}" if problem else "openapi: the docs function has its document",
        file=sys.stderr if problem else sys.stdout,
    )
    return 1 if problem else 0


def _check_lean(build_dir: Path) -> int:
    found = unwanted_packages(build_dir)
    for line in found:
        print(f"error: {line}", file=sys.stderr)
    if not found:
        print(f"lean: no zip function under {build_dir} ships {', '.join(UNWANTED_PACKAGES)}")
    return 1 if found else 0


def _check_image_deps(template_path: Path) -> int:
    problems = missing_image_packages(template_path)
    for line in problems:
        print(f"error: {line}", file=sys.stderr)
    if not problems:
        print("image-deps: every image function installs what its code imports")
    return 1 if problems else 0


def _check_bytecode(build_dir: Path, cache_tag: str) -> int:
    missing = missing_bytecode(build_dir, cache_tag)
    for source in missing[:20]:
        print(f"no unchecked-hash {cache_tag} .pyc: {source}", file=sys.stderr)
    if missing:
        print(f"error: {len(missing)} modules without bytecode", file=sys.stderr)
        return 1
    print(f"bytecode: every module under {build_dir} has its {cache_tag} .pyc")
    return 0


if __name__ == "__main__":
    sys.exit(main())
