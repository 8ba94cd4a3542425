"""The sweep keys of ctrip.toml and the mnemonic file: exact parsing, clear refusals."""

from __future__ import annotations

from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest

from ctripctl.config import Config, parse_config, read_mnemonic
from ctripctl.errors import InputError
from tests.support.config import TEST_XPUB

TOKEN = "0xdAC17F958D2ee523a2206206994597C13D831ec7"


def chain(**keys: Any) -> dict[str, Any]:
    return {
        "database_url": "sqlite:///x.db",
        "wallet": {"xpub": TEST_XPUB},
        "chains": {
            "eth": {
                "chain_id": 1,
                "rpc_urls": ["http://127.0.0.1:8545"],
                **keys,
                "tokens": {"USDT": {"address": TOKEN, "decimals": 6, "sweep_min": "2.5"}},
            }
        },
    }


def parse(raw: dict[str, Any], tmp_path: Path) -> Config:
    return parse_config(raw, tmp_path / "ctrip.toml", {})


def test_sweep_keys_parse_exactly(tmp_path: Path) -> None:
    config = parse(
        chain(
            treasury="0x000000000000000000000000000000000000dead",
            max_fee_gwei="50.5",
            sweep_min="0.01",
            fee_cache_ttl="30s",
        ),
        tmp_path,
    )
    eth = config.chain("eth")
    assert eth.treasury == "0x000000000000000000000000000000000000dEaD"  # checksummed
    assert eth.max_fee_wei == 50_500_000_000
    assert eth.sweep_min_base == 10**16
    assert eth.fee_cache_ttl == timedelta(seconds=30)
    assert eth.tokens["USDT"].sweep_min_base == 2_500_000


def test_defaults_sweep_nothing_and_cap_nothing(tmp_path: Path) -> None:
    eth = parse(chain(), tmp_path).chain("eth")
    assert (eth.treasury, eth.max_fee_wei, eth.sweep_min_base) == (None, None, 0)
    assert eth.fee_cache_ttl == timedelta(seconds=10)


@pytest.mark.parametrize(
    ("keys", "message"),
    [
        ({"treasury": "0x000000000000000000000000000000000000DEAd"}, "checksum"),
        ({"treasury": "treasury"}, "not a 0x-prefixed"),
        ({"max_fee_gwei": 50}, "decimal string"),
        ({"max_fee_gwei": "1e3"}, "max_fee_gwei"),
        ({"sweep_min": "0.0000000000000000001"}, "sweep_min"),
        ({"sweep_min": "-1"}, "sweep_min"),
        ({"fee_cache_ttl": "soon"}, "fee_cache_ttl"),
    ],
)
def test_bad_sweep_keys_are_input_errors(tmp_path: Path, keys: dict[str, Any], message: str) -> None:
    with pytest.raises(InputError, match=message):
        parse(chain(**keys), tmp_path)


def test_the_mnemonic_file_must_be_private(tmp_path: Path) -> None:
    words = tmp_path / "m"
    words.write_text("abandon " * 11 + "about\n")
    config = parse({**chain(), "wallet": {"xpub": TEST_XPUB, "mnemonic_file": "m"}}, tmp_path)
    words.chmod(0o600)
    assert read_mnemonic(config, env={}).endswith("about")
    words.chmod(0o640)
    with pytest.raises(InputError, match="chmod 600") as refused:
        read_mnemonic(config, env={})
    assert "abandon" not in str(refused.value)
    words.chmod(0o600)
    other = tmp_path / "other"
    other.write_text("x")
    other.chmod(0o604)
    with pytest.raises(InputError, match="CTRIP_MNEMONIC_FILE"):
        read_mnemonic(config, env={"CTRIP_MNEMONIC_FILE": str(other)})
    with pytest.raises(InputError, match="cannot read"):
        read_mnemonic(config, env={"CTRIP_MNEMONIC_FILE": str(tmp_path / "missing")})
    bare = parse(chain(), tmp_path)
    with pytest.raises(InputError, match="mnemonic_file"):
        read_mnemonic(bare, env={})
