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
.venv/bin/python -m pip install -q -e '.[test,onnx]'
.venv/bin/taxo --help >/dev/null
# A real browser for the tests of what a person looks at (the HTML report, the Label Studio task view): Debian's
# chromium, driven by playwright with executable_path=/usr/bin/chromium (playwright's own browser download is not used).
if [ ! -x /usr/bin/chromium ] && [ "${TAXO_SKIP_BROWSER:-0}" != 1 ]; then
    if [ "$(id -u)" = 0 ]; then
        apt-get update -q >/dev/null
        DEBIAN_FRONTEND=noninteractive apt-get install -y -q chromium chromium-driver fonts-dejavu-core >/dev/null
    else
        echo "Chromium is missing: run 'sudo apt-get install chromium chromium-driver' for the browser tests" >&2
    fi
fi
# Label Studio (for `taxo review` and its integration tests) lives in its own virtualenv: its pins clash with ours.
# Pinned; installing it takes a few minutes, so an existing .venv-ls at the pinned version is kept as it is.
LABEL_STUDIO_VERSION=1.23.2
if [ "${TAXO_SKIP_LABEL_STUDIO:-0}" != 1 ]; then
    if [ -x .venv-ls/bin/label-studio ] && .venv-ls/bin/python -c "import importlib.metadata as m, sys; sys.exit(m.version('label-studio') != '$LABEL_STUDIO_VERSION')" 2>/dev/null; then
        echo "Label Studio $LABEL_STUDIO_VERSION already in .venv-ls"
    else
        "$PYTHON" -m venv --clear .venv-ls
        .venv-ls/bin/python -m pip install -q --upgrade pip
        .venv-ls/bin/python -m pip install -q "label-studio==$LABEL_STUDIO_VERSION"
        echo "Installed Label Studio $LABEL_STUDIO_VERSION in .venv-ls"
    fi
fi
echo "Set up: $(.venv/bin/python --version), CLI at .venv/bin/taxo"
