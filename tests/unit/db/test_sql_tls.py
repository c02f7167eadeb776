"""db.sql: which TLS pg8000 is given for a DATABASE_URL (verified unless local or told)."""

from __future__ import annotations

import ssl

import pytest

from smartnote.db.sql import build_engine, engine_arguments, postgres_tls

PROXY = "postgresql+pg8000://app:p%40ss@smartnote-proxy.proxy-abc.eu-central-1.rds.amazonaws.com:5432/db"


def test_a_remote_host_is_verified_against_the_system_cas_with_its_name() -> None:
    url, context = postgres_tls(PROXY)
    assert isinstance(context, ssl.SSLContext)
    assert context.verify_mode == ssl.CERT_REQUIRED
    assert context.check_hostname is True
    assert url.host == "smartnote-proxy.proxy-abc.eu-central-1.rds.amazonaws.com"
    assert url.password == "p@ss"  # the URL survives, password included


@pytest.mark.parametrize("host", ["127.0.0.1", "localhost", "[::1]"])
def test_this_machine_is_plain_text_as_ci_postgres_has_no_tls(host: str) -> None:
    _, context = postgres_tls(f"postgresql+pg8000://postgres@{host}:5432/test")
    assert context is False  # pg8000: no TLS attempt at all


def test_sslmode_in_the_url_decides_and_is_not_passed_to_the_driver() -> None:
    url, context = postgres_tls("postgresql+pg8000://u:p@postgres:5432/db?sslmode=disable")
    assert context is False
    assert dict(url.query) == {}
    _, required = postgres_tls(f"{PROXY}?sslmode=require")
    assert isinstance(required, ssl.SSLContext)
    assert (required.verify_mode, required.check_hostname) == (ssl.CERT_NONE, False)
    _, local_verified = postgres_tls("postgresql+pg8000://u@127.0.0.1/db?sslmode=verify-full")
    assert isinstance(local_verified, ssl.SSLContext)


def test_sslrootcert_names_the_ca_bundle() -> None:
    bundle = ssl.get_default_verify_paths().cafile
    if not bundle:
        pytest.skip("no CA bundle file on this machine")
    url, context = postgres_tls(f"{PROXY}?sslrootcert={bundle}")
    assert isinstance(context, ssl.SSLContext) and context.get_ca_certs()
    assert "sslrootcert" not in url.query


@pytest.mark.parametrize("mode", ["prefer", "verify-ca", "bogus"])
def test_other_sslmodes_are_refused(mode: str) -> None:
    with pytest.raises(ValueError, match="sslmode must be one of"):
        postgres_tls(f"{PROXY}?sslmode={mode}")


def test_the_engine_hands_the_context_to_pg8000(monkeypatch: pytest.MonkeyPatch) -> None:
    engine = build_engine(f"{PROXY}?sslmode=require")
    seen: dict[str, object] = {}

    def connect(*args: object, **kwargs: object) -> object:
        seen.update(kwargs)
        raise ConnectionRefusedError("not connecting in a unit test")

    monkeypatch.setattr(engine.dialect, "connect", connect)
    try:
        with pytest.raises(Exception, match="not connecting"):
            engine.connect()
    finally:
        engine.dispose()
    context = seen["ssl_context"]
    assert isinstance(context, ssl.SSLContext) and context.verify_mode == ssl.CERT_NONE
    assert "sslmode" not in seen and seen["host"] == engine.url.host
    assert engine_arguments("sqlite:///x.db")[1] == {"check_same_thread": False, "timeout": 5}
