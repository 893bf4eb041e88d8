"""mbsync (isync) against the server: several folders both ways, then a no-op run."""

from __future__ import annotations

import shutil
import subprocess
from collections.abc import Callable
from pathlib import Path

import pytest
from test_imap_real_clients import Server, _server

from mailhost.blocking import ThreadedBlocking
from mailhost.reactor_thread import ReactorThread
from mailhost.store.api import FlagMode

pytestmark = pytest.mark.skipif(shutil.which("mbsync") is None, reason="mbsync (isync) missing")


def _config(tmp: Path, port: int) -> Path:
    local = tmp / "mail"
    local.mkdir()
    conf = tmp / "mbsyncrc"
    conf.write_text(
        f"""IMAPAccount test
Host 127.0.0.1
Port {port}
User alice
Pass secret
SSLType None
AuthMechs LOGIN

IMAPStore remote
Account test

MaildirStore local
Path {local}/
Inbox {local}/INBOX
SubFolders Verbatim

Channel all
Far :remote:
Near :local:
Patterns *
Create Both
Expunge Both
SyncState *
"""
    )
    return conf


def _run(conf: Path) -> str:
    out = subprocess.run(
        ["mbsync", "-c", str(conf), "-V", "all"], capture_output=True, timeout=60, text=True
    )
    assert out.returncode == 0, out.stdout + out.stderr
    return out.stdout + out.stderr


def _maildir(path: Path) -> dict[str, list[str]]:
    """folder -> sorted ``subject:flags`` of its messages."""
    out: dict[str, list[str]] = {}
    for cur in sorted(path.rglob("cur")):
        folder = str(cur.parent.relative_to(path))
        items = []
        for f in list(cur.iterdir()) + list((cur.parent / "new").iterdir()):
            subject = next(
                ln for ln in f.read_bytes().splitlines() if ln.startswith(b"Subject:")
            ).decode()
            flags = f.name.split(":2,")[1] if ":2," in f.name else ""
            items.append(f"{subject}:{flags}")
        out[folder] = sorted(items)
    return out


def _server_state(server: Server) -> dict[str, list[str]]:
    account = server.store.account("alice")
    out = {}
    for info in account.list_folders():
        folder = account.folder(info.name)
        items = []
        for m in folder.list_messages():
            data = folder.read_message(m.uid)
            subject = next(ln for ln in data.splitlines() if ln.startswith(b"Subject:")).decode()
            items.append(f"{subject}:{','.join(sorted(m.flags))}")
        out[info.name] = sorted(items)
    return out


def test_mbsync_two_way(
    reactor: ReactorThread,
    listen: Callable[[object], int],
    pool: ThreadedBlocking,
    tmp_path: Path,
) -> None:
    server = _server(reactor, listen, pool, maildir=tmp_path / "server")
    account = server.store.account("alice")
    account.create_folder("Work/Projects")
    inbox = account.folder("INBOX")
    for i in range(3):
        inbox.append(b"Subject: inbox %d\r\n\r\nbody %d\r\n" % (i, i))
    account.folder("Work/Projects").append(b"Subject: project\r\n\r\nplan\r\n", ["\\Flagged"])
    conf = _config(tmp_path, server.port)

    _run(conf)
    local = tmp_path / "mail"
    state = _maildir(local)
    assert state["INBOX"] == ["Subject: inbox 0:", "Subject: inbox 1:", "Subject: inbox 2:"]
    assert state["Work/Projects"] == ["Subject: project:F"]

    # changes on both sides
    inbox.set_flags([1], ["\\Seen"], FlagMode.ADD)
    inbox.append(b"Subject: inbox 3\r\n\r\nnew on server\r\n")
    new_local = local / "Sent" / "new" / "1700000000.1_1.host"
    new_local.write_bytes(b"Subject: sent locally\r\n\r\nhi\r\n")
    cur = local / "INBOX" / "cur"
    files = list(cur.iterdir()) + list((local / "INBOX" / "new").iterdir())
    victim = next(f for f in files if b"inbox 2" in f.read_bytes())
    victim.rename(cur / (victim.name.split(":2,")[0] + ":2,FS"))

    _run(conf)
    remote = _server_state(server)
    assert remote["INBOX"] == [
        "Subject: inbox 0:\\Seen",
        "Subject: inbox 1:",
        "Subject: inbox 2:\\Flagged,\\Seen",
        "Subject: inbox 3:",
    ]
    assert remote["Sent"] == ["Subject: sent locally:"]
    assert _maildir(local)["INBOX"] == [
        "Subject: inbox 0:S",
        "Subject: inbox 1:",
        "Subject: inbox 2:FS",
        "Subject: inbox 3:",
    ]

    # a third run changes nothing on either side
    before_local, before_remote = _maildir(local), _server_state(server)
    modseqs = {
        f.name: account.folder(f.name).status().highestmodseq for f in account.list_folders()
    }
    _run(conf)
    assert _maildir(local) == before_local
    assert _server_state(server) == before_remote
    assert modseqs == {
        f.name: account.folder(f.name).status().highestmodseq for f in account.list_folders()
    }
