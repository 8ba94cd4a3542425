"""The configuration schema is written in three places; these tests keep them in step.

config.py's allowed-key sets (`_TOP_KEYS`, `_CHAIN_KEYS`, …) are the source: every key the
parser accepts must appear in the README's configuration block, the README block must
use only accepted keys, and the starter file `ctripctl init` writes must parse and, with
its commented-out examples switched on, still use only accepted keys. The tests read the
key sets from config.py, so a new key only needs its README line.
"""

from __future__ import annotations

import re
import tomllib
from collections.abc import Callable, Iterable
from pathlib import Path
from typing import Any

import pytest

from ctripctl import config
from ctripctl.config import load_config
from ctripctl.starter import TEMPLATE, write_starter

README = Path(__file__).resolve().parents[2] / "README.md"

Doc = dict[str, Any]


def _tables(doc: Doc, *path: str) -> list[Doc]:
    """The tables at `path`; "*" stands for every table at that level (chains.*)."""
    found = [doc]
    for step in path:
        found = [t for table in found for t in (table.values() if step == "*" else [table.get(step, {})])]
    return [t for t in found if isinstance(t, dict)]


#: Which tables of a document each allowed-key set of config.py governs.
WHERE: dict[str, tuple[str, ...]] = {
    "_TOP_KEYS": (),
    "_PAYMENTS_KEYS": ("payments",),
    "_WALLET_KEYS": ("wallet",),
    "_WEBHOOK_KEYS": ("webhooks",),
    "_CHAIN_KEYS": ("chains", "*"),
    "_TOKEN_KEYS": ("chains", "*", "tokens", "*"),
}


def key_sets() -> dict[str, set[str]]:
    return {name: value for name, value in vars(config).items() if re.fullmatch(r"_[A-Z]+_KEYS", name)}


def keys_at(doc: Doc, name: str) -> set[str]:
    return {key for table in _tables(doc, *WHERE[name]) for key in table}


def readme_block() -> str:
    text = README.read_text(encoding="utf-8")
    section = text.split("\n## Configuration\n", 1)[1].split("\n## ", 1)[0]
    match = re.search(r"```toml\n(.*?)```", section, re.S)
    assert match, "README's Configuration section has no ```toml block"
    return match.group(1)


def uncommented(text: str) -> str:
    """Switch on commented-out examples: `# key = value` and `# [table]` lines."""
    return re.sub(r"(?m)^# (?=\[|[A-Za-z_]+ = )", "", text)


def test_every_key_set_is_mapped_to_its_tables() -> None:
    """A new `_…_KEYS` set in config.py needs a line in WHERE above (which tables it governs)."""
    assert set(key_sets()) == set(WHERE)


@pytest.mark.parametrize("name", sorted(WHERE))
def test_readme_documents_every_allowed_key(name: str) -> None:
    block = readme_block()
    documented = keys_at(tomllib.loads(block), name)
    # a key may also be shown as an alternative in a comment: `… # or secret = "whsec_..."`
    mentioned = {k for k in key_sets()[name] if re.search(rf"#[^\n]*\b{re.escape(k)} = ", block)}
    missing = key_sets()[name] - documented - mentioned
    assert not missing, f"README configuration block lacks {sorted(missing)} ({name} in config.py)"


@pytest.mark.parametrize("name", sorted(WHERE))
def test_readme_uses_only_allowed_keys(name: str) -> None:
    doc = tomllib.loads(uncommented(readme_block()))
    unknown = keys_at(doc, name) - key_sets()[name]
    assert not unknown, f"README configuration block shows keys the parser refuses: {sorted(unknown)}"


def _template_doc(fill: Callable[[str], str]) -> Doc:
    values = dict(
        database_url="sqlite:///ctrip.db",
        xpub="xpub",
        mnemonic_file="ctrip.mnemonic",
        secret_file="ctrip.whsec",
        allow_private="false",
        chain="local",
        chain_id=31337,
        rpc_url="http://127.0.0.1:8545",
        confirmations=2,
    )
    return tomllib.loads(fill(TEMPLATE.format(**values)))


@pytest.mark.parametrize("name", sorted(WHERE))
def test_starter_template_uses_only_allowed_keys(name: str) -> None:
    for doc in (_template_doc(lambda t: t), _template_doc(uncommented)):
        unknown = keys_at(doc, name) - key_sets()[name]
        assert not unknown, f"starter TEMPLATE uses keys the parser refuses: {sorted(unknown)}"


def test_starter_file_parses(tmp_path: Path) -> None:
    files = write_starter(tmp_path / "ctrip.toml")
    loaded = load_config(files.config, env={})
    assert list(loaded.chains) == ["local"] and loaded.xpub and loaded.webhooks.secret


def _all(values: Iterable[set[str]]) -> set[str]:
    return set().union(*values)


def test_config_docstring_no_longer_repeats_the_schema() -> None:
    """The schema lives in the README; config.py's docstring points there."""
    doc = config.__doc__ or ""
    assert "README" in doc
    assert not [k for k in _all(key_sets().values()) if re.search(rf"(?m)^\s+{k} = ", doc)]
