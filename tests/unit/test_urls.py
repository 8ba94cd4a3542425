"""What of a URL may be shown: scheme, host and port, a marker for the rest, never user-info."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from ctripctl.urls import mask_url, mask_urls_in


@pytest.mark.parametrize(
    ("url", "masked"),
    [
        ("https://eth-mainnet.g.alchemy.com/v2/KEY", "https://eth-mainnet.g.alchemy.com/***"),
        ("https://mainnet.infura.io/v3/KEY", "https://mainnet.infura.io/***"),
        ("https://rpc.example:8443/?apikey=KEY", "https://rpc.example:8443/***"),
        ("https://rpc.example?apikey=KEY", "https://rpc.example/***"),
        ("https://rpc.example/#KEY", "https://rpc.example/***"),
        ("https://rpc.example/?", "https://rpc.example/***"),
        ("http://127.0.0.1:8545", "http://127.0.0.1:8545"),
        ("http://127.0.0.1:8545/", "http://127.0.0.1:8545"),
        ("http://ops:pw@127.0.0.1:8545", "http://127.0.0.1:8545"),
        ("http://ops@127.0.0.1:8545", "http://127.0.0.1:8545"),
        ("HTTPS://Ops:PW@RPC.Example/x", "https://rpc.example/***"),
        ("http://[::1]:8545/KEY", "http://[::1]:8545/***"),
        ("postgresql+psycopg://ctrip:s3cret@db:5432/ctrip", "postgresql+psycopg://db:5432/***"),
        ("postgresql+psycopg://ctrip@db/ctrip?password=s3cret", "postgresql+psycopg://db/***"),
        # SQLite names a local file, no credential: the path stays, a query does not.
        ("sqlite:///ctrip.db", "sqlite:///ctrip.db"),
        ("sqlite:////var/lib/ctrip/ctrip.db", "sqlite:////var/lib/ctrip/ctrip.db"),
        ("sqlite:///ctrip.db?key=s3cret", "sqlite:///ctrip.db?***"),
    ],
)
def test_mask_url(url: str, masked: str) -> None:
    assert mask_url(url) == masked
    assert mask_url(masked) == masked  # idempotent


@pytest.mark.parametrize(
    ("url", "masked"),
    [
        ("http://u:pw@[::1/x", "http://***"),  # unparseable host
        ("http://u:p/w@host/KEY", "http://***"),  # a '/' in the password: no sure host
        ("http://host:99999/KEY", "http://***"),  # bad port
        ("rpc-a/KEY", "***"),  # no scheme at all
        ("KEY", "***"),
    ],
)
def test_mask_url_unparseable(url: str, masked: str) -> None:
    assert mask_url(url) == masked


def test_mask_urls_in_text() -> None:
    line = 'HTTP Request: POST http://127.0.0.1:8545/v3/KEY1?apikey=KEY2 "HTTP/1.1 200 OK"'
    assert mask_urls_in(line) == 'HTTP Request: POST http://127.0.0.1:8545/*** "HTTP/1.1 200 OK"'
    assert mask_urls_in("(now https://h.example/v2/KEY).") == "(now https://h.example/***)."
    assert mask_urls_in('{"url": "https://h/KEY"}') == '{"url": "https://h/***"}'
    assert mask_urls_in("no url here: 12:30") == "no url here: 12:30"


_SECRET = st.text(alphabet="ABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789-_.~", min_size=8, max_size=40)


@given(
    key=_SECRET,
    password=_SECRET,
    form=st.sampled_from(["/v2/{k}", "/v3/{k}", "/?apikey={k}", "?key={k}", "/x/{k}/y", "/#{k}"]),
    port=st.one_of(st.none(), st.integers(1, 65535)),
    text_around=st.sampled_from(["{}", "to {} failed", "({})", '"{}"', "url={},"]),
)
def test_no_secret_survives(key: str, password: str, form: str, port: int | None, text_around: str) -> None:
    host = "rpc.example" if port is None else f"rpc.example:{port}"
    url = f"https://ops:{password}@{host}{form.format(k=key)}"
    shown = mask_url(url)
    assert shown == f"https://{host}/***"
    in_text = mask_urls_in(text_around.format(url))
    assert key not in in_text and password not in in_text
    assert f"https://{host}/***" in in_text
