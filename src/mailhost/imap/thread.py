"""THREAD (RFC 5256 §3): ORDEREDSUBJECT and REFERENCES.

Webmail shows conversations with it (Roundcube's threaded list).  Both algorithms work on
what :func:`read_thread_keys` takes from each message's header: the sent date (as SORT
DATE has it), the base subject and whether the subject marked a reply or forward, the
Message-ID and the referenced ids.  Ties between equal sent dates keep the mailbox order.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from itertools import pairwise

from mailhost.errors import MessageGone
from mailhost.imap.sort import base_subject_of, casemap, sent_date
from mailhost.mime.headers import text, unfold
from mailhost.mime.structure import some_fields
from mailhost.mime.text import decode_words
from mailhost.store.api import Folder, MessageInfo

_MSG_ID = re.compile(r"<([^<>\s]+)>")


@dataclass(slots=True)
class Keys:
    """What threading needs of one message."""

    seq: int
    uid: int
    date: float
    subject: str
    #: The subject was a reply or forward (``Re:``, ``Fwd:``, ``(fwd)``, ``[Fwd: ...]``).
    reply: bool
    message_id: str | None
    references: list[str]


#: The fields threading reads.
FIELDS = (b"date", b"subject", b"message-id", b"references", b"in-reply-to")


def read_thread_keys(
    folder: Folder, found: list[tuple[int, int]], infos: dict[int, MessageInfo]
) -> list[Keys]:
    """:class:`Keys` of each ``(seq, uid)``, read from headers (gone ones left out).  Blocking."""
    out = []
    for seq, uid in found:
        try:
            first = some_fields(folder.read_header(uid), FIELDS)
        except MessageGone:
            continue
        k, dated = keys_of(seq, uid, first)
        if not dated:
            # RFC 5256: the internal date when the sent date cannot be determined
            info = infos.get(uid)
            k.date = info.internaldate if info is not None else 0.0
        out.append(k)
    return out


def keys_of(seq: int, uid: int, first: dict[bytes, bytes]) -> tuple[Keys, bool]:
    """:class:`Keys` from a message's first field values (of :data:`FIELDS`), and whether
    its Date field could be read (if not, the date is 0 for the caller to replace)."""
    sent = sent_date(first.get(b"date"))
    raw = first.get(b"subject")
    subject, reply = base_subject_of(decode_words(unfold(raw))) if raw is not None else ("", False)
    ids = _ids(first.get(b"message-id"))
    refs = _ids(first.get(b"references"))
    if not refs:
        refs = _ids(first.get(b"in-reply-to"))[:1]
    date = 0.0 if sent is None else sent
    keys = Keys(seq, uid, date, casemap(subject), reply, ids[0] if ids else None, refs)
    return keys, sent is not None


#: The name of a message's threading keys in the host's structure cache.
CACHE_NAME = b"THREAD"


def to_cached(k: Keys) -> bytes:
    """The keys of one message as the structure cache keeps them (without its numbers,
    which change)."""
    fields = [
        repr(k.date),
        k.subject.replace("\0", " "),
        "r" if k.reply else "",
        k.message_id or "",
    ]
    return "\0".join([*fields, *k.references]).encode("utf-8", "surrogatepass")


def from_cached(seq: int, uid: int, raw: bytes) -> Keys:
    date, subject, reply, message_id, *refs = raw.decode("utf-8", "surrogatepass").split("\0")
    return Keys(seq, uid, float(date), subject, bool(reply), message_id or None, refs)


def _ids(raw: bytes | None) -> list[str]:
    return [] if raw is None else _MSG_ID.findall(text(unfold(raw)))


def _order(k: Keys) -> tuple[float, int]:
    return (k.date, k.seq)


# -- ORDEREDSUBJECT ----------------------------------------------------------------------


def ordered_subject(keys: list[Keys]) -> list[list[Keys]]:
    """Threads of messages with one base subject: the earliest is the root and the others
    its children; threads in the order of their roots' sent dates."""
    groups: dict[str, list[Keys]] = {}
    for k in sorted(keys, key=_order):
        groups.setdefault(k.subject, []).append(k)
    return sorted(groups.values(), key=lambda g: _order(g[0]))


def format_ordered_subject(threads: list[list[Keys]], uid: bool) -> bytes:
    out = []
    for thread in threads:
        nums = [(k.uid if uid else k.seq) for k in thread]
        if len(nums) <= 2:
            out.append(b"(" + b" ".join(b"%d" % n for n in nums) + b")")
        else:
            out.append(b"(%d " % nums[0] + b"".join(b"(%d)" % n for n in nums[1:]) + b")")
    return b"".join(out)


# -- REFERENCES --------------------------------------------------------------------------


@dataclass(eq=False, slots=True)
class Node:
    """A container of RFC 5256 §3 REFERENCES: a message, or a dummy for an id seen only in
    references."""

    keys: Keys | None = None
    parent: Node | None = None
    children: list[Node] = field(default_factory=list)

    def is_ancestor_of(self, other: Node) -> bool:
        node: Node | None = other
        while node is not None:
            if node is self:
                return True
            node = node.parent
        return False

    def unlink(self) -> None:
        if self.parent is not None:
            self.parent.children.remove(self)
            self.parent = None

    def link(self, child: Node) -> None:
        child.unlink()
        child.parent = self
        self.children.append(child)

    def first(self) -> Keys | None:
        """The message that stands for this container: its own, or its first child's."""
        if self.keys is not None:
            return self.keys
        return self.children[0].first() if self.children else None


def references(keys: list[Keys]) -> list[Node]:
    """The REFERENCES threads of RFC 5256 §3, steps 1 to 6: the root containers in order."""
    table: dict[str, Node] = {}
    messages: list[Node] = []
    for k in sorted(keys, key=lambda k: k.seq):
        # (1A) the message's own container; a missing or repeated id gets a unique one
        node = table.get(k.message_id) if k.message_id is not None else None
        if node is None or node.keys is not None:
            node = Node(k)
            if k.message_id is not None and k.message_id not in table:
                table[k.message_id] = node
        else:
            node.keys = k
        messages.append(node)
        if not k.references:
            # (1C) no parent: most messages of a big folder
            if node.parent is not None:
                node.unlink()
            continue
        # (1B) link the references in order, each to the next, where no link is yet
        chain = [table.setdefault(ref, Node()) for ref in k.references]
        for parent, child in pairwise(chain):
            if child.parent is None and parent is not child and not child.is_ancestor_of(parent):
                parent.link(child)
        # (1C) the last reference is the message's parent, replacing any other
        last = chain[-1]
        if last is not node and not node.is_ancestor_of(last):
            last.link(node)
    # (2) the root set; (3) dummies pruned
    every = {id(n): n for n in [*messages, *table.values()]}.values()
    roots = _prune([n for n in every if n.parent is None], True)
    for root in roots:
        root.parent = None
    # (4) sorted by sent date (a dummy by its first child, children sorted first)
    for root in roots:
        _sort_children(root)
    roots.sort(key=_node_order)
    # (5) roots with one base subject gathered
    roots = _gather_subjects(roots)
    # (6) every set of siblings sorted by sent date
    for root in roots:
        _sort_children(root)
    roots.sort(key=_node_order)
    return roots


def _prune(nodes: list[Node], top: bool) -> list[Node]:
    """RFC 5256 §3 REFERENCES step 3 over a set of siblings: dummies without children go;
    a dummy's children take its place (at the top level only when it has one child)."""
    out: list[Node] = []
    for node in nodes:
        node.children = _prune(node.children, False)
        for child in node.children:
            child.parent = node
        if node.keys is not None:
            out.append(node)
        elif not node.children:
            continue
        elif not top or len(node.children) == 1:
            out.extend(node.children)
        else:
            out.append(node)
    return out


def _node_order(node: Node) -> tuple[float, int]:
    first = node.first()
    return _order(first) if first is not None else (0.0, 0)


def _sort_children(node: Node) -> None:
    children = node.children
    if children:
        for child in children:
            _sort_children(child)
        children.sort(key=_node_order)


def _gather_subjects(roots: list[Node]) -> list[Node]:
    """Step 5: roots whose messages share a base subject become one thread."""
    table: dict[str, Node] = {}
    for root in roots:
        first = root.first()
        if first is None or not first.subject:
            continue
        held = table.get(first.subject)
        if held is None:
            table[first.subject] = root
            continue
        held_first = held.first()
        assert held_first is not None
        # a dummy is preferred, then a message whose subject is not a reply
        if (root.keys is None and held.keys is not None) or (
            root.keys is not None and held.keys is not None and held_first.reply and not first.reply
        ):
            table[first.subject] = root
    out: list[Node] = []
    #: a root that became a child of a new dummy, by id: the dummy takes its place
    replaced: dict[int, Node] = {}
    for root in roots:
        if id(root) in replaced:
            out.append(replaced.pop(id(root)))
            continue
        first = root.first()
        held = table.get(first.subject) if first is not None and first.subject else None
        if held is None or held is root:
            out.append(root)
            continue
        assert first is not None
        if held.keys is None and root.keys is None:
            for child in list(root.children):
                held.link(child)
        elif held.keys is None or (first.reply and not (held.first() or first).reply):
            held.link(root)
        else:
            # both replies, or neither: siblings under a new dummy
            dummy = Node()
            if held in out:
                out[out.index(held)] = dummy
            else:
                replaced[id(held)] = dummy
            dummy.link(held)
            dummy.link(root)
            table[first.subject] = dummy
    return out


def format_references(roots: list[Node], uid: bool) -> bytes:
    return b"".join(b"(" + _format_node(root, uid) + b")" for root in roots)


def _format_node(node: Node, uid: bool) -> bytes:
    """``n``, ``n m...`` for a chain, ``n (a)(b)`` for siblings; a dummy is its children."""
    if node.keys is None:
        return b"".join(b"(" + _format_node(c, uid) + b")" for c in node.children)
    own = b"%d" % (node.keys.uid if uid else node.keys.seq)
    if not node.children:
        return own
    if len(node.children) == 1:
        return own + b" " + _format_node(node.children[0], uid)
    return own + b" " + b"".join(b"(" + _format_node(c, uid) + b")" for c in node.children)
