"""Rules: sequences, items and delimiters (PS3.5 7.5).

The element index meets every one of these faults while it opens and closes sequences and
items (it must decide, at each of them, what the bytes belong to), so they are all declared
with :func:`index_rule`: the findings are the index's faults of each name.
"""

from __future__ import annotations

from dcmstruct.validate.registry import index_rule

index_rule(
    "SEQUENCE_DELIMITER_MISSING",
    "error",
    "PS3.5 7.5.2, A.4",
    summary="Undefined-length sequence (or encapsulated pixel data) not closed by (FFFE,E0DD)",
    why="""\
An undefined-length sequence ends only at its Sequence Delimitation Item (PS3.5 7.5.2); without
it a reader cannot tell where the sequence stops. Strict readers stop with a parse error
(an element where an item tag must be); others resynchronise differently, so attributes such
as Patient Name may end up nested in the sequence and vanish from the top level; a PACS may
index the wrong values or reject the object. The finding is empty (length 0 at the
sequence's end) or covers the header of the element met where an item or the delimiter
was expected.""",
    example="""\
(0008,1140) SQ FFFFFFFF
  (FFFE,E000) FFFFFFFF ... (FFFE,E00D) 00000000
(0010,0010) PN 'RULE^FIXTURE'        <- no (FFFE,E0DD) 00000000 before it""",
    module=__name__,
)

index_rule(
    "ITEM_DELIMITER_MISSING",
    "error",
    "PS3.5 7.5.2",
    summary="Undefined-length item not closed by (FFFE,E00D)",
    why="""\
An undefined-length item ends only at its Item Delimitation Item (PS3.5 7.5.2). Without it,
readers disagree on where the item's data set stops: some close it at the sequence delimiter
(and lose nothing), others treat the sequence delimiter as a stray and read the rest of the
file into the item. The finding is empty (length 0), where the item should have been closed.""",
    example="""\
(0008,1140) SQ FFFFFFFF
  (FFFE,E000) FFFFFFFF (0008,1150) UI ... (0008,1155) UI ...
(FFFE,E0DD) 00000000                  <- no (FFFE,E00D) before it""",
    module=__name__,
)

index_rule(
    "DELIMITER_NONZERO_LENGTH",
    "warning",
    "PS3.5 7.5.2",
    summary="A delimitation item's length field is not 00000000H",
    why="""\
PS3.5 7.5.2 fixes the length of (FFFE,E00D) and (FFFE,E0DD) at 00000000H. Most readers ignore
the value, but a reader that honours it skips that many bytes after the delimiter and loses
the elements that follow, and a re-encoding writer may carry the bad length into other
files. The finding
points at the 4-byte length field.""",
    example="""\
fe ff 0d e0 04 00 00 00      (FFFE,E00D) with length 00000004H""",
    module=__name__,
)

index_rule(
    "STRAY_DELIMITER",
    "error",
    "PS3.5 7.5.2",
    summary="A sequence or item delimiter where no sequence/item is open",
    why="""\
A delimitation item closes the innermost open undefined-length item or sequence (PS3.5
7.5.2). One where nothing is open is left over from a broken writer (a defined-length
sequence written with its delimiter anyway, a deleted element). Several readers treat a
Sequence Delimitation Item at top level as the end of the data set and silently drop the rest
of the file; dcmstruct reads on. The finding covers the 8-byte delimiter.""",
    example="""\
(0008,0060) CS 'CT'
(FFFE,E0DD) 00000000                 <- no sequence open
(0010,0010) PN 'RULE^FIXTURE'""",
    module=__name__,
)

index_rule(
    "ITEM_OUTSIDE_SEQUENCE",
    "error",
    "PS3.5 7.5",
    summary="An item tag (FFFE,E000) at top level or directly inside an item",
    why="""\
Items exist only as the content of a sequence (PS3.5 7.5); an item tag in a data set has no
attribute to belong to. Readers either fail on it or read it as an element of group FFFE
with a VR guessed from nothing, and the item's content is lost or attached to
the wrong attribute. dcmstruct reads it as an item so its content is still indexed. The
finding covers the 8-byte item header.""",
    example="""\
(0008,0060) CS 'CT'
(FFFE,E000) 0000004a ...             <- an item, but no sequence open
(0010,0010) PN 'RULE^FIXTURE'""",
    module=__name__,
)

index_rule(
    "ITEM_EXPECTED",
    "error",
    "PS3.5 7.5.1",
    summary="Something other than an item (or a delimiter) directly inside a sequence",
    why="""\
A sequence's value is a list of items and nothing else (PS3.5 7.5.1). A data element written
directly into a sequence (its item header forgotten) makes strict readers stop parsing;
lenient ones read it as a broken item or drop it. Inside a defined-length sequence
dcmstruct skips the rest of the sequence's length, which the finding covers. (Elements there
that read as the enclosing data set's next ones, tags above the sequence's, are a sequence
length that runs too far: SEQUENCE_LENGTH_MISMATCH.)""",
    example="""\
(0008,1140) SQ 0000005e
  (FFFE,E000) 0000004a ...
  (0008,0001) UL 4                   <- an element where an item must be""",
    module=__name__,
)

index_rule(
    "ITEM_OVERRUNS_SEQUENCE",
    "error",
    "PS3.5 7.5.1",
    summary="A defined-length item runs past the end of its defined-length sequence",
    why="""\
A defined-length item must end inside its defined-length sequence (PS3.5 7.5.1): one of the
two lengths is wrong. Readers that trust the item length read the elements after the sequence
into the item; those that trust the sequence length cut the item's last elements. Either way
attributes are lost or misplaced. The item is cut at the sequence's end; the finding points
at the item's 4-byte length field.""",
    example="""\
(0008,1140) SQ 00000052
  (FFFE,E000) 000000c8 ...           <- 200 bytes, but the sequence has 74 left""",
    module=__name__,
)

index_rule(
    "SEQUENCE_LENGTH_MISMATCH",
    "error",
    "PS3.5 7.5.1",
    summary="Defined sequence length does not end on an item boundary",
    why="""\
A defined sequence length must be the exact sum of its items (PS3.5 7.5.1). Bytes left over
at its end that cannot hold an item header mean the length is wrong; readers that trust it
skip or misread the bytes, readers that resynchronise on tags may read them as a broken item.
A length that runs over the elements after the sequence (they read as the enclosing data
set's next elements: ascending tags, headers that fit) makes readers that trust it swallow
those elements, a private creator say, and orphan what follows; dcmstruct closes the sequence
after its last item and reads them where they belong, so nothing is lost. The finding covers
the bytes left over after the last item.""",
    example="""\
(0008,1140) SQ 00000056
  (FFFE,E000) 0000004a ...  aa bb cc dd   <- 4 bytes after the last item
(0008,1140) SQ 0000005e
  (FFFE,E000) 0000004a ...
(0009,0010) LO 'RULE'                     <- counted in the sequence's length""",
    module=__name__,
)

index_rule(
    "DELIMITER_IN_DEFINED_LENGTH",
    "warning",
    "PS3.5 7.5.2",
    summary="A delimiter inside a defined-length sequence or item",
    why="""\
Delimitation items close undefined-length sequences and items only (PS3.5 7.5.2). A writer
that mixes the two encodings (a defined length and a delimiter) is usually harmless: the
length wins and the delimiter is read as an empty element. But readers that honour the
delimiter close the sequence or item early and read its remaining content one level up.
The finding covers the 8-byte delimiter.""",
    example="""\
(0008,1140) SQ 0000005a
  (FFFE,E000) 0000004a ...
  (FFFE,E0DD) 00000000               <- the sequence has a defined length""",
    module=__name__,
)
