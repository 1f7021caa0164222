# Shared environment for Runnel's scripts (sourced, not run).
# The cargo target directory lives outside the checkout so CI runs and later sessions
# reuse the RocksDB build (about 20 minutes cold on two cores).
export CARGO_TARGET_DIR="${CARGO_TARGET_DIR:-$HOME/.cache/runnel/target}"
export RUNNEL_CACHE="${RUNNEL_CACHE:-$HOME/.cache/runnel}"
export RUNNEL_BIN="${RUNNEL_BIN:-$CARGO_TARGET_DIR/release/runnel}"
# The history checker of the cluster fault checks (compat/history), a cargo example.
export RUNNEL_HISTORY_CHECK="${RUNNEL_HISTORY_CHECK:-$CARGO_TARGET_DIR/release/examples/history_check}"
RUNNEL_ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
export RUNNEL_ROOT
