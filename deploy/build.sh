#!/usr/bin/env bash
# sam build with the python3.12 SAM needs, then compiled .pyc in the zip artifacts.
# Usage: deploy/build.sh <sam|samlocal> [sam build options]. `make build` builds the whole
# stack (the image function needs Docker); `make deploy-check` only the zip functions.
set -euo pipefail
cd "$(dirname "$0")/.."
sam=${1:?usage: deploy/build.sh <path to sam or samlocal>}
export SAM_CLI_TELEMETRY=0

if ! python312=$(bash deploy/find-python312.sh); then
  echo "sam build needs python3.12 (the Lambda runtime) on PATH or in pyenv; none found" >&2
  exit 1
fi
shift
build_dir=.aws-sam/build
for arg in "$@"; do
  case $arg in --build-dir=*) build_dir=${arg#--build-dir=} ;; esac
done
PATH="$(dirname "$python312"):$PATH" "$sam" build "$@"
# The docs function serves the merged OpenAPI document of every function: written here from
# the built layer, so a new docs container does not import every router (and driver) to build
# it on its first request (~0.5 s; smartnote/openapi.py).
if [ -d "$build_dir/DocsFunction" ]; then
  PYTHONPATH="$build_dir/SharedLayer/python" "$python312" -S -m smartnote.openapi \
    "$build_dir/DocsFunction/openapi.json"
fi
# Lambda's code folder is read-only, so without .pyc every cold start compiles every module;
# unchecked-hash .pyc are used whatever the file times in the zip say.
"$python312" -m compileall -q -j 0 --invalidation-mode unchecked-hash "$build_dir" >/dev/null
