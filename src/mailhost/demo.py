"""The embedded default behind ``make run``: a ready host under ``./var`` on loopback ports.

First start writes ``var/mailhost.toml``, a self-signed certificate, a ``demo`` account
with a random password and a welcome message that says how to connect; every start
prints the ports, the paths and the account.
"""

from __future__ import annotations

import os
import secrets
from datetime import datetime
from email.message import EmailMessage
from email.utils import format_datetime, make_msgid
from pathlib import Path

from mailhost.config import Config, load_config

DEMO_USER = "demo"
PORTS = {"imap": 1143, "imaps": 1993, "pop3": 1110, "pop3s": 1995}

CONFIG_TEMPLATE = """\
# mailhost demo configuration, written by `mailhost demo` (make run).
# Every key is documented in docs/configuration.md; etc/mailhost.toml is the production example.

[server]
hostname = "localhost"
data_dir = "."            # relative paths are relative to this file's folder

[tls]
certificate = "tls/cert.pem"
private_key = "tls/key.pem"
self_signed = true        # made on first start

[auth]
passwd_file = "passwd"
allow_plaintext_auth = "loopback"

[store]
maildir = "mail/%u"

[pop3]
listen = ["tcp:{pop3}:interface=127.0.0.1"]
listen_tls = ["tcp:{pop3s}:interface=127.0.0.1"]

[imap]
listen = ["tcp:{imap}:interface=127.0.0.1"]
listen_tls = ["tcp:{imaps}:interface=127.0.0.1"]
"""


def welcome_message(user: str, password_hint: str) -> bytes:
    """The first message in the demo INBOX: how to reach it over each protocol."""
    msg = EmailMessage()
    msg["From"] = "mailhost <postmaster@localhost>"
    msg["To"] = f"{user}@localhost"
    msg["Subject"] = "Welcome to mailhost"
    msg["Date"] = format_datetime(datetime.now().astimezone())
    msg["Message-ID"] = make_msgid(domain="localhost")
    msg.set_content(
        f"""\
Hello {user},

this mailbox is served by mailhost over POP3 and IMAP4 from one Maildir.
Log in as "{user}" with {password_hint}.

  IMAP    127.0.0.1:{PORTS["imap"]}   (STARTTLS offered)
  IMAPS   127.0.0.1:{PORTS["imaps"]}   (implicit TLS, self-signed certificate)
  POP3    127.0.0.1:{PORTS["pop3"]}   (STLS offered)
  POP3S   127.0.0.1:{PORTS["pop3s"]}   (implicit TLS, self-signed certificate)

Try:
  curl -s --url 'imap://127.0.0.1:{PORTS["imap"]}/INBOX;UID=1' -u {user}:PASSWORD
  curl -s --url pop3://127.0.0.1:{PORTS["pop3"]}/1 -u {user}:PASSWORD
  python3 -c "import poplib; p = poplib.POP3('127.0.0.1', {PORTS["pop3"]}); \\
p.user('{user}'); p.pass_('PASSWORD'); print(p.stat())"

Mail delivered with `mailhost deliver {user} --config var/mailhost.toml < message`
appears in both protocols; a message deleted over POP3 disappears from IMAP.
"""
    )
    return bytes(msg)


def prepare(directory: Path) -> tuple[Config, str]:
    """Create the demo's config, certificate, account and welcome mail if missing."""
    directory.mkdir(parents=True, exist_ok=True)
    cfg_path = directory / "mailhost.toml"
    if not cfg_path.exists():
        cfg_path.write_text(CONFIG_TEMPLATE.format(**PORTS), encoding="utf-8")
    cfg = load_config(cfg_path)
    secret_path = directory / "demo-password"
    from mailhost.auth.passwd import PasswdFile, hash_password

    users = PasswdFile(cfg.auth.passwd_file)
    if secret_path.exists() and users.get(DEMO_USER) is not None:
        return cfg, secret_path.read_text(encoding="utf-8").strip()
    password = secrets.token_urlsafe(12)
    fd = os.open(secret_path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w", encoding="utf-8") as fh:
        fh.write(password + "\n")
    if users.get(DEMO_USER) is None:
        users.add(DEMO_USER, hash_password(password))
    else:
        users.set_password(DEMO_USER, hash_password(password))
    from mailhost.service import build_store

    inbox = build_store(cfg).account(DEMO_USER).folder("INBOX")
    if inbox.status().messages == 0:
        inbox.append(welcome_message(DEMO_USER, f"the password in {secret_path}"))
    return cfg, password


def banner(cfg: Config, password: str) -> str:
    src = cfg.source
    return f"""
mailhost demo host
  config      {src}
  mail        {cfg.mail_root}
  certificate {cfg.tls.certificate} (self-signed)
  IMAP        127.0.0.1:{PORTS["imap"]}  (STARTTLS)     IMAPS  127.0.0.1:{PORTS["imaps"]}
  POP3        127.0.0.1:{PORTS["pop3"]}  (STLS)         POP3S  127.0.0.1:{PORTS["pop3s"]}
  account     {DEMO_USER}
  password    {password}

  curl -s --url 'imap://127.0.0.1:{PORTS["imap"]}/INBOX;UID=1' -u {DEMO_USER}:{password}
Stop with Ctrl-C.
"""


def run_demo(directory: Path) -> int:
    from mailhost.runner import serve

    cfg, password = prepare(directory.resolve())
    return serve(cfg, on_listening=lambda host: print(banner(cfg, password), flush=True))
