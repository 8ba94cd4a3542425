#!/usr/bin/env bash
# Install the test/demo tools into ./tools (git-ignored): anvil (a prebuilt binary shipped in
# the npm package @foundry-rs/anvil-linux-amd64) and solc (the npm solc-js compiler).
set -euo pipefail
cd "$(dirname "$0")/.."
ANVIL_VERSION=1.7.1
SOLC_VERSION=0.8.37
if [ -x tools/node_modules/.bin/anvil ] && [ -x tools/node_modules/.bin/solcjs ] \
   && tools/node_modules/.bin/anvil --version | grep -q "$ANVIL_VERSION"; then
  exit 0
fi
mkdir -p tools
npm install --silent --no-audit --no-fund --no-save --no-package-lock --prefix tools \
  "@foundry-rs/anvil-linux-amd64@${ANVIL_VERSION}" "solc@${SOLC_VERSION}"
tools/node_modules/.bin/anvil --version | head -1
