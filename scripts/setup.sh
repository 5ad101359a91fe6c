#!/usr/bin/env bash
# Sets up the workbench on a fresh machine: .venv/ in the repository root with the `taxo` CLI and test tools.
# torch is installed first and pinned (2.13.0, CPU build) so that nothing pulls a multi-GB CUDA build.
set -euo pipefail
cd "$(dirname "$0")/.."
PYTHON=${PYTHON:-python3}
if [ ! -x .venv/bin/python ]; then
    "$PYTHON" -m venv .venv
fi
export PIP_DISABLE_PIP_VERSION_CHECK=1
.venv/bin/python -m pip install -q --upgrade pip
.venv/bin/python -m pip install -q "torch==2.13.0"
.venv/bin/python -m pip install -q -e '.[test]'
.venv/bin/taxo --help >/dev/null
echo "Set up: $(.venv/bin/python --version), CLI at .venv/bin/taxo"
