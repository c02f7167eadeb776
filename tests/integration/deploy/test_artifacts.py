"""deploy.artifacts: what sam build builds (no image functions) and the 250 MB size limit."""

from __future__ import annotations

import compileall
import json
import os
import py_compile
import re
import sys
from pathlib import Path

import pytest

from deploy import artifacts
from deploy.artifacts import (
    RUNTIME_CACHE_TAG,
    UNZIPPED_LIMIT_BYTES,
    built_functions,
    dockerfile_pip_install,
    missing_bytecode,
    missing_image_packages,
    prebuilt_openapi_problem,
    resolved_distributions,
    size_reports,
    third_party_imports,
    unwanted_packages,
    zip_only,
)

ROOT = Path(__file__).resolve().parents[3]
TAG = sys.implementation.cache_tag  # the tests compile with this interpreter

BUILT_TEMPLATE = """
Globals:
  Function:
    Timeout: 15
    Layers:
      - !Ref SharedLayer
Resources:
  SharedLayer:
    Type: AWS::Serverless::LayerVersion
    Properties:
      ContentUri: SharedLayer
  ApiFunction:
    Type: AWS::Serverless::Function
    Properties:
      CodeUri: ApiFunction
      Handler: app.handler
      MemorySize: 256
  ExtraLayerFunction:
    Type: AWS::Serverless::Function
    Properties:
      CodeUri: ExtraLayerFunction
      Handler: main.run
      Layers:
        - !Ref SharedLayer
        - arn:aws:lambda:us-east-1:123456789012:layer:external:1
  ImageFunction:
    Type: AWS::Serverless::Function
    Properties:
      PackageType: Image
"""


def _file(path: Path, size: int) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    with path.open("wb") as handle:  # sparse: the size counts, the disk is not used
        handle.truncate(size)


@pytest.fixture
def build_dir(tmp_path: Path) -> Path:
    (tmp_path / "template.yaml").write_text(BUILT_TEMPLATE, encoding="utf-8")
    _file(tmp_path / "SharedLayer/python/pkg/__init__.py", 3_000)
    _file(tmp_path / "ApiFunction/app.py", 1_000)
    _file(tmp_path / "ExtraLayerFunction/main.py", 500)
    return tmp_path


def test_zip_only_drops_image_functions_and_names_them() -> None:
    template = {
        "Resources": {
            "Api": {"Type": "AWS::Serverless::Function", "Properties": {"CodeUri": "f/"}},
            "Image": {"Type": "AWS::Serverless::Function", "Properties": {"PackageType": "Image"}},
            "Bucket": {"Type": "AWS::S3::Bucket"},
        }
    }
    kept, images = zip_only(template)
    assert images == ["Image"]
    assert set(kept["Resources"]) == {"Api", "Bucket"}
    assert "Image" in template["Resources"]  # the input is left alone


def test_built_functions_resolve_code_and_layer_folders(build_dir: Path) -> None:
    functions = {fn.logical_id: fn for fn in built_functions(build_dir)}
    assert set(functions) == {"ApiFunction", "ExtraLayerFunction"}
    api = functions["ApiFunction"]
    assert api.code_dir == build_dir / "ApiFunction"
    assert api.layer_dirs == (build_dir / "SharedLayer",)
    assert api.python_paths == [build_dir / "ApiFunction", build_dir / "SharedLayer/python"]
    assert (api.handler, api.timeout, api.memory) == ("app.handler", 15, 256)
    extra = functions["ExtraLayerFunction"]
    assert extra.unresolved_layers == ('"arn:aws:lambda:us-east-1:123456789012:layer:external:1"',)


def test_sizes_count_the_code_and_each_layer(build_dir: Path) -> None:
    reports = {r.function.logical_id: r for r in size_reports(built_functions(build_dir))}
    assert (reports["ApiFunction"].code_bytes, reports["ApiFunction"].layer_bytes) == (1000, 3000)
    assert reports["ExtraLayerFunction"].total_bytes == 3500
    assert not any(r.too_large for r in reports.values())


def test_over_250_mb_with_its_layers_fails(
    build_dir: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    # Each part is under the limit; the function plus its layer is not.
    # The layer comes to the limit less 800 bytes: +1000 of code is over, +500 is not.
    _file(build_dir / "SharedLayer/python/big.bin", UNZIPPED_LIMIT_BYTES - 3_800)
    assert artifacts.main(["sizes", str(build_dir)]) == 1
    captured = capsys.readouterr()
    assert "TOO LARGE" in captured.out
    assert "ApiFunction" in captured.err
    assert "ExtraLayerFunction" not in captured.err


def test_sizes_command_passes_and_reports(
    build_dir: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert artifacts.main(["sizes", str(build_dir)]) == 0
    out = capsys.readouterr().out
    assert "ApiFunction" in out
    assert "is not in this template; its size is not counted" in out


def test_zip_template_command_writes_json_sam_can_build(tmp_path: Path) -> None:
    source = tmp_path / "template.yaml"
    source.write_text(BUILT_TEMPLATE, encoding="utf-8")
    output = tmp_path / "out" / "zip.json"
    assert artifacts.main(["zip-template", str(source), str(output)]) == 0
    written = json.loads(output.read_text(encoding="utf-8"))
    assert "ImageFunction" not in written["Resources"]
    assert written["Globals"]["Function"]["Layers"] == [{"Ref": "SharedLayer"}]
    assert os.path.getsize(output) > 0


def _compiled_tree(root: Path, mode: py_compile.PycInvalidationMode) -> Path:
    for name in ("fn/app.py", "layer/python/pkg/__init__.py", "layer/python/pkg/mod.py"):
        (root / name).parent.mkdir(parents=True, exist_ok=True)
        (root / name).write_text("VALUE = 1\n", encoding="utf-8")
    compileall.compile_dir(root, quiet=1, invalidation_mode=mode)
    return root


def test_bytecode_check_passes_on_an_unchecked_hash_build(tmp_path: Path) -> None:
    build = _compiled_tree(tmp_path, py_compile.PycInvalidationMode.UNCHECKED_HASH)
    assert missing_bytecode(build, TAG) == []
    assert artifacts.main(["bytecode", str(build), "--cache-tag", TAG]) == 0


def test_bytecode_check_names_modules_without_it(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    build = _compiled_tree(tmp_path, py_compile.PycInvalidationMode.UNCHECKED_HASH)
    (build / "fn/extra.py").write_text("X = 2\n", encoding="utf-8")  # added after compiling
    assert missing_bytecode(build, TAG) == [build / "fn/extra.py"]
    assert artifacts.main(["bytecode", str(build), "--cache-tag", TAG]) == 1
    assert "fn/extra.py" in capsys.readouterr().err


def test_timestamp_bytecode_does_not_count(tmp_path: Path) -> None:
    # Zip extraction may change file times, which would invalidate timestamp .pyc files.
    build = _compiled_tree(tmp_path, py_compile.PycInvalidationMode.TIMESTAMP)
    assert len(missing_bytecode(build, TAG)) == 3


def test_the_runtime_tag_is_the_templates_runtime() -> None:
    template = (ROOT / "template.yaml").read_text(encoding="utf-8")
    versions = set(re.findall(r"Runtime: python3\.(\d+)", template))
    assert {f"cpython-3{v}" for v in versions} == {RUNTIME_CACHE_TAG}


def test_openapi_check_wants_the_docs_functions_prebuilt_document(tmp_path: Path) -> None:
    docs = tmp_path / "DocsFunction"
    docs.mkdir()
    assert "missing" in str(prebuilt_openapi_problem(tmp_path))
    assert artifacts.main(["openapi", str(tmp_path)]) == 1
    (docs / "openapi.json").write_text("{not json", encoding="utf-8")
    assert "not JSON" in str(prebuilt_openapi_problem(tmp_path))
    (docs / "openapi.json").write_text('{"openapi": "3.1.0", "paths": {}}', encoding="utf-8")
    assert "paths" in str(prebuilt_openapi_problem(tmp_path))
    document = {"openapi": "3.1.0", "paths": {"/notes": {"get": {}}}}
    (docs / "openapi.json").write_text(json.dumps(document), encoding="utf-8")
    assert prebuilt_openapi_problem(tmp_path) is None
    assert artifacts.main(["openapi", str(tmp_path)]) == 0


def test_lean_check_names_each_unwanted_package_and_why(build_dir: Path) -> None:
    assert unwanted_packages(build_dir) == []
    assert artifacts.main(["lean", str(build_dir)]) == 0
    _file(build_dir / "SharedLayer/python/cryptography/__init__.py", 10)
    _file(build_dir / "ApiFunction/numpy/__init__.py", 10)
    _file(build_dir / "ApiFunction/cryptography_helpers.py", 10)  # a name that only starts alike
    found = unwanted_packages(build_dir)
    assert found == [
        "ApiFunction/numpy: numpy belongs to the image function's container image only",
        "SharedLayer/python/cryptography: jose checks our HMAC tokens with the standard"
        " library's hmac",
    ]
    assert artifacts.main(["lean", str(build_dir)]) == 1


def test_the_shared_requirements_do_not_bring_an_unwanted_package() -> None:
    """What the layer installs, resolved by pip without installing (the real build is checked
    by `make deploy-check`)."""
    names = resolved_distributions("-r", str(ROOT / "shared" / "requirements.txt"))
    assert "python-jose" in names
    assert names & {"cryptography", "opencv-python-headless", "numpy", "pillow"} == set()


def test_the_image_dockerfile_install_is_read_back_to_the_repository() -> None:
    install = dockerfile_pip_install(ROOT / "functions/image/Dockerfile", ROOT)
    assert install == [
        "awslambdaric",
        str(ROOT / "shared"),
        "-r",
        str(ROOT / "functions/image/requirements.txt"),
    ]


def test_imports_are_followed_through_the_package_lazy_ones_included(tmp_path: Path) -> None:
    package = tmp_path / "pkg"
    (package / "sub").mkdir(parents=True)
    (package / "__init__.py").write_text("import json\n", encoding="utf-8")
    (package / "sub" / "__init__.py").write_text("import numpy\n", encoding="utf-8")
    (package / "sub" / "aws.py").write_text(
        "from typing import TYPE_CHECKING\n"
        "if TYPE_CHECKING:\n    import mypy_boto3_s3\n"
        "def client():\n    import boto3\n    return boto3\n",
        encoding="utf-8",
    )
    (package / "sub" / "rel.py").write_text("from . import aws\n", encoding="utf-8")
    (package / "local.py").write_text("import moto\n", encoding="utf-8")  # never shipped
    entry = tmp_path / "handler.py"
    entry.write_text("from pkg.sub import rel\nimport pkg.local\n", encoding="utf-8")
    assert third_party_imports(entry, tmp_path, "pkg") == {"boto3", "numpy"}


def test_the_image_container_installs_every_package_its_code_imports() -> None:
    """boto3 included: the zip functions get it from Lambda's runtime, the image (FROM
    python:3.12-slim) only from its own requirements. Resolved by pip, as the Dockerfile's
    `pip install` would; the code's imports followed from the handler through smartnote."""
    imports = third_party_imports(ROOT / "functions/image/handler.py", ROOT / "shared")
    assert {"boto3", "cv2", "pytesseract", "pymongo"} <= imports
    assert missing_image_packages(ROOT / "template.yaml") == []
