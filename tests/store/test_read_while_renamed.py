"""A message whose flags other sessions keep changing (each change renames its file) is
always readable: a read that finds the file renamed looks again and opens it under the
folder lock, where no session of this host can rename it."""

from __future__ import annotations

import sys
import threading
from pathlib import Path

from mailhost.store.api import FlagMode
from mailhost.store.maildir import MaildirStore

MESSAGE = b"From: a@example.org\r\nSubject: x\r\n\r\nbody\r\n"


def test_reads_race_flag_changes_and_always_win(tmp_path: Path) -> None:
    store = MaildirStore(tmp_path / "%u", fsync=False)
    inbox = store.account("alice").folder("INBOX")
    uid = inbox.append(MESSAGE).uid
    stop = threading.Event()

    def flagger(flag: str) -> None:
        folder = store.account("alice").folder("INBOX")
        while not stop.is_set():
            folder.set_flags([uid], [flag], FlagMode.ADD)
            folder.set_flags([uid], [flag], FlagMode.REMOVE)

    threads = [
        threading.Thread(target=flagger, args=(f,)) for f in ("\\Flagged", "$Done", "\\Answered")
    ]
    # switch threads as often as can be, so that a rename lands between look-up and open
    interval = sys.getswitchinterval()
    sys.setswitchinterval(1e-6)
    for t in threads:
        t.start()
    try:
        for _ in range(6000):
            assert inbox.read_message(uid) == MESSAGE
            assert inbox.read_header(uid).startswith(b"From: ")
    finally:
        sys.setswitchinterval(interval)
        stop.set()
        for t in threads:
            t.join()
