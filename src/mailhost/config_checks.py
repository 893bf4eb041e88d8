"""Value checks shared by config sections (kept apart so sections import no loader)."""

from __future__ import annotations


def endpoint_list(value: tuple[str, ...]) -> str | None:
    """Why one of the listen strings is wrong, or None."""
    from mailhost.config import check_endpoint

    for description in value:
        problem = check_endpoint(description)
        if problem:
            return f"{description!r}: {problem}"
    return None
