#!/usr/bin/env bash
# Starts a local Label Studio for `taxo review` (one command): bash scripts/label-studio.sh [PORT]
#
# Runs Label Studio from .venv-ls (created by scripts/setup.sh) on http://localhost:PORT (default 8080), listening
# on 127.0.0.1 only (TAXO_LABEL_STUDIO_HOST=0.0.0.0 to let reviewers on other machines in). Data (database, media)
# in $TAXO_LABEL_STUDIO_DATA (default ~/.local/share/taxo/label-studio): it survives restarts.
#
# The first start creates the reviewer account (LABEL_STUDIO_USERNAME, default reviewer@localhost) with a random
# password and a random access token, saved (mode 600) in the data directory; the script never prints the token.
# Then, in the shell where you run taxo:
#   export TAXO_LABEL_STUDIO_URL=http://localhost:8080
#   export TAXO_LABEL_STUDIO_TOKEN="$(cat ~/.local/share/taxo/label-studio/taxo-token)"
set -euo pipefail
cd "$(dirname "$0")/.."
PORT=${1:-${TAXO_LABEL_STUDIO_PORT:-8080}}
HOST=${TAXO_LABEL_STUDIO_HOST:-127.0.0.1}
DATA=${TAXO_LABEL_STUDIO_DATA:-$HOME/.local/share/taxo/label-studio}
LS=.venv-ls/bin/label-studio
if [ ! -x "$LS" ]; then
    echo "Label Studio is not installed ($LS is missing): run bash scripts/setup.sh first" >&2
    exit 1
fi
mkdir -p "$DATA"
chmod 700 "$DATA"
umask 077
[ -s "$DATA/taxo-token" ] || .venv-ls/bin/python -c 'import secrets; print(secrets.token_hex(20))' > "$DATA/taxo-token"
[ -s "$DATA/taxo-password" ] || .venv-ls/bin/python -c 'import secrets; print(secrets.token_urlsafe(12))' > "$DATA/taxo-password"
USERNAME=${LABEL_STUDIO_USERNAME:-reviewer@localhost}

cat >&2 <<MSG
Label Studio: http://localhost:$PORT  (first start: about a minute of database set-up)
  sign in as $USERNAME, password in $DATA/taxo-password
  for taxo:  export TAXO_LABEL_STUDIO_URL=http://localhost:$PORT
             export TAXO_LABEL_STUDIO_TOKEN="\$(cat $DATA/taxo-token)"
MSG

export LABEL_STUDIO_ENABLE_LEGACY_API_TOKEN=true
export LABEL_STUDIO_USER_TOKEN="$(cat "$DATA/taxo-token")"
export LABEL_STUDIO_USERNAME="$USERNAME"
export LABEL_STUDIO_PASSWORD="$(cat "$DATA/taxo-password")"
export LABEL_STUDIO_BASE_DATA_DIR="$DATA"
export LATEST_VERSION_CHECK=false COLLECT_ANALYTICS=false SENTRY_DSN= FRONTEND_SENTRY_DSN=
exec "$LS" start --no-browser --internal-host "$HOST" --port "$PORT"
