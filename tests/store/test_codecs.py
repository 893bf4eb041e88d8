"""Round trips of the on-disk codecs (hypothesis)."""

from __future__ import annotations

import io

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from mailhost.errors import InvalidFolderName
from mailhost.store.api import SYSTEM_FLAGS
from mailhost.store.crlf import CRLFReader, crlf_size, crlf_size_of, to_crlf
from mailhost.store.maildir import layout
from mailhost.store.maildir.filename import (
    base_of,
    cur_name,
    format_info,
    natural_key,
    new_base,
    parse_info,
    sizes_of,
    split_name,
)
from mailhost.store.maildir.keywords import KeywordMap, format_keywords, parse_keywords
from mailhost.store.maildir.uidlist import (
    UidListHeader,
    UidRecord,
    format_uidlist,
    parse_uidlist,
)

settings.register_profile("store", max_examples=150, deadline=None)
settings.load_profile("store")

sizes = st.one_of(st.none(), st.integers(0, 10**12))
atoms = st.text(
    alphabet=st.characters(min_codepoint=0x21, max_codepoint=0x7E, exclude_characters='(){%*"\\]'),
    min_size=1,
    max_size=20,
)


@given(
    st.frozensets(st.sampled_from(sorted(SYSTEM_FLAGS))),
    st.lists(st.integers(0, 25), unique=True),
    st.text(alphabet="PQXYZ", max_size=3),
    sizes,
    sizes,
)
def test_filename_and_flags_round_trip(
    system: frozenset[str], keywords: list[int], other: str, size: int | None, vsize: int | None
) -> None:
    base = new_base(size, vsize)
    assert ":" not in base and "/" not in base
    assert sizes_of(base) == (size, vsize)
    info = format_info(system, keywords, other)
    letters = info[2:]
    assert list(letters) == sorted(letters)  # the Maildir spec wants them in ASCII order
    name = cur_name(base, info)
    assert split_name(name) == (base, info)
    assert base_of(name) == base
    parsed = parse_info(info)
    assert parsed.system == system
    assert parsed.keywords == tuple(sorted(keywords))
    assert sorted(parsed.other) == sorted(set(other))


def test_unique_bases_and_natural_order() -> None:
    assert len({new_base() for _ in range(2000)}) == 2000
    names = ["msg10", "msg2", "msg1", "1700000000.M5P1.host", "999999999.M9P1.host"]
    assert sorted(names, key=natural_key) == [
        "999999999.M9P1.host",
        "1700000000.M5P1.host",
        "msg1",
        "msg2",
        "msg10",
    ]


bases = st.text(
    alphabet=st.characters(min_codepoint=0x21, max_codepoint=0x7E, exclude_characters=":/"),
    min_size=1,
    max_size=40,
)


@given(
    st.integers(1, 2**32 - 1),
    st.integers(1, 2**32 - 1),
    st.one_of(st.none(), st.text(alphabet="0123456789abcdef", min_size=32, max_size=32)),
    st.lists(st.tuples(bases, sizes, st.integers(0, 10**9)), max_size=20),
)
def test_uidlist_round_trip(
    uidvalidity: int,
    nextuid: int,
    guid: str | None,
    rows: list[tuple[str, int | None, int]],
) -> None:
    header = UidListHeader(3, uidvalidity, nextuid, guid)
    records = []
    uid = 0
    for base, size, gap in rows:
        uid += 1 + gap
        ext = (("W", str(size)),) if size is not None else ()
        records.append(UidRecord(uid, base, ext))
    got_header, got_records = parse_uidlist(format_uidlist(header, records))
    assert got_header == header
    assert got_records == records


def test_uidlist_version_1_is_read() -> None:
    header, records = parse_uidlist("1 1234 7\n3 1.a.host:2,S\n")
    assert (header.version, header.uidvalidity, header.nextuid) == (1, 1234, 7)
    assert records == [UidRecord(3, "1.a.host:2,S")]


@given(st.dictionaries(st.integers(0, 25), atoms, max_size=26))
def test_keywords_round_trip(keywords: dict[int, str]) -> None:
    unique: dict[int, str] = {}
    for i, name in keywords.items():
        if name not in unique.values():
            unique[i] = name
    assert parse_keywords(format_keywords(unique)) == unique


def test_keyword_letters_run_out() -> None:
    from mailhost.errors import TooManyKeywords

    km = KeywordMap()
    for i in range(26):
        assert km.add(f"k{i}") == i
    assert km.add("K3") == 3  # keywords compare without case
    with pytest.raises(TooManyKeywords):
        km.add("one-too-many")


components = st.text(
    alphabet=st.characters(
        min_codepoint=0x20,
        exclude_characters="./",
        exclude_categories=("Cc", "Cs"),
    ),
    min_size=1,
    max_size=12,
).filter(lambda c: c.upper() != "INBOX")


@given(st.lists(components, min_size=1, max_size=4))
def test_folder_name_encoding_round_trip(parts: list[str]) -> None:
    name = "/".join(parts)
    try:
        canonical = layout.canonical(name, "/")
    except InvalidFolderName:
        assert len(name) > 255
        return
    on_disk = layout.dir_name(canonical, "/")
    assert on_disk.isascii() and "/" not in on_disk
    assert on_disk.count(".") == len(parts)
    assert layout.name_of_dir(on_disk, "/") == canonical
    subs = layout.format_subscriptions([canonical, "INBOX"], "/")
    assert layout.parse_subscriptions(subs, "/") == [canonical, "INBOX"]


@pytest.mark.parametrize("bad", ["a.b", "x/y.z", "a/", "/a", "a\tb", "a//b", ".."])
def test_folder_names_refused(bad: str) -> None:
    with pytest.raises(InvalidFolderName):
        layout.canonical(bad, "/")


def test_expand_root() -> None:
    assert (
        str(layout.expand_root("/m/%d/%n/%u/100%%", "ann@ex.org"))
        == "/m/ex.org/ann/ann@ex.org/100%"
    )
    assert str(layout.expand_root("/m/%d/%n", "bob")) == "/m/bob"


@given(st.binary(max_size=2000), st.integers(1, 64))
def test_crlf_stream_matches_whole_conversion(data: bytes, chunk: int) -> None:
    whole = to_crlf(data)
    assert crlf_size(data) == len(whole)
    reader = CRLFReader(_Trickle(data, chunk))  # type: ignore[arg-type]
    out = []
    while piece := reader.read(chunk):
        out.append(piece)
    assert b"".join(out) == whole
    assert crlf_size_of(_Trickle(data, chunk)) == len(whole)  # type: ignore[arg-type]


class _Trickle(io.RawIOBase):
    """A raw stream that returns at most ``step`` bytes per read: CR and LF of one line
    ending land in different chunks."""

    def __init__(self, data: bytes, step: int) -> None:
        self._data = data
        self._pos = 0
        self._step = step

    def readable(self) -> bool:
        return True

    def read(self, size: int = -1) -> bytes:
        n = self._step if size < 0 else min(size, self._step)
        out = self._data[self._pos : self._pos + n]
        self._pos += len(out)
        return out
