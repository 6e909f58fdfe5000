#!/usr/bin/env bash
# Runs the whole test suite on a fresh machine: installs what the tests need
# (moto's S3/SQS server, pinned, in a project-local virtualenv), starts it on a
# free port on 127.0.0.1, points the AWS SDK at it, checks formatting and
# lints (`cargo fmt --check`; the build runs through clippy-driver with
# warnings denied, as `cargo clippy --all-targets -D warnings` would), runs
# `cargo test`, and stops the server again. Extra arguments go to `cargo test`.
set -euo pipefail
cd "$(dirname "$0")/.."

MOTO_VERSION="5.2.5"
# deploy/athena/check.py (run by forwarder/tests/it/athena_hunts.rs) needs these.
DUCKDB_VERSION="2.0.0"
SQLGLOT_VERSION="30.30.0"
# deploy/tests/*.py (run by tests/it/deploy.rs) need these; boto3 comes with moto.
CFN_LINT_VERSION="1.58.0"
PYYAML_VERSION="6.0.3"
VENV="${FALCONRY_VENV:-.venv}"
mkdir -p target

# The Python tools install in the background while cargo compiles.
python_setup() {
  if [ ! -x "$VENV/bin/python" ]; then
    python3 -m venv "$VENV"
  fi
  if ! "$VENV/bin/python" -c "import importlib.metadata as m, sys; sys.exit(m.version('moto') != '$MOTO_VERSION')" 2>/dev/null; then
    echo "== installing moto[server]==$MOTO_VERSION into $VENV"
    "$VENV/bin/pip" install --quiet --disable-pip-version-check "moto[server]==$MOTO_VERSION"
  fi
  if ! "$VENV/bin/python" -c "import importlib.metadata as m, sys; sys.exit(m.version('duckdb') != '$DUCKDB_VERSION' or m.version('sqlglot') != '$SQLGLOT_VERSION')" 2>/dev/null; then
    echo "== installing duckdb==$DUCKDB_VERSION sqlglot==$SQLGLOT_VERSION into $VENV"
    "$VENV/bin/pip" install --quiet --disable-pip-version-check "duckdb==$DUCKDB_VERSION" "sqlglot==$SQLGLOT_VERSION"
  fi
  if ! "$VENV/bin/python" -c "import importlib.metadata as m, sys; sys.exit(m.version('cfn-lint') != '$CFN_LINT_VERSION' or m.version('PyYAML') != '$PYYAML_VERSION')" 2>/dev/null; then
    echo "== installing cfn-lint==$CFN_LINT_VERSION pyyaml==$PYYAML_VERSION into $VENV"
    "$VENV/bin/pip" install --quiet --disable-pip-version-check "cfn-lint==$CFN_LINT_VERSION" "pyyaml==$PYYAML_VERSION"
  fi
}
python_setup > target/python-setup.log 2>&1 &
python_pid=$!
moto_pid=""
cleanup() {
  kill "$python_pid" 2>/dev/null || true
  if [ -n "$moto_pid" ]; then kill "$moto_pid" 2>/dev/null || true; wait "$moto_pid" 2>/dev/null || true; fi
}
trap cleanup EXIT

# The guard rails, then one build of everything: the workspace's crates are
# compiled through clippy-driver (what `cargo clippy` runs) with warnings
# denied, so formatting and lints fail the run and nothing is compiled twice.
echo "== cargo fmt --check"
cargo fmt --all -- --check
echo "== cargo build of every target, clippy lints as errors"
if ! RUSTC_WORKSPACE_WRAPPER="$(command -v clippy-driver)"; then
  echo "clippy is needed (rustup component add clippy)"; exit 1
fi
RUSTFLAGS="${RUSTFLAGS:-} -D warnings"
export RUSTC_WORKSPACE_WRAPPER RUSTFLAGS
cargo test --workspace --locked --no-run --quiet

if ! wait "$python_pid"; then
  echo "installing the Python tools failed:"; cat target/python-setup.log; exit 1
fi
cat target/python-setup.log
FALCONRY_PYTHON="$(cd "$(dirname "$VENV/bin/python")" && pwd)/python"
export FALCONRY_PYTHON

port=$("$VENV/bin/python" -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')
"$VENV/bin/moto_server" -H 127.0.0.1 -p "$port" > target/moto.log 2>&1 &
moto_pid=$!

for _ in $(seq 1 100); do
  if "$VENV/bin/python" -c "import urllib.request; urllib.request.urlopen('http://127.0.0.1:$port/moto-api/', timeout=1)" 2>/dev/null; then
    break
  fi
  if ! kill -0 "$moto_pid" 2>/dev/null; then
    echo "moto_server exited; its log:"; cat target/moto.log; exit 1
  fi
  sleep 0.2
done
echo "== moto_server $MOTO_VERSION on 127.0.0.1:$port"

export AWS_ENDPOINT_URL="http://127.0.0.1:$port"
export AWS_ACCESS_KEY_ID="testing" AWS_SECRET_ACCESS_KEY="testing" AWS_REGION="us-east-1"
unset AWS_PROFILE AWS_SESSION_TOKEN AWS_DEFAULT_PROFILE
export FALCONRY_TEST_MOTO=1
# The real-shaped samples beside the repository, when present (CI has them);
# without them the real-sample tests are skipped, and this says so.
if [ -d ../shared/samples ]; then
  FALCONRY_SAMPLES="$(cd ../shared/samples && pwd)"
else
  echo "== no ../shared/samples beside the repository: the real-sample tests are skipped"
  FALCONRY_SAMPLES=none
fi
export FALCONRY_SAMPLES

status=0
cargo test --workspace --locked --no-fail-fast "$@" 2>&1 | tee target/test-output.txt || status=$?
# One closing line for the whole suite (cargo prints one per test binary).
awk '/^test result:/ {p += $4; f += $6} END {printf "%d passed, %d failed\n", p, f}' target/test-output.txt
exit "$status"
