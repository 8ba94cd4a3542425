#!/usr/bin/env bash
# Rebuild the committed contract artifacts from their Solidity sources with the npm solc
# compiler. The artifacts are committed; run this only after changing a .sol file.
#   tests/contracts/NAME.sol         -> tests/contracts/NAME.json        (test contracts)
#   ctripctl/evm/contracts/NAME.sol  -> ctripctl/evm/contracts/NAME.json (shipped: the sweep delegate)
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup-tools.sh
for source in tests/contracts/*.sol ctripctl/evm/contracts/*.sol; do
  out=$(mktemp -d)
  tools/node_modules/.bin/solcjs --optimize --bin --abi -o "$out" "$source"
  python3 - "$out" "$source" <<'PY'
import json, pathlib, sys
out, source = pathlib.Path(sys.argv[1]), pathlib.Path(sys.argv[2])
name = source.stem
abi = json.loads(next(out.glob(f"*_{name}.abi")).read_text())
bin_ = next(out.glob(f"*_{name}.bin")).read_text().strip()
artifact = {"contractName": name, "compiler": "solc-js 0.8.37 --optimize", "abi": abi, "bytecode": "0x" + bin_}
target = source.with_suffix(".json")
target.write_text(json.dumps(artifact, indent=1) + "\n")
print(f"wrote {target}")
PY
  rm -rf "$out"
done
