"""Render the configuration reference from the section dataclasses themselves.

``mailhost config-example`` prints a TOML file with every key, its default and the
``#:`` comment above its field; ``etc/mailhost.toml`` is that output (a test keeps them
equal), so the example can never miss a key or show a stale default.
"""

from __future__ import annotations

import dataclasses
import inspect
import re
import textwrap
from pathlib import Path
from typing import Any

from mailhost.config import Config

#: Production paths shown in the example instead of machine-specific defaults.
EXAMPLE_OVERRIDES: dict[str, Any] = {"server.hostname": "mail.example.org"}


def field_comments(cls: type) -> dict[str, list[str]]:
    """The ``#:`` comment lines written above each field of a dataclass."""
    source = textwrap.dedent(inspect.getsource(cls))
    comments: dict[str, list[str]] = {}
    pending: list[str] = []
    for line in source.splitlines():
        stripped = line.strip()
        if stripped.startswith("#:"):
            pending.append(stripped[2:].strip())
            continue
        m = re.match(r"(\w+)\s*:", stripped)
        if m and pending:
            comments[m.group(1)] = pending
        if stripped and not stripped.startswith("#"):
            pending = []
    return comments


def toml_value(value: Any) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int | float):
        if isinstance(value, float) and value.is_integer():
            return str(int(value)) + ".0"
        return str(value)
    if isinstance(value, Path):
        return toml_value(str(value))
    if isinstance(value, str):
        return '"' + value.replace("\\", "\\\\").replace('"', '\\"') + '"'
    if isinstance(value, tuple | list):
        return "[" + ", ".join(toml_value(v) for v in value) + "]"
    if isinstance(value, dict):
        return (
            "{ " + ", ".join(f"{toml_value(k)} = {toml_value(v)}" for k, v in value.items()) + " }"
        )
    if value is None:
        return '""'
    raise TypeError(value)


def sections() -> list[tuple[str, Any]]:
    """``(name, default instance)`` of every ``[section]``, in file order."""
    cfg = Config()
    return [
        (f.name, getattr(cfg, f.name))
        for f in dataclasses.fields(Config)
        if dataclasses.is_dataclass(getattr(cfg, f.name))
    ]


def render_example() -> str:
    out = [
        "# mailhost configuration: every key with its default value.",
        "# Relative paths are relative to the folder of this file.",
        "# Reference: docs/configuration.md. Check with: mailhost check-config --config FILE",
        "",
    ]
    for name, section in sections():
        cls = type(section)
        doc = (cls.__doc__ or "").strip().splitlines()[0] if cls.__doc__ else ""
        if doc.startswith(cls.__name__ + "("):
            doc = ""  # the signature dataclasses write when a class has no docstring
        doc = re.sub(r"^``\[\w+\]``:\s*", "", doc)
        doc = doc[:1].upper() + doc[1:]
        comments = field_comments(cls)
        out.append(f"[{name}]")
        if doc:
            out.append(f"# {doc}")
        for f in dataclasses.fields(cls):
            value = EXAMPLE_OVERRIDES.get(f"{name}.{f.name}", getattr(section, f.name))
            for line in comments.get(f.name, []):
                out.append(f"# {line}" if line else "#")
            out.append(f"{f.name} = {toml_value(value)}")
        out.append("")
    return "\n".join(out)


def render_reference() -> str:
    """Markdown tables of every key, for docs/configuration.md."""
    out: list[str] = []
    for name, section in sections():
        comments = field_comments(type(section))
        out += [f"### `[{name}]`", "", "| key | default | meaning |", "|---|---|---|"]
        for f in dataclasses.fields(type(section)):
            value = EXAMPLE_OVERRIDES.get(f"{name}.{f.name}", getattr(section, f.name))
            text = " ".join(comments.get(f.name, [])).replace("|", "\\|")
            out.append(f"| `{f.name}` | `{toml_value(value)}` | {text} |")
        out.append("")
    return "\n".join(out)


ROOT = Path(__file__).resolve().parents[2]
BEGIN = "<!-- BEGIN GENERATED: python -m mailhost.config_doc -->"
END = "<!-- END GENERATED -->"


def updated_reference(text: str) -> str:
    """``text`` (docs/configuration.md) with its generated part replaced."""
    head, _, rest = text.partition(BEGIN)
    _, _, tail = rest.partition(END)
    return f"{head}{BEGIN}\n{render_reference()}{END}{tail}"


def main() -> None:
    """Rewrite etc/mailhost.toml and the tables in docs/configuration.md."""
    (ROOT / "etc" / "mailhost.toml").write_text(render_example(), encoding="utf-8")
    doc = ROOT / "docs" / "configuration.md"
    doc.write_text(updated_reference(doc.read_text(encoding="utf-8")), encoding="utf-8")


if __name__ == "__main__":
    main()
