"""The production example and the configuration reference list every key with its default."""

from __future__ import annotations

import dataclasses
from pathlib import Path

from mailhost.config import Config, load_config
from mailhost.config_doc import render_example, sections, updated_reference

ROOT = Path(__file__).parents[2]


def test_example_is_generated_from_the_code() -> None:
    text = (ROOT / "etc" / "mailhost.toml").read_text()
    assert text == render_example(), "run: python -m mailhost.config_doc"


def test_reference_tables_are_current() -> None:
    text = (ROOT / "docs" / "configuration.md").read_text()
    assert text == updated_reference(text), "run: python -m mailhost.config_doc"


def test_example_loads_to_the_defaults_except_hostname() -> None:
    cfg = load_config(ROOT / "etc" / "mailhost.toml")
    defaults = Config()
    for name, _ in sections():
        for f in dataclasses.fields(getattr(defaults, name)):
            if (name, f.name) == ("server", "hostname"):
                continue
            assert getattr(getattr(cfg, name), f.name) == getattr(
                getattr(defaults, name), f.name
            ), f"{name}.{f.name}"


def test_every_key_is_explained() -> None:
    text = render_example()
    for name, section in sections():
        for f in dataclasses.fields(type(section)):
            before = text.split(f"\n{f.name} = ", 1)[0].rsplit("\n", 2)[-1]
            assert before.startswith("#"), f"[{name}] {f.name} has no #: comment"
