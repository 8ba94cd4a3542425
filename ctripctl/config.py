"""ctrip.toml: load, validate and override from the environment.

The file's path comes from `--config`, `CTRIP_CONFIG`, or defaults to `./ctrip.toml`. The
README's "Configuration" section shows every key (tests/unit/test_config_schema.py keeps
it, the allowed-key sets below and the starter file in step). Environment overrides:
CTRIP_DATABASE_URL, CTRIP_XPUB, CTRIP_WEBHOOK_SECRET, CTRIP_WEBHOOK_SECRET_FILE,
CTRIP_RPC_URLS_<CHAIN> (comma-separated). Every problem is one InputError naming the file
and the key.
"""

from __future__ import annotations

import os
import re
import tomllib
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import timedelta
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

from ctripctl.domain.durations import parse_duration
from ctripctl.domain.inputs import check_webhook_url
from ctripctl.errors import InputError
from ctripctl.urls import mask_url

DEFAULT_PATH = "ctrip.toml"
NATIVE_DECIMALS = 18
#: Block hashes kept beyond `confirmations` by default, for walking back a reorg.
REORG_MARGIN = 64
#: The highest non-hardened BIP-32 child index: deposit indexes stay below 2**31.
MAX_INDEX = 2**31 - 1

_TOP_KEYS = {"database_url", "payments", "wallet", "webhooks", "chains"}
_PAYMENTS_KEYS = {"default_expires_in", "late_window"}
_WALLET_KEYS = {"xpub", "mnemonic_file", "first_index"}
_WEBHOOK_KEYS = {"secret", "secret_file", "default_url", "allow_private_targets", "timeout"}
_CHAIN_KEYS = {
    "chain_id",
    "rpc_urls",
    "confirmations",
    "block_batch_size",
    "start_block",
    "finality",
    "native_symbol",
    "max_lag_blocks",
    "max_idle",
    "rpc_timeout",
    "scan_source",
    "internal_transfers",
    "tokens",
    "treasury",
    "max_fee_gwei",
    "sweep_min",
    "fee_cache_ttl",
    "reorg_window",
    "sweep_strategy",
    "max_batch",
}
_TOKEN_KEYS = {"address", "decimals", "sweep_min"}
# Names end up in database columns (chain: 64 chars, token: 32) and env var names.
_NAME = re.compile(r"[A-Za-z0-9_-]{1,64}")
_SYMBOL = re.compile(r"[A-Za-z0-9_.-]{1,32}")


@dataclass(frozen=True)
class TokenConfig:
    symbol: str
    address: str  # checksummed
    decimals: int
    sweep_min_base: int = 0  # smaller balances are not swept


@dataclass(frozen=True)
class Asset:
    """What a payment is denominated in: the native coin (address None) or a token."""

    symbol: str
    address: str | None
    decimals: int

    @property
    def is_native(self) -> bool:
        return self.address is None


@dataclass(frozen=True)
class ChainConfig:
    name: str
    chain_id: int
    rpc_urls: tuple[str, ...]
    confirmations: int = 12
    block_batch_size: int = 500
    start_block: int = 0
    finality: str = "confirmations"
    native_symbol: str = "ETH"
    max_lag_blocks: int = 50
    max_idle: timedelta = timedelta(minutes=10)
    rpc_timeout: timedelta = timedelta(seconds=10)
    scan_source: str = "blocks"  # "blocks" (full-transaction blocks + eth_getLogs) or "receipts"
    # ETH sent from inside contract calls (chain/internal.py): "auto" (trace where the node
    # can, else record the balance change), "trace" (a node that cannot is unavailable),
    # "balance" (never trace), "off".
    internal_transfers: str = "auto"
    tokens: Mapping[str, TokenConfig] = field(default_factory=dict)
    treasury: str | None = None  # checksummed; None: this chain is not swept
    max_fee_wei: int | None = None  # the cap on max fee per gas (gas price on legacy chains)
    sweep_min_base: int = 0  # native balances below this are not swept
    fee_cache_ttl: timedelta = timedelta(seconds=10)
    sweep_strategy: str = "auto"  # token gas: "auto" | "topup" | "eip7702" (domain.sweeping.Strategy)
    max_batch: int = 100  # deposits per sponsored EIP-7702 transaction
    # Recent block hashes kept to walk a reorg back to its common ancestor (None: the
    # default, confirmations + REORG_MARGIN); a deeper reorg stops the scan (deep_reorg).
    reorg_window: int | None = None

    @property
    def hashes_kept(self) -> int:
        """`reorg_window`: how many of the latest scanned blocks keep their hash."""
        return self.reorg_window if self.reorg_window is not None else self.confirmations + REORG_MARGIN

    def asset(self, token: str | None) -> Asset:
        """The asset named by `--token` (None: the native coin). Symbols ignore case."""
        if token is None or token.upper() == self.native_symbol.upper():
            return Asset(self.native_symbol, None, NATIVE_DECIMALS)
        for symbol, cfg in self.tokens.items():
            if symbol.upper() == token.upper():
                return Asset(symbol, cfg.address, cfg.decimals)
        known = ", ".join([self.native_symbol, *self.tokens]) or "none"
        raise InputError(f"unknown token {token!r} on chain {self.name!r} (known: {known})")


@dataclass(frozen=True)
class WebhookConfig:
    secret: str | None = None
    default_url: str | None = None
    allow_private_targets: bool = False
    timeout: timedelta = timedelta(seconds=10)


@dataclass(frozen=True)
class Config:
    path: Path
    database_url: str
    xpub: str | None = None
    mnemonic_file: Path | None = None
    #: The first deposit index a database hands out ([wallet] first_index); None: 0, after
    #: checking that the wallet's first addresses were never used (ops/address_reuse.py).
    first_index: int | None = None
    webhooks: WebhookConfig = field(default_factory=WebhookConfig)
    chains: Mapping[str, ChainConfig] = field(default_factory=dict)
    default_expires_in: timedelta = timedelta(minutes=60)
    late_window: timedelta = timedelta(days=7)

    def chain(self, name: str) -> ChainConfig:
        """The chain called `name`, or an InputError listing the configured ones."""
        try:
            return self.chains[name]
        except KeyError:
            known = ", ".join(self.chains) or "none configured"
            raise InputError(f"unknown chain {name!r} (known: {known})") from None


def config_path(explicit: str | Path | None = None) -> Path:
    """`--config`, else `CTRIP_CONFIG`, else ./ctrip.toml."""
    return Path(explicit or os.environ.get("CTRIP_CONFIG") or DEFAULT_PATH)


def load_config(explicit: str | Path | None = None, env: Mapping[str, str] | None = None) -> Config:
    """Read, validate and environment-override the config file."""
    path = config_path(explicit)
    env = os.environ if env is None else env
    try:
        raw = tomllib.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise InputError(
            f"no config file at {path} (run `ctripctl init`, or pass --config / CTRIP_CONFIG)"
        ) from None
    except (OSError, UnicodeDecodeError) as exc:
        raise InputError(f"cannot read config {path}: {exc}") from None
    except tomllib.TOMLDecodeError as exc:
        raise InputError(f"{path}: invalid TOML: {exc}") from None
    return parse_config(raw, path, env)


def parse_config(raw: Mapping[str, Any], path: Path, env: Mapping[str, str]) -> Config:
    """Validate an already-parsed TOML document (split out so tests can feed dicts)."""
    v = _Validator(path)
    v.keys(raw, _TOP_KEYS, "")
    base = path.resolve().parent

    database_url = env.get("CTRIP_DATABASE_URL") or v.string(raw, "database_url", "")
    if not database_url:
        raise InputError(f"{path}: database_url is required (or set CTRIP_DATABASE_URL)")
    try:
        check_database_url(database_url)
    except InputError as exc:
        raise InputError(f"{path}: database_url: {exc}") from None
    database_url = _resolve_sqlite(database_url, base)

    payments = v.table(raw, "payments")
    v.keys(payments, _PAYMENTS_KEYS, "payments")
    default_expires = v.duration(payments, "default_expires_in", "payments", "60m")
    late_window = v.duration(payments, "late_window", "payments", "7d")

    wallet = v.table(raw, "wallet")
    v.keys(wallet, _WALLET_KEYS, "wallet")
    xpub = _xpub(path, env.get("CTRIP_XPUB"), v.string(wallet, "xpub", "wallet"))
    mnemonic = v.string(wallet, "mnemonic_file", "wallet")
    mnemonic_file = (base / mnemonic) if mnemonic else None
    first_index = None
    if "first_index" in wallet:
        first_index = v.integer(wallet, "first_index", "wallet", 0, 0, MAX_INDEX)

    hooks = v.table(raw, "webhooks")
    v.keys(hooks, _WEBHOOK_KEYS, "webhooks")
    secret = env.get("CTRIP_WEBHOOK_SECRET") or v.string(hooks, "secret", "webhooks") or None
    secret_file = env.get("CTRIP_WEBHOOK_SECRET_FILE") or v.string(hooks, "secret_file", "webhooks")
    if secret is None and secret_file:
        try:
            secret = (base / secret_file).read_text(encoding="utf-8").strip()
        except OSError as exc:
            raise InputError(f"{path}: webhooks.secret_file: cannot read: {exc.strerror}") from None
    if secret is not None and not secret.startswith("whsec_"):
        raise InputError(f"{path}: webhooks.secret must start with whsec_")
    default_url = v.string(hooks, "default_url", "webhooks") or None
    if default_url is not None:
        try:
            check_webhook_url(default_url)
        except InputError as exc:
            raise InputError(f"{path}: webhooks.default_url: {exc}") from None
    webhooks = WebhookConfig(
        secret=secret,
        default_url=default_url,
        allow_private_targets=v.boolean(hooks, "allow_private_targets", "webhooks", False),
        timeout=v.duration(hooks, "timeout", "webhooks", "10s"),
    )

    chains_raw = v.table(raw, "chains")
    chains = {name: _parse_chain(v, name, v.table(chains_raw, name, "chains"), env) for name in chains_raw}
    return Config(
        path=path,
        database_url=database_url,
        xpub=xpub,
        mnemonic_file=mnemonic_file,
        first_index=first_index,
        webhooks=webhooks,
        chains=chains,
        default_expires_in=default_expires,
        late_window=late_window,
    )


def _parse_chain(v: _Validator, name: str, raw: Mapping[str, Any], env: Mapping[str, str]) -> ChainConfig:
    from ctripctl.evm.addresses import parse_address

    where = f"chains.{name}"
    if not _NAME.fullmatch(name):
        raise InputError(f"{v.path}: chain name {name!r} must be 1-64 letters, digits, '-' or '_'")
    v.keys(raw, _CHAIN_KEYS, where)
    if "chain_id" not in raw:
        raise InputError(f"{v.path}: {where}.chain_id is required")
    override = env.get(f"CTRIP_RPC_URLS_{name.upper()}")
    if override:
        urls = [u.strip() for u in override.split(",") if u.strip()]
    else:
        urls = raw.get("rpc_urls")
        if not isinstance(urls, list) or not urls or not all(isinstance(u, str) for u in urls):
            raise InputError(f"{v.path}: {where}.rpc_urls must be a non-empty list of URLs")
    for url in urls:
        if not _is_http_url(url):
            raise InputError(f"{v.path}: {where}.rpc_urls: {mask_url(url)!r} is not an http(s) URL")
    finality = v.string(raw, "finality", where) or "confirmations"
    if finality not in ("confirmations", "finalized"):
        raise InputError(f"{v.path}: {where}.finality must be 'confirmations' or 'finalized'")
    tokens: dict[str, TokenConfig] = {}
    seen_addresses: dict[str, str] = {}
    native_symbol = v.string(raw, "native_symbol", where) or "ETH"
    if not _SYMBOL.fullmatch(native_symbol):
        raise InputError(f"{v.path}: {where}.native_symbol must be 1-32 letters, digits, '.', '-' or '_'")
    for symbol, traw in v.table(raw, "tokens", where).items():
        twhere = f"{where}.tokens.{symbol}"
        if not _SYMBOL.fullmatch(symbol):
            raise InputError(
                f"{v.path}: token symbol {symbol!r} must be 1-32 letters, digits, '.', '-' or '_'"
            )
        if not isinstance(traw, dict):
            raise InputError(f"{v.path}: {twhere} must be a table")
        v.keys(traw, _TOKEN_KEYS, twhere)
        if symbol.upper() in {s.upper() for s in tokens} | {native_symbol.upper()}:
            raise InputError(f"{v.path}: {twhere}: duplicate token symbol {symbol!r}")
        try:
            address = parse_address(str(traw.get("address", "")), what="token address")
        except InputError as exc:
            raise InputError(f"{v.path}: {twhere}.address: {exc}") from None
        if address in seen_addresses:
            raise InputError(
                f"{v.path}: {twhere}.address: duplicate token (same address as {seen_addresses[address]})"
            )
        seen_addresses[address] = symbol
        decimals = v.integer(traw, "decimals", twhere, None, 0, 36)
        sweep_min = v.amount(traw, "sweep_min", twhere, decimals)
        tokens[symbol] = TokenConfig(symbol, address, decimals, sweep_min)
    return ChainConfig(
        name=name,
        chain_id=v.integer(raw, "chain_id", where, None, 1, 2**63 - 1),
        rpc_urls=tuple(urls),
        confirmations=v.integer(raw, "confirmations", where, 12, 1, 10_000),
        block_batch_size=v.integer(raw, "block_batch_size", where, 500, 1, 100_000),
        start_block=v.integer(raw, "start_block", where, 0, 0, 2**63 - 1),
        finality=finality,
        native_symbol=native_symbol,
        max_lag_blocks=v.integer(raw, "max_lag_blocks", where, 50, 0, 2**31),
        max_idle=v.duration(raw, "max_idle", where, "10m"),
        rpc_timeout=v.duration(raw, "rpc_timeout", where, "10s"),
        scan_source=_scan_source(v, raw, where),
        internal_transfers=_choice(v, raw, "internal_transfers", where, ("auto", "trace", "balance", "off")),
        treasury=_treasury(v, raw, where),
        max_fee_wei=v.amount(raw, "max_fee_gwei", where, 9) or None,
        sweep_min_base=v.amount(raw, "sweep_min", where, NATIVE_DECIMALS),
        fee_cache_ttl=v.duration(raw, "fee_cache_ttl", where, "10s"),
        sweep_strategy=_choice(v, raw, "sweep_strategy", where, ("auto", "topup", "eip7702")),
        max_batch=v.integer(raw, "max_batch", where, 100, 1, 1_000),
        reorg_window=_reorg_window(v, raw, where),
        tokens=tokens,
    )


def _scan_source(v: _Validator, raw: Mapping[str, Any], where: str) -> str:
    """How `scan` reads blocks (chain/fetch.py): "blocks" (default; cheap on paid
    providers) or "receipts" (headers + eth_getBlockReceipts; faster on nodes that are
    slow to serialise full transactions, e.g. anvil — see benchmarks/bench_scan.py)."""
    source = v.string(raw, "scan_source", where) or "blocks"
    if source not in ("blocks", "receipts"):
        raise InputError(f"{v.path}: {where}.scan_source must be 'blocks' or 'receipts'")
    return source


def _choice(v: _Validator, raw: Mapping[str, Any], key: str, where: str, allowed: tuple[str, ...]) -> str:
    """One of `allowed` (the first is the default)."""
    value = v.string(raw, key, where) or allowed[0]
    if value not in allowed:
        options = ", ".join(repr(a) for a in allowed)
        raise InputError(f"{v.path}: {where}.{key} must be one of {options}")
    return value


def _reorg_window(v: _Validator, raw: Mapping[str, Any], where: str) -> int:
    """Block hashes kept for reorgs: at least `confirmations` (a reorg the confirmations are
    meant to outlast must be walkable back to its common ancestor); default + REORG_MARGIN."""
    confirmations = v.integer(raw, "confirmations", where, 12, 1, 10_000)
    return v.integer(raw, "reorg_window", where, confirmations + REORG_MARGIN, confirmations, 1_000_000)


def _treasury(v: _Validator, raw: Mapping[str, Any], where: str) -> str | None:
    """Where sweeps go: an address with a valid EIP-55 checksum (or all one case)."""
    from ctripctl.evm.addresses import parse_address

    text = v.string(raw, "treasury", where)
    if not text:
        return None
    try:
        return parse_address(text, what="treasury")
    except InputError as exc:
        raise InputError(f"{v.path}: {where}.treasury: {exc}") from None


class _Validator:
    """Typed getters that name the file and dotted key in every error."""

    def __init__(self, path: Path) -> None:
        self.path = path

    def _key(self, where: str, key: str) -> str:
        return f"{where}.{key}" if where else key

    def keys(self, raw: Mapping[str, Any], allowed: set[str], where: str) -> None:
        for key in raw:
            if key not in allowed:
                hint = ", ".join(sorted(allowed))
                raise InputError(f"{self.path}: unknown key {self._key(where, key)!r} (allowed here: {hint})")

    def table(self, raw: Mapping[str, Any], key: str, where: str = "") -> Mapping[str, Any]:
        value = raw.get(key, {})
        if not isinstance(value, dict):
            raise InputError(f"{self.path}: {self._key(where, key)} must be a table")
        return value

    def string(self, raw: Mapping[str, Any], key: str, where: str) -> str:
        value = raw.get(key, "")
        if not isinstance(value, str):
            raise InputError(f"{self.path}: {self._key(where, key)} must be a string")
        return value

    def boolean(self, raw: Mapping[str, Any], key: str, where: str, default: bool) -> bool:
        value = raw.get(key, default)
        if not isinstance(value, bool):
            raise InputError(f"{self.path}: {self._key(where, key)} must be true or false")
        return value

    def integer(
        self, raw: Mapping[str, Any], key: str, where: str, default: int | None, lo: int, hi: int
    ) -> int:
        value = raw.get(key, default)
        if value is None:
            raise InputError(f"{self.path}: {self._key(where, key)} is required")
        if isinstance(value, bool) or not isinstance(value, int) or not lo <= value <= hi:
            raise InputError(f"{self.path}: {self._key(where, key)} must be an integer from {lo} to {hi}")
        return value

    def amount(self, raw: Mapping[str, Any], key: str, where: str, decimals: int) -> int:
        """An optional decimal string in whole units ("0.01"), as base units; absent: 0."""
        from ctripctl.domain.money import parse_amount

        value = raw.get(key, "0")
        if not isinstance(value, str):
            raise InputError(f'{self.path}: {self._key(where, key)} must be a decimal string like "0.01"')
        if value.strip() in ("0", "0.0", ""):
            return 0
        try:
            return parse_amount(value, decimals, asset=self._key(where, key))
        except InputError as exc:
            raise InputError(f"{self.path}: {self._key(where, key)}: {exc}") from None

    def duration(self, raw: Mapping[str, Any], key: str, where: str, default: str) -> timedelta:
        value = raw.get(key, default)
        if not isinstance(value, str):
            raise InputError(f"{self.path}: {self._key(where, key)} must be a duration string")
        try:
            return parse_duration(value, what=self._key(where, key))
        except InputError as exc:
            raise InputError(f"{self.path}: {exc}") from None


def _xpub(path: Path, from_env: str | None, from_file: str) -> str | None:
    """The wallet xpub, checked now (cheaply) so a typo fails at load, naming its source.

    The curve point is checked where addresses are derived (`parse_xpub`): a typo already
    fails the base58 checksum, and commands that derive nothing skip coincurve's import.
    """
    from ctripctl.evm.wallet import check_xpub

    xpub = from_env or from_file or None
    if xpub is None:
        return None
    try:
        check_xpub(xpub)
    except InputError as exc:
        source = "CTRIP_XPUB (environment)" if from_env else "wallet.xpub"
        raise InputError(f"{path}: {source}: {exc}") from None
    return xpub


def _is_http_url(url: str) -> bool:
    try:
        parts = urlsplit(url)
        parts.port  # noqa: B018 - raises ValueError on a bad port
    except ValueError:
        return False
    return parts.scheme in ("http", "https") and bool(parts.hostname)


SUPPORTED_DATABASES = ("sqlite", "postgresql")


def check_database_url(url: str) -> str:
    """Only SQLite and PostgreSQL (psycopg 3) are supported; refuse anything else up front
    (a mysql:// URL would otherwise fail deep inside SQLAlchemy with an import error)."""
    scheme = url.partition("://")[0]
    dialect, _, driver = scheme.partition("+")
    if dialect not in SUPPORTED_DATABASES or (dialect == "postgresql" and driver not in ("", "psycopg")):
        raise InputError(
            f"{mask_url(url)!r} is not a supported database URL "
            "(use sqlite:///PATH or postgresql+psycopg://USER@HOST/DB)"
        )
    return url


def _resolve_sqlite(url: str, base: Path) -> str:
    """Make a relative SQLite path relative to the config file, so cron's cwd does not matter."""
    prefix = "sqlite:///"
    if url.startswith(prefix) and not url.startswith(prefix + "/") and url != prefix + ":memory:":
        return prefix + str(base / url[len(prefix) :])
    return url


#: Where `sweep run` reads the mnemonic when [wallet] mnemonic_file is not set.
MNEMONIC_FILE_ENV = "CTRIP_MNEMONIC_FILE"


def read_mnemonic(config: Config, env: Mapping[str, str] | None = None) -> str:
    """The wallet mnemonic, for `sweep run` only: from CTRIP_MNEMONIC_FILE or [wallet]
    mnemonic_file (the environment names a file, never the words). The file must be
    readable by its owner only (mode 0600 or stricter). Errors never quote its content."""
    env = os.environ if env is None else env
    named = env.get(MNEMONIC_FILE_ENV)
    path = Path(named) if named else config.mnemonic_file
    source = MNEMONIC_FILE_ENV if named else "wallet.mnemonic_file"
    if path is None:
        raise InputError(
            f"sweeping needs the wallet mnemonic: set [wallet] mnemonic_file or {MNEMONIC_FILE_ENV}"
        )
    try:
        mode = path.stat().st_mode
        if mode & 0o077:
            raise InputError(
                f"{source}: {path} is readable by group or others (mode {mode & 0o777:o}); "
                f"run `chmod 600 {path}`"
            )
        words = path.read_text(encoding="utf-8").strip()
    except OSError as exc:
        raise InputError(f"{source}: cannot read {path}: {exc.strerror}") from None
    except UnicodeDecodeError:
        raise InputError(f"{source}: {path} is not a text file") from None
    if not words:
        raise InputError(f"{source}: {path} is empty")
    return words
