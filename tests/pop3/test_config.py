"""The [pop3] section: defaults, checks, and loading through the TOML loader."""

from __future__ import annotations

import pytest

from mailhost.config import ConfigError, ConfigValueError, config_from_dict
from mailhost.pop3.config import POP3Config


def test_defaults_are_rfc_conformant() -> None:
    c = POP3Config()
    assert c.idle_timeout >= 600 and c.max_line_length >= 255
    assert (c.apop, c.uidl_format, c.expire, c.login_delay) == (False, "dovecot", "NEVER", 0)
    assert c.per_user_settings is False


def test_apop_and_per_user_settings_can_be_turned_on() -> None:
    cfg = config_from_dict({"pop3": {"apop": True, "per_user_settings": True}})
    assert (cfg.pop3.apop, cfg.pop3.per_user_settings) == (True, True)


@pytest.mark.parametrize(
    ("key", "value"),
    [
        ("expire", "soon"),
        ("expire", "-1"),
        ("login_delay", -5),
        ("max_auth_failures", 0),
        ("max_connections_per_ip", -1),
        ("stream_chunk_size", 10),
        ("implementation", "bad\nname"),
        ("idle_timeout", 60.0),
    ],
)
def test_bad_values_name_their_key(key: str, value: object) -> None:
    with pytest.raises(ConfigValueError) as info:
        POP3Config(**{key: value})  # type: ignore[arg-type]
    assert info.value.key == key


def test_loaded_from_toml_dict() -> None:
    cfg = config_from_dict({"pop3": {"uidl_format": "courier", "expire": "30", "login_delay": 900}})
    assert (cfg.pop3.uidl_format, cfg.pop3.expire, cfg.pop3.login_delay) == ("courier", "30", 900)
    with pytest.raises(ConfigError):
        config_from_dict({"pop3": {"uidl_format": "md5"}})
