#!/usr/bin/env bash
# Rebuild tests/contracts/TestToken.json from TestToken.sol with the npm solc compiler.
# The artifact is committed; run this only after changing the Solidity source.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup-tools.sh
out=$(mktemp -d)
tools/node_modules/.bin/solcjs --optimize --bin --abi -o "$out" tests/contracts/TestToken.sol
python3 - "$out" <<'PY'
import json, pathlib, sys
out = pathlib.Path(sys.argv[1])
abi = json.loads(next(out.glob("*TestToken.abi")).read_text())
bin_ = next(out.glob("*TestToken.bin")).read_text().strip()
artifact = {"contractName": "TestToken", "compiler": "solc-js 0.8.37 --optimize", "abi": abi, "bytecode": "0x" + bin_}
pathlib.Path("tests/contracts/TestToken.json").write_text(json.dumps(artifact, indent=1) + "\n")
print("wrote tests/contracts/TestToken.json")
PY
rm -rf "$out"
