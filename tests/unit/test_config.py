"""ctrip.toml validation: every problem is one InputError naming the file and the key."""

from __future__ import annotations

from datetime import timedelta
from pathlib import Path

import pytest

from ctripctl.config import load_config
from ctripctl.errors import InputError
from tests.support.config import TEST_SECRET, TEST_XPUB

USDT = "0xdAC17F958D2ee523a2206206994597C13D831ec7"
USDC = "0xA0b86991c6218b36c1d19D4a2e9Eb0cE3606eB48"
BASE = f"""
database_url = "sqlite:///ctrip.db"

[wallet]
xpub = "{TEST_XPUB}"

[webhooks]
secret = "{TEST_SECRET}"
default_url = "https://merchant.example/hooks/ctrip"

[chains.eth]
chain_id = 1
rpc_urls = ["https://rpc-a.example", "https://user:pw@rpc-b.example/key"]
confirmations = 12
block_batch_size = 500
start_block = 21000000

[chains.eth.tokens.USDT]
address = "{USDT}"
decimals = 6
"""


def write(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "ctrip.toml"
    path.write_text(text)
    return path


def load_error(tmp_path: Path, text: str, env: dict[str, str] | None = None) -> str:
    path = write(tmp_path, text)
    with pytest.raises(InputError) as info:
        load_config(path, env=env or {})
    message = str(info.value)
    assert message.startswith(f"{path}"), message  # every error names the file
    assert "\n" not in message
    return message


def test_design_example_loads(tmp_path: Path) -> None:
    path = write(tmp_path, BASE)
    config = load_config(path, env={})
    assert config.database_url == f"sqlite:///{tmp_path.resolve() / 'ctrip.db'}"
    assert config.xpub == TEST_XPUB
    assert config.webhooks.secret == TEST_SECRET
    assert config.webhooks.allow_private_targets is False
    eth = config.chain("eth")
    assert eth.chain_id == 1
    assert eth.rpc_urls == ("https://rpc-a.example", "https://user:pw@rpc-b.example/key")
    assert (eth.confirmations, eth.block_batch_size, eth.start_block) == (12, 500, 21_000_000)
    assert eth.tokens["USDT"].address == USDT and eth.tokens["USDT"].decimals == 6
    assert eth.asset("usdt").decimals == 6
    assert eth.asset(None).is_native and eth.asset("eth").decimals == 18
    assert config.default_expires_in == timedelta(minutes=60)


def test_lowercase_token_address_is_checksummed(tmp_path: Path) -> None:
    config = load_config(write(tmp_path, BASE.replace(USDT, USDT.lower())), env={})
    assert config.chain("eth").tokens["USDT"].address == USDT


@pytest.mark.parametrize(
    ("old", "new", "expected"),
    [
        # bad addresses
        (USDT, "0x1234", "chains.eth.tokens.USDT.address: token address '0x1234' is not a 0x-prefixed"),
        (USDT, USDT[:-1] + "8", "chains.eth.tokens.USDT.address"),
        (USDT, "0xdAC17F958D2ee523a2206206994597C13D831eC7", "wrong EIP-55 checksum"),
        # unknown keys at each level
        (
            'database_url = "sqlite:///ctrip.db"',
            'database_url = "sqlite:///ctrip.db"\ncolour = 1',
            "'colour'",
        ),
        ("[wallet]", "[wallet]\nseed = 'x'", "unknown key 'wallet.seed'"),
        ("[webhooks]", "[webhooks]\nretries = 3", "unknown key 'webhooks.retries'"),
        ("chain_id = 1", "chain_id = 1\nconfirmation = 3", "unknown key 'chains.eth.confirmation'"),
        ("decimals = 6", "decimals = 6\nsymbol = 'USDT'", "unknown key 'chains.eth.tokens.USDT.symbol'"),
        ("[wallet]", "[payments]\nexpiry = '1h'\n[wallet]", "unknown key 'payments.expiry'"),
        # missing / wrong types
        ("chain_id = 1\n", "", "chains.eth.chain_id is required"),
        ("chain_id = 1", 'chain_id = "1"', "chains.eth.chain_id must be an integer"),
        ("chain_id = 1", "chain_id = 0", "chains.eth.chain_id must be an integer from 1"),
        ("chain_id = 1", "chain_id = 1.0", "chains.eth.chain_id must be an integer"),
        ("confirmations = 12", "confirmations = true", "chains.eth.confirmations must be an integer"),
        ("block_batch_size = 500", "block_batch_size = -5", "chains.eth.block_batch_size must be"),
        ("decimals = 6", "decimals = 37", "chains.eth.tokens.USDT.decimals must be an integer from 0 to 36"),
        ("decimals = 6", "", "chains.eth.tokens.USDT.decimals is required"),
        ('rpc_urls = ["https://rpc-a.example", "https://user:pw@rpc-b.example/key"]', "", "rpc_urls must be"),
        (
            '["https://rpc-a.example", ',
            '["ws://rpc-a.example", ',
            "chains.eth.rpc_urls: 'ws://rpc-a.example'",
        ),
        ('["https://rpc-a.example", ', '["http://[::1", ', "chains.eth.rpc_urls: 'http://***'"),
        ('["https://rpc-a.example", ', '["http://node:99999", ', "chains.eth.rpc_urls"),
        ("rpc_urls = [", 'rpc_urls = "https://x" #', "rpc_urls must be a non-empty list"),
        ("[webhooks]", "[webhooks]\nallow_private_targets = 'yes'", "webhooks.allow_private_targets must be"),
        ("[webhooks]", "[webhooks]\ntimeout = 10", "webhooks.timeout must be a duration string"),
        ("[webhooks]", "[webhooks]\ntimeout = 'ten'", "webhooks.timeout 'ten' is not a duration"),
        ('default_url = "https://merchant.example/hooks/ctrip"', 'default_url = "ftp://x"', "default_url"),
        (f'secret = "{TEST_SECRET}"', 'secret = "hunter2"', "webhooks.secret must start with whsec_"),
        ('database_url = "sqlite:///ctrip.db"', "database_url = 5", "database_url must be a string"),
        ('database_url = "sqlite:///ctrip.db"', "", "database_url is required"),
        ("[chains.eth]", "[chains.eth.x]\n[chains.eth]", "chains.eth.x"),
        (
            'database_url = "sqlite:///ctrip.db"',
            'database_url = "sqlite:///x.db"\npayments = 3',
            "payments must be a table",
        ),
        ("start_block = 21000000", 'start_block = 1\nfinality = "safe"', "chains.eth.finality must be"),
        # names that would not fit their database columns
        ("[chains.eth]", "[chains." + "x" * 65 + "]\nchain_id = 5\n[chains.eth]", "chain name 'xxxx"),
        ("[chains.eth]", '[chains."my chain"]\nchain_id = 5\n[chains.eth]', "chain name 'my chain' must be"),
        ("[chains.eth.tokens.USDT]", '[chains.eth.tokens."US DT"]', "token symbol 'US DT' must be"),
        ("[chains.eth.tokens.USDT]", "[chains.eth.tokens." + "T" * 33 + "]", "must be 1-32 letters"),
        (
            "start_block = 21000000",
            'start_block = 1\nnative_symbol = "E T H"',
            "chains.eth.native_symbol must be",
        ),
        # duplicates
        (
            "decimals = 6\n",
            f'decimals = 6\n[chains.eth.tokens.usdt]\naddress = "{USDC}"\ndecimals = 6\n',
            "duplicate",
        ),
        (
            "decimals = 6\n",
            'decimals = 6\n[chains.eth.tokens.DAI]\naddress = "' + USDT.lower() + '"\ndecimals = 18\n',
            "duplicate token (same address as USDT)",
        ),
        (
            "decimals = 6\n",
            f'decimals = 6\n[chains.eth.tokens.eth]\naddress = "{USDC}"\ndecimals = 18\n',
            "duplicate token symbol 'eth'",
        ),
        # wallet
        (
            TEST_XPUB,
            TEST_XPUB[:-1] + ("A" if TEST_XPUB[-1] != "A" else "B"),
            "wallet.xpub: not a valid extended",
        ),
        (TEST_XPUB, "not-an-xpub", "wallet.xpub"),
        (
            TEST_XPUB,
            "xprv9s21ZrQH143K3GJpoapnV8SFfukcVBSfeCficPSGfubmSFDxo1kuHnLisriDvSnRRuL2Qrg5ggqHKNVpxR86QEC8w35uxmGoggxtQTPvfUu",
            "wallet.xpub: not an extended public key",
        ),
        (
            TEST_XPUB,
            "xpub661MyMwAqRbcFW31YEwpkMuc5THy2PSt5bDMsktWQcFF8syAmRUapSCGu8ED9W6oDMSgv6Zz8idoc4a6mr8BDzTJY47LJhkJ8UB7WEGuduB",
            "wallet.xpub: must be the account-level key (m/44'/60'/0', depth 3), got depth 0",
        ),
    ],
)
def test_invalid(tmp_path: Path, old: str, new: str, expected: str) -> None:
    assert old in BASE
    message = load_error(tmp_path, BASE.replace(old, new, 1))
    assert expected in message, message
    assert "pw@" not in message  # never a password from an RPC URL


def test_missing_file(tmp_path: Path) -> None:
    with pytest.raises(InputError, match=r"no config file at .*ctripctl init"):
        load_config(tmp_path / "nope.toml", env={})


def test_invalid_toml_names_the_file(tmp_path: Path) -> None:
    message = load_error(tmp_path, "database_url = \n")
    assert "invalid TOML" in message


def test_duplicate_toml_key(tmp_path: Path) -> None:
    message = load_error(tmp_path, BASE.replace("decimals = 6", "decimals = 6\ndecimals = 8"))
    assert "invalid TOML" in message


def test_path_from_env_var(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    path = write(tmp_path, BASE)
    monkeypatch.setenv("CTRIP_CONFIG", str(path))
    assert load_config(None, env={}).path == path


def test_env_overrides(tmp_path: Path) -> None:
    from ctripctl.evm.wallet import account_xpub

    other_xpub = account_xpub("legal winner thank year wave sausage worth useful legal winner thank yellow")
    env = {
        "CTRIP_DATABASE_URL": "postgresql+psycopg://ctrip:s3cret@db/ctrip",
        "CTRIP_XPUB": other_xpub,
        "CTRIP_WEBHOOK_SECRET": "whsec_fromenvironment",
        "CTRIP_RPC_URLS_ETH": "https://one.example, https://two.example",
    }
    config = load_config(write(tmp_path, BASE), env=env)
    assert config.database_url == env["CTRIP_DATABASE_URL"]
    assert config.xpub == other_xpub
    assert config.webhooks.secret == "whsec_fromenvironment"
    assert config.chain("eth").rpc_urls == ("https://one.example", "https://two.example")


def test_env_overrides_fill_missing_values(tmp_path: Path) -> None:
    text = BASE.replace('database_url = "sqlite:///ctrip.db"', "").replace(f'xpub = "{TEST_XPUB}"', "")
    config = load_config(write(tmp_path, text), env={"CTRIP_DATABASE_URL": "sqlite:////tmp/x.db"})
    assert config.database_url == "sqlite:////tmp/x.db"
    assert config.xpub is None
    config = load_config(
        write(tmp_path, text), env={"CTRIP_DATABASE_URL": "sqlite:///x.db", "CTRIP_XPUB": TEST_XPUB}
    )
    assert config.xpub == TEST_XPUB
    assert config.database_url == f"sqlite:///{tmp_path.resolve() / 'x.db'}"


def test_bad_env_xpub_names_the_variable(tmp_path: Path) -> None:
    message = load_error(tmp_path, BASE, env={"CTRIP_XPUB": "xpubnonsense"})
    assert "CTRIP_XPUB" in message


def test_bad_env_secret(tmp_path: Path) -> None:
    message = load_error(tmp_path, BASE, env={"CTRIP_WEBHOOK_SECRET": "plain"})
    assert "webhooks.secret must start with whsec_" in message


def test_first_index(tmp_path: Path) -> None:
    assert load_config(write(tmp_path, BASE), env={}).first_index is None  # unset: check, start at 0
    text = BASE.replace("[wallet]", "[wallet]\nfirst_index = 100")
    assert load_config(write(tmp_path, text), env={}).first_index == 100
    for bad in ("-1", "2147483648", "true", "'100'", "1.5"):
        message = load_error(tmp_path, BASE.replace("[wallet]", f"[wallet]\nfirst_index = {bad}"))
        assert "wallet.first_index must be an integer from 0 to 2147483647" in message, message


def test_secret_file(tmp_path: Path) -> None:
    (tmp_path / "hook.secret").write_text(TEST_SECRET + "\n")
    text = BASE.replace(f'secret = "{TEST_SECRET}"', 'secret_file = "hook.secret"')
    assert load_config(write(tmp_path, text), env={}).webhooks.secret == TEST_SECRET
    missing = text.replace("hook.secret", "missing.secret")
    assert "webhooks.secret_file: cannot read" in load_error(tmp_path, missing)


def test_unknown_chain_and_token(tmp_path: Path) -> None:
    config = load_config(write(tmp_path, BASE), env={})
    with pytest.raises(InputError, match=r"unknown chain 'bsc' \(known: eth\)"):
        config.chain("bsc")
    with pytest.raises(InputError, match=r"unknown token 'DAI' on chain 'eth' \(known: ETH, USDT\)"):
        config.chain("eth").asset("DAI")


@pytest.mark.parametrize(
    "url",
    ["mysql://x/y", "postgresql+asyncpg://u@h/db", "foo://x", "x.db", "oracle+cx://h/db"],
)
def test_unsupported_database_urls_are_refused(tmp_path: Path, url: str) -> None:
    message = load_error(
        tmp_path, BASE.replace('database_url = "sqlite:///ctrip.db"', f'database_url = "{url}"', 1)
    )
    assert "database_url" in message and "not a supported database URL" in message, message
