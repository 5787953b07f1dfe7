#!/usr/bin/env bash
# README's test command: installs what the integration tests need on a fresh machine (Rust
# toolchain, Python 3 with pip, Node/npm), then runs every test.
# - Python: `deltalake`/`pyarrow` (tests read the output tables back with them), moto's S3 server,
#   and the Azure client used to create a container in Azurite.
# - Azurite (Azure Blob server, from npm), kept outside the checkout; tests/it/object_stores.rs
#   finds it there.
set -euo pipefail
cd "$(dirname "$0")/.."
export CARGO_TARGET_DIR="${CARGO_TARGET_DIR:-$HOME/.cache/auditlake-target}"

if ! python3 -c "import deltalake, pyarrow, moto, flask, azure.storage.blob" 2>/dev/null; then
  python3 -m pip install --quiet --disable-pip-version-check "deltalake>=1.0,<2" pyarrow "moto[server]" azure-storage-blob
fi
python3 -m moto.server --help >/dev/null || { echo "test.sh: moto's server mode does not start" >&2; exit 1; }

TOOLS="$HOME/.cache/auditlake-tools"
if [ ! -x "$TOOLS/node_modules/.bin/azurite-blob" ]; then
  npm install --silent --no-audit --no-fund --prefix "$TOOLS" azurite
fi

cargo test --locked --lib --tests "$@"
