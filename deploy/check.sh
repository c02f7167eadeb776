#!/usr/bin/env bash
# `make deploy-check`: prove the SAM stack deploys, with neither Docker nor AWS credentials.
#   1. sam validate --lint, an offline SAM -> CloudFormation translation, cfn-lint on it
#   2. sam build of every zip function and layer (python3.12 needed), compiled .pyc added,
#      unzipped size of each function with its layers checked against Lambda's 250 MB
#   3. each built function imported from .aws-sam/build in a clean python3.12 and invoked
#      with generated events against embedded services
# Container-image functions are validated (step 1) but not built (no Docker): their Dockerfile's
# `pip install` is resolved by pip and must bring every package their code imports (step 2),
# and their code runs natively in step 3.
set -euo pipefail
cd "$(dirname "$0")/.."

DEV_PYTHON=${DEV_PYTHON:-.venv/bin/python}
TOOLS=${DEPLOY_BIN:-.venv-deploy/bin}
OUT=.aws-sam
BUILD_DIR=$OUT/build
RUNTIME_DIR=$OUT/lambda-runtime
export SAM_CLI_TELEMETRY=0
# The smoke test runs against its own embedded services, never a database named here (CI
# exports DATABASE_URL as the tests' admin connection).
unset DATABASE_URL MONGODB_URI AWS_ENDPOINT_URL
export AWS_DEFAULT_REGION=${AWS_DEFAULT_REGION:-us-east-1}

step() { printf '\n== %s (%ss)\n' "$*" "$SECONDS"; }

step "1/3 template: sam validate --lint"
"$TOOLS/sam" validate --lint --template-file template.yaml

step "1/3 template: offline translation to CloudFormation + cfn-lint"
"$TOOLS/python" -m deploy.translate template.yaml "$OUT/cloudformation.json"
# W2001 (unused parameter) and W3005 (redundant DependsOn) only fire on what SAM generates
# (it inlines parameter defaults and adds DependsOn of its own); the SAM form was linted above.
"$TOOLS/cfn-lint" --ignore-checks W2001 W3005 -- "$OUT/cloudformation.json"
echo "cfn-lint: no findings"

if ! python312=$(bash deploy/find-python312.sh); then
  cat >&2 <<'MSG'

SKIPPED steps 2 and 3 (sam build, sizes, smoke test): no python3.12 found, neither on PATH
nor in pyenv (~/.pyenv/versions/3.12*). SAM builds for the Lambda runtime python3.12 and needs
that interpreter; install one (pyenv install 3.12, or apt install python3.12) and rerun.
MSG
  exit 0
fi
echo "python3.12: $python312"

step "2/3 build: sam build (zip functions and layers)"
"$DEV_PYTHON" -m deploy.artifacts zip-template template.yaml "$OUT/zip-template.json"
bash deploy/build.sh "$TOOLS/sam" \
  --template-file "$OUT/zip-template.json" --base-dir . --build-dir="$BUILD_DIR"

step "2/3 build: image functions install what they import (pip resolution, no Docker)"
"$DEV_PYTHON" -m deploy.artifacts image-deps template.yaml

step "2/3 build: unzipped sizes"
"$DEV_PYTHON" -m deploy.artifacts sizes "$BUILD_DIR"
"$DEV_PYTHON" -m deploy.artifacts bytecode "$BUILD_DIR"
"$DEV_PYTHON" -m deploy.artifacts openapi "$BUILD_DIR"
"$DEV_PYTHON" -m deploy.artifacts lean "$BUILD_DIR"

step "3/3 smoke test of the built artifacts"
# The python3.12 runtime provides boto3 (/var/runtime); the layer does not ship it.
if [ ! -f "$RUNTIME_DIR/.installed" ]; then
  "$python312" -m pip install --quiet --disable-pip-version-check --target "$RUNTIME_DIR" boto3
  touch "$RUNTIME_DIR/.installed"
fi
"$DEV_PYTHON" -m deploy.smoke --python "$python312" --sam "$TOOLS/sam" \
  --build-dir "$BUILD_DIR" --runtime-dir "$RUNTIME_DIR"

step "deploy-check passed"
