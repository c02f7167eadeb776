#!/usr/bin/env bash
# Print the path of a working python3.12 (the Lambda runtime's version): PATH first, then
# pyenv's versions. Prints nothing and exits 1 when there is none.
set -euo pipefail

works() {
  "$1" -c 'import sys; sys.exit(sys.version_info[:2] != (3, 12))' >/dev/null 2>&1
}

# A pyenv shim is on PATH even when its version is not selected: try it, it may just fail.
if candidate=$(command -v python3.12 2>/dev/null) && works "$candidate"; then
  echo "$candidate"
  exit 0
fi
pyenv_root=${PYENV_ROOT:-$HOME/.pyenv}
if command -v pyenv >/dev/null 2>&1; then
  pyenv_root=$(pyenv root)
fi
for candidate in "$pyenv_root"/versions/3.12*/bin/python3.12; do
  if [ -x "$candidate" ] && works "$candidate"; then
    echo "$candidate"
    exit 0
  fi
done
exit 1
