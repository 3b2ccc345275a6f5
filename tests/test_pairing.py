"""Two files side by side (:mod:`dcmstruct.pairing`): where a byte of one leads in the other,
and the order ``n`` / ``N`` visit the differences in.

Pairs with known edits are built here from readable code (as in tests/test_diff.py); every
expected offset is found in the bytes built (where a tag is written), never taken from the
index.
"""

from __future__ import annotations

import zlib

from dcmstruct.builder import (
    DEFLATED_EXPLICIT_VR_LITTLE_ENDIAN,
    IMPLICIT_VR_LITTLE_ENDIAN,
    E,
    Item,
    Seq,
    part10,
)
from dcmstruct.diff import compare
from dcmstruct.index import index_bytes
from dcmstruct.model import Stream
from dcmstruct.pairing import A, B, Pairing, first_unequal

CT = "1.2.840.10008.5.1.4.1.1.2"
ITEM = b"\xfe\xff\x00\xe0"
ITEM_END = b"\xfe\xff\x0d\xe0"


def _dataset(
    *,
    description: str = "HEAD",
    uids: tuple[str, ...] = ("1.2.3.4.5.6", "1.2.3.4.5.7"),
    undefined: bool = False,
    extra: tuple[E, ...] = (),
    drop: tuple[str, ...] = (),
) -> list[E]:
    refs = Seq(
        [
            Item([E("0008,1150", "UI", CT), E("0008,1155", "UI", uid)], undefined=undefined)
            for uid in uids
        ],
        undefined=undefined,
    )
    elements = [
        E("0008,0016", "UI", CT),
        E("0008,0018", "UI", "1.2.3.4"),
        E("0008,1030", "LO", description),
        E("0008,1140", "SQ", refs),
        E("0018,0050", "DS", "1.25"),
        E("0020,0013", "IS", "7"),
        E("0028,0010", "US", 2),
        E("7FE0,0010", "OW", bytes(range(16))),
        *extra,
    ]
    elements = [e for e in elements if e.tag not in drop]
    return sorted(elements, key=lambda e: e.tag_int)


def _tag(group: int, element: int) -> bytes:
    return group.to_bytes(2, "little") + element.to_bytes(2, "little")


def _at(data: bytes, group: int, element: int, nth: int = 0, start: int = 132) -> int:
    """Where the ``nth`` element (from 0) with this tag is written, after the preamble."""
    pos = start - 1
    for _ in range(nth + 1):
        pos = data.index(_tag(group, element), pos + 1)
    return pos


def _pairing(a: bytes, b: bytes) -> Pairing:
    return Pairing(index_bytes(a), index_bytes(b))


def test_a_changed_element_leads_to_its_offset_in_the_other_file() -> None:
    # B has an element more before it: the same element is elsewhere there.
    a = part10(_dataset())
    b = part10(_dataset(description="CHEST WALL", extra=(E("0008,0060", "CS", "CT"),)))
    p = _pairing(a, b)
    tag_a, tag_b = _at(a, 0x0008, 0x1030), _at(b, 0x0008, 0x1030)
    assert tag_b == tag_a + 10  # the added (0008,0060) CS "CT": a header of 8, a value of 2
    follow = p.follow(A, Stream.FILE, tag_a)
    assert follow.path == "0008,1030"
    assert follow.at == (Stream.FILE, tag_b)
    # The same byte of the value: "HEAD" byte 3 is "CHEST WALL" byte 3 (explicit VR, short
    # form: the value starts 8 bytes after the tag).
    assert a[tag_a + 8 : tag_a + 12] == b"HEAD"
    assert p.follow(A, Stream.FILE, tag_a + 8 + 3).at == (Stream.FILE, tag_b + 8 + 3)
    # ... and back, as far as the shorter value reaches: its last byte.
    assert p.follow(B, Stream.FILE, tag_b + 8 + 9).at == (Stream.FILE, tag_a + 8 + 3)
    # The same byte of the header: the length field.
    assert p.follow(B, Stream.FILE, tag_b + 6).at == (Stream.FILE, tag_a + 6)


def test_an_element_inside_the_second_item() -> None:
    a = part10(_dataset())
    b = part10(_dataset(uids=("1.2.3.4.5.6", "1.2.3.4.5.99"), description="CHEST"))
    p = _pairing(a, b)
    in_a, in_b = _at(a, 0x0008, 0x1155, nth=1), _at(b, 0x0008, 0x1155, nth=1)
    assert in_b == in_a + 2  # "CHEST" is padded to 6 bytes, "HEAD" is 4
    follow = p.follow(A, Stream.FILE, in_a + 1)
    assert follow.path == "0008,1140[1]/0008,1155"
    assert follow.at == (Stream.FILE, in_b + 1)
    # The item itself: its header leads to the other item's header.
    item_a, item_b = a.rindex(ITEM, 0, in_a), b.rindex(ITEM, 0, in_b)
    assert p.follow(A, Stream.FILE, item_a).at == (Stream.FILE, item_b)


def test_the_differences_are_diffs_and_the_prefix_is_followed() -> None:
    a = part10(_dataset())
    b = part10(_dataset(description="CHEST"), prefix=b"DICN")
    p = _pairing(a, b)
    assert [s.difference for s in p.stops] == list(compare(index_bytes(a), index_bytes(b)))
    assert p.follow(B, Stream.FILE, 131).at == (Stream.FILE, 131)  # "M" / "N"


def test_a_path_the_other_file_lacks_leads_nowhere() -> None:
    a = part10(_dataset())
    b = part10(_dataset(drop=("0028,0010",)))
    p = _pairing(a, b)
    follow = p.follow(A, Stream.FILE, _at(a, 0x0028, 0x0010) + 2)
    assert (follow.path, follow.other, follow.at) == ("0028,0010", -1, None)


def test_a_delimiter_leads_to_the_other_files_delimiter() -> None:
    a = part10(_dataset(undefined=True))
    b = part10(_dataset(undefined=True, description="CHEST"))
    p = _pairing(a, b)
    end_a = a.index(ITEM_END, _at(a, 0x0008, 0x1155, nth=1))
    end_b = b.index(ITEM_END, _at(b, 0x0008, 0x1155, nth=1))
    assert p.follow(A, Stream.FILE, end_a + 4).at == (Stream.FILE, end_b + 4)


def test_re_encoded_the_value_bytes_still_meet() -> None:
    """Explicit VR OW has a 12-byte header, implicit VR 8: byte 5 of the pixel values is
    byte 5 of the pixel values in both."""
    a = part10(_dataset())
    b = part10(_dataset(), transfer_syntax=IMPLICIT_VR_LITTLE_ENDIAN)
    p = _pairing(a, b)
    pixels_a, pixels_b = _at(a, 0x7FE0, 0x0010), _at(b, 0x7FE0, 0x0010)
    assert a[pixels_a + 12 : pixels_a + 28] == b[pixels_b + 8 : pixels_b + 24] == bytes(range(16))
    assert p.follow(A, Stream.FILE, pixels_a + 12 + 5).at == (Stream.FILE, pixels_b + 8 + 5)


def test_a_deflated_file_is_followed_into_its_inflated_data_set() -> None:
    a = part10(_dataset())
    b = part10(_dataset(), transfer_syntax=DEFLATED_EXPLICIT_VR_LITTLE_ENDIAN)
    # Where the data set starts in B: after the meta group, whose length (0002,0000) says.
    meta_end = 132 + 12 + int.from_bytes(b[140:144], "little")
    inflated = zlib.decompress(b[meta_end:], -15)
    tag = inflated.index(_tag(0x0018, 0x0050))
    p = _pairing(a, b)
    assert p.follow(A, Stream.FILE, _at(a, 0x0018, 0x0050)).at == (Stream.INFLATED, tag)
    assert p.follow(B, Stream.INFLATED, tag).at == (Stream.FILE, _at(a, 0x0018, 0x0050))


def test_the_differences_in_the_order_of_either_file() -> None:
    """A value change, an element only B has, one only A has: in file order on both sides,
    the one-sided ones where they would be in the file that lacks them."""
    a = part10(_dataset())
    b = part10(
        _dataset(description="CHEST", extra=(E("0020,0011", "IS", "3"),), drop=("0028,0010",))
    )
    p = _pairing(a, b)
    assert [(s.difference.change, s.difference.path) for s in p.stops] == [
        ("value", "0008,1030"),
        ("added", "0020,0011"),
        ("removed", "0028,0010"),
    ]
    value, added, removed = p.stops
    assert value.at == (
        (Stream.FILE, _at(a, 0x0008, 0x1030)),
        (Stream.FILE, _at(b, 0x0008, 0x1030)),
    )
    assert added.at == (None, (Stream.FILE, _at(b, 0x0020, 0x0011)))
    assert removed.at == ((Stream.FILE, _at(a, 0x0028, 0x0010)), None)
    # From the start of either file, n finds the value change first; from it, the added
    # element, which A lacks: A's next difference after (0018,0050) is where it would be.
    for side in (A, B):
        assert p.next_stop(side, (Stream.FILE, 0), 1) == 0
    assert p.next_stop(A, (Stream.FILE, _at(a, 0x0008, 0x1030)), 1) == 1
    assert p.next_stop(A, (Stream.FILE, _at(a, 0x0018, 0x0050)), 1) == 1
    assert p.next_stop(A, (Stream.FILE, _at(a, 0x0020, 0x0013)), 1) == 2
    assert p.next_stop(B, (Stream.FILE, _at(b, 0x0020, 0x0011)), 1) == 2
    assert p.next_stop(B, (Stream.FILE, _at(b, 0x0020, 0x0011)), -1) == 0
    assert p.next_stop(A, (Stream.FILE, len(a) - 1), 1) is None
    # The difference a node is in: the element, and anything inside it.
    node = p.node_at(B, Stream.FILE, _at(b, 0x0008, 0x1030) + 9)
    assert p.stop_at(B, node) == 0
    assert p.stop_at(A, p.node_at(A, Stream.FILE, _at(a, 0x0020, 0x0013))) == -1


def test_where_two_long_values_first_differ() -> None:
    """Read a MiB at a time: the first unequal byte is found past the first window too."""
    size, at = (3 << 19) + 2, (1 << 20) + 5  # 1.5 MiB of pixels, differing 5 bytes into MiB 2
    pixels = bytes(range(256)) * (size // 256) + bytes(size % 256)
    changed = pixels[:at] + b"\xff" + pixels[at + 1 :]
    assert pixels[at] != 0xFF
    a = part10([E("0008,0016", "UI", CT), E("7FE0,0010", "OB", pixels)])
    b = part10([E("0008,0016", "UI", CT), E("7FE0,0010", "OB", changed)])
    shorter = part10([E("0008,0016", "UI", CT), E("7FE0,0010", "OB", pixels[:4000])])
    ia, ib, ic = index_bytes(a), index_bytes(b), index_bytes(shorter)
    (pa,) = [i for i in range(len(ia)) if ia.node(i).tag == 0x7FE00010]
    assert first_unequal(ia, pa, ib, pa, tick=lambda: None) == at
    assert first_unequal(ia, pa, ia, pa) is None
    assert first_unequal(ia, pa, ic, pa) == 4000  # the shorter one ends there


def test_an_items_missing_first_element_would_be_at_the_start_of_the_item() -> None:
    """B's second item lacks (0008,1150), its first element in A: B's place for it is where
    the item's data set starts (its 8-byte header after the item tag), not past the item
    (a review found the pane sent after the whole sequence)."""
    a = part10(_dataset())
    refs = Seq(
        [
            Item([E("0008,1150", "UI", CT), E("0008,1155", "UI", "1.2.3.4.5.6")]),
            Item([E("0008,1155", "UI", "1.2.3.4.5.7")]),
        ]
    )
    b = part10([e if e.tag != "0008,1140" else E("0008,1140", "SQ", refs) for e in _dataset()])
    p = _pairing(a, b)
    (removed,) = [s for s in p.stops if s.difference.change == "removed"]
    assert removed.difference.path == "0008,1140[1]/0008,1150"
    second_item = b.index(ITEM, _at(b, 0x0008, 0x1140)) + 1
    second_item = b.index(ITEM, second_item)
    assert removed.keys[B][:2] == (int(Stream.FILE), second_item + 8)
    assert b[second_item + 8 : second_item + 12] == _tag(0x0008, 0x1155)
