"""Structure paths as the viewer's ``t`` reads them (dcmstruct.paths) and keyword completion
(dcmstruct.completion), on files built here; every expected offset is added up from the
lengths of the pieces the builder writes, never read back from the index."""

from __future__ import annotations

import struct

import pytest

from dcmstruct import specdata
from dcmstruct.builder import E, Item, Raw, Seq, Writer, part10
from dcmstruct.completion import Completer
from dcmstruct.index import ElementIndex, index_bytes
from dcmstruct.paths import find, looks_like_path
from dcmstruct.schema.element import EXPLICIT_LE

CT = "1.2.840.10008.5.1.4.1.1.2"
W = Writer(EXPLICIT_LE)
SQ_HEADER = 12  # explicit VR, long form (PS3.5 7.1.2)
ITEM_HEADER = 8  # (FFFE,E000) and a 32-bit length (PS3.5 7.5)


def frame(k: int) -> Item:
    return Item(
        [
            E(
                "FrameContentSequence",
                "SQ",
                Seq(
                    [
                        Item(
                            [
                                E("StackID", "SH", f"S{k}"),
                                E("InStackPositionNumber", "UL", k + 1),
                                E("FrameAcquisitionNumber", "US", k),
                            ]
                        )
                    ]
                ),
            ),
            E(
                "PlanePositionSequence",
                "SQ",
                Seq([Item([E("ImagePositionPatient", "DS", [0, 0, k])])]),
            ),
        ]
    )


FRAMES = [frame(k) for k in range(3)]
REFERENCES = [
    Item([E("ReferencedSOPInstanceUID", "UI", "1.2.3.4")]),
    Item([E("ReferencedSOPClassUID", "UI", CT), E("ReferencedSOPInstanceUID", "UI", "1.2.3.5")]),
]
TOP: list[E | Raw] = [
    E("SOPClassUID", "UI", CT),
    E("SOPInstanceUID", "UI", "1.2.826.0.1.3680043.10.1455.77"),
    E("ReferencedImageSequence", "SQ", Seq(list(REFERENCES))),
    E("PatientName", "PN", "PATH^TEST"),
    E("PerFrameFunctionalGroupsSequence", "SQ", Seq(list(FRAMES))),
]
DATA = part10(TOP)
RIS = 2  # where ReferencedImageSequence is in TOP
HEAD = len(DATA) - len(W.dataset(TOP))  # preamble, prefix and meta group


def top_offset(k: int) -> int:
    return HEAD + sum(len(W.element(e)) for e in TOP[:k])


def item_offset(sequence_at: int, items: list[Item], k: int) -> int:
    return sequence_at + SQ_HEADER + sum(len(W.item(i)) for i in items[:k])


def in_stack_position(k: int) -> int:
    """(5200,9230)[k]/(0020,9111)[0]/(0020,9057), added up."""
    frame_item = item_offset(top_offset(4), FRAMES, k)
    content = frame_item + ITEM_HEADER  # FrameContentSequence: the item's first element
    content_item = content + SQ_HEADER
    return content_item + ITEM_HEADER + len(W.element(E("StackID", "SH", f"S{k}")))


def tag_at(offset: int) -> int:
    group, element = struct.unpack_from("<HH", DATA, offset)
    return int(group << 16 | element)


@pytest.fixture(scope="module")
def index() -> ElementIndex:
    return index_bytes(DATA)


def offset_of(index: ElementIndex, text: str) -> int:
    return int(index.columns.offset[find(index, text)])


def test_the_expected_offsets_are_the_elements_built() -> None:
    """The sums above land on the tags written (so the tests below compare with the bytes)."""
    for k in range(3):
        assert tag_at(in_stack_position(k)) == 0x00209057
    assert tag_at(top_offset(RIS)) == 0x00081140
    assert tag_at(item_offset(top_offset(RIS), REFERENCES, 1)) == 0xFFFEE000


@pytest.mark.parametrize(
    "text",
    [
        "5200,9230[2]/0020,9111[0]/0020,9057",
        "PerFrameFunctionalGroupsSequence[2]/FrameContentSequence[0]/InStackPositionNumber",
        "perframefunctionalgroupssequence[2]/FRAMECONTENTSEQUENCE[0]/instackpositionnumber",
        "(5200,9230)[2]/(0020,9111)[0]/(0020,9057)",
        "52009230[-1]/FrameContentSequence[0]/00209057",
        " 5200,9230[2] / 0020,9111[0] / InStackPositionNumber ",
    ],
)
def test_a_path_names_one_node(index: ElementIndex, text: str) -> None:
    assert looks_like_path(text)
    assert offset_of(index, text) == in_stack_position(2)


def test_items_and_elements_of_items(index: ElementIndex) -> None:
    second = item_offset(top_offset(RIS), REFERENCES, 1)
    assert offset_of(index, "(0008,1140)[1]") == second
    uid_at = second + ITEM_HEADER + len(W.element(E("ReferencedSOPClassUID", "UI", CT)))
    assert offset_of(index, "(0008,1140)[1]/(0008,1155)") == uid_at
    assert offset_of(index, "ReferencedImageSequence[0]/ReferencedSOPInstanceUID") == (
        top_offset(RIS) + SQ_HEADER + ITEM_HEADER
    )
    assert offset_of(index, "patientname") == top_offset(RIS + 1)
    assert not looks_like_path("PatientName") and not looks_like_path("0010,0010")


@pytest.mark.parametrize(
    ("text", "words"),
    [
        ("5200,9230[17]/0020,9111[0]/0020,9057", "item 17 of 5200,9230: the sequence has 3 items"),
        ("5200,9230[-4]", "item -4 of 5200,9230: the sequence has 3 items"),
        ("5200,9230[1]/0020,9111[1]", "item 1 of 0020,9111: the sequence has 1 item"),
        ("5200,9230[1]/0020,9113[0]/0020,9057", "no element 0020,9057 InStackPositionNumber in"),
        ("5200,9230/0020,9111", "5200,9230 is not an item"),
        ("5200,9230[0]/FrameContentSequenc[0]", "close: FrameContentSequence"),
        ("0010,0020[0]", "no element 0010,0020 PatientID at the top level"),
    ],
)
def test_a_path_that_does_not_resolve_says_which_step(
    index: ElementIndex, text: str, words: str
) -> None:
    with pytest.raises(KeyError) as raised:
        find(index, text)
    assert words in str(raised.value)


def test_an_item_among_twenty_thousand() -> None:
    """The last of 20,000 items, and an element in it: each step looks at the children of
    where the path is (the child table), and lands where the sums say."""
    count = 20_000
    item = W.item(Item([E("CodeValue", "SH", "T-1234"), E("CodeMeaning", "LO", "X")]))
    top: list[E | Raw] = [
        E("SOPClassUID", "UI", CT),
        E("ConceptNameCodeSequence", "SQ", Seq([Raw(item * count)])),
    ]
    data = part10(top)
    head = len(data) - len(W.dataset(top))
    sequence = head + len(W.element(top[0]))
    last = sequence + SQ_HEADER + (count - 1) * len(item)
    big = index_bytes(data)
    assert int(big.columns.offset[find(big, "0040,A043[19999]")]) == last
    meaning = last + ITEM_HEADER + len(W.element(E("CodeValue", "SH", "T-1234")))
    assert int(big.columns.offset[find(big, "ConceptNameCodeSequence[-1]/codemeaning")]) == meaning
    with pytest.raises(KeyError, match="item 20000 of 0040,A043: the sequence has 20000 items"):
        find(big, "0040,A043[20000]")


# -- completion -----------------------------------------------------------------------------


def test_completion_offers_a_keyword_in_any_case(index: ElementIndex) -> None:
    complete = Completer(index).complete
    assert complete("patientn") == "PatientName"
    assert complete("PERFRAME") == "PerFrameFunctionalGroupsSequence"
    # Present in the item the path reaches, before a shorter keyword of the dictionary.
    shortest = min((k for k in specdata.keywords() if k.lower().startswith("fr")), key=len)
    assert len(shortest) < len("FrameContentSequence")
    assert complete("perframefunctionalgroupssequence[1]/fr") == (
        "perframefunctionalgroupssequence[1]/FrameContentSequence"
    )
    assert complete("5200,9230[0]/0020,9111[0]/inst") == (
        "5200,9230[0]/0020,9111[0]/InStackPositionNumber"
    )
    # Nothing in the file: the dictionary's (the shortest match).
    assert complete("RescaleInterc") == "RescaleIntercept"


@pytest.mark.parametrize("text", ["", "0010", "(0010", "5200,9230[", "qqqqqq", "PatientName/"])
def test_no_completion_where_no_keyword_is_typed(index: ElementIndex, text: str) -> None:
    assert Completer(index).complete(text) is None


def test_a_huge_item_index_is_no_path_and_no_crash(index: ElementIndex) -> None:
    """int() of thousands of digits raises ValueError, which the completer (a worker) did not
    expect: typing such an index closed the viewer (found by a review)."""
    huge = "PerFrameFunctionalGroupsSequence[" + "9" * 5000 + "]/Frame"
    with pytest.raises(KeyError):
        find(index, huge)
    # Completion goes on (from the dictionary, as the path does not resolve), no exception.
    completed = Completer(index).complete(huge)
    assert completed is None or completed.startswith(huge)
