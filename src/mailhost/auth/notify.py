"""Notice mails to a user's INBOX about new devices and first use of app passwords."""

from __future__ import annotations

import email.utils
import uuid

from mailhost.auth.verifier import Event

_TEXT = {
    "grant-created": (
        "New mail client signed in with password and code",
        "A mail client signed in to your account with your password and a one-time code.\n"
        "It may keep polling without a new code for a while (a device grant, id {id}).\n",
    ),
    "app-password-first-use": (
        "App password used for the first time",
        "The app password {label!r} (id {id}) was used for the first time.\n",
    ),
    "recovery-code-used": (
        "Recovery code used",
        "A one-time recovery code was used to sign in; {left} codes are left.\n",
    ),
}


def notice(event: Event, hostname: str) -> bytes | None:
    """The RFC 5322 message (CRLF line endings) telling the user of ``event``, if any."""
    text = _TEXT.get(event.kind)
    if text is None:
        return None
    subject, body = text
    d = event.detail
    body = body.format(id=d.get("id", "?"), label=d.get("label", ""), left=d.get("left", "?"))
    body += (
        f"\nFrom: {d.get('ip', '?')}  Protocol: {d.get('protocol', '?')}"
        f"  TLS: {d.get('tls', '?')}\n\n"
        "If this was not you, change your password ('mailhost user passwd'), which\n"
        "also revokes every app password and device grant.\n"
    )
    headers = [
        f"From: Mail system <postmaster@{hostname}>",
        f"To: {event.user}",
        f"Subject: {subject}",
        f"Date: {email.utils.formatdate(localtime=False)}",
        f"Message-ID: <{uuid.uuid4().hex}@{hostname}>",
        "Auto-Submitted: auto-generated",
        "MIME-Version: 1.0",
        "Content-Type: text/plain; charset=utf-8",
        "Content-Transfer-Encoding: 8bit",
    ]
    text_out = "\r\n".join(headers) + "\r\n\r\n" + body.replace("\n", "\r\n")
    return text_out.encode("utf-8")
