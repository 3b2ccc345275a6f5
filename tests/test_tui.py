"""``dcmstruct view``: the viewer driven through Textual's Pilot, plus its pure helpers.

Pilot tests run the real app headless (``App.run_test``) on the bundled sample, on broken
fixtures of ``fixtures/rules/`` and on a generated 100,000-element file. The snapshot tests
keep SVG screenshots in ``tests/snapshots/test_tui/`` (``pytest --snapshot-update`` rewrites
them; look at them before committing, e.g. ``rsvg-convert -w 1400 X.svg -o /tmp/X.png``).
"""

from __future__ import annotations

import asyncio
import csv
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any

import pytest
from rich.text import Text
from textual import events
from textual.app import App
from textual.pilot import Pilot

from dcmstruct import cli
from dcmstruct.builder import E, Item, Raw, Seq, Writer, part10
from dcmstruct.index import index_bytes, index_file
from dcmstruct.model import Kind, Stream
from dcmstruct.privacy import masked_nodes
from dcmstruct.sample import sample_path
from dcmstruct.schema.element import EXPLICIT_LE
from dcmstruct.source import Source
from dcmstruct.tui import app as app_module
from dcmstruct.tui import search as search_module
from dcmstruct.tui.app import DcmViewApp
from dcmstruct.tui.decode import cursor_numbers, decode
from dcmstruct.tui.pixels import fit, frame_pixels, image_info, pick_pixel_node, to_levels
from dcmstruct.tui.screens.bookmarks import BookmarksScreen
from dcmstruct.tui.screens.find import FindScreen
from dcmstruct.tui.screens.help import HelpScreen
from dcmstruct.tui.screens.pixels import PixelScreen
from dcmstruct.tui.screens.prompt import PromptScreen, parse_offset, parse_tag
from dcmstruct.tui.search import ByteScan, Mode, ValueScan, parse_query
from dcmstruct.tui.structure import Part, Structure, next_position
from dcmstruct.tui.widgets import ElementTree, FindingsPanel, HexView, Inspector
from dcmstruct.tui.widgets.element_tree import GapEntry, NodeEntry
from dcmstruct.tui.widgets.pixel_view import PixelView
from dcmstruct.uids import EXPLICIT_VR_LITTLE_ENDIAN

ROOT = Path(__file__).resolve().parents[1]
RULES = ROOT / "fixtures" / "rules"
SAMPLE = str(sample_path())
CT = "1.2.840.10008.5.1.4.1.1.2"

Body = Callable[[Pilot[Any]], Awaitable[None]]


async def settle(pilot: Pilot[Any]) -> None:
    """Wait for indexing and validation (workers) and for the screen to catch up."""
    app = pilot.app
    assert isinstance(app, DcmViewApp)
    for _ in range(200):
        await app.workers.wait_for_complete()
        await pilot.pause()
        if not app.busy:
            break
    await pilot.pause()


def drive(
    path: str, body: Body, size: tuple[int, int] = (120, 40), *, mask: bool = False
) -> DcmViewApp:
    app = DcmViewApp(path, mask=mask)

    async def main() -> None:
        async with app.run_test(size=size) as pilot:
            await settle(pilot)
            await body(pilot)

    asyncio.run(main())
    return app


def tree_node(app: DcmViewApp) -> int:
    """The index node under the structure tree's cursor."""
    tnode = app.element_tree.cursor_node
    assert tnode is not None and isinstance(tnode.data, NodeEntry)
    return tnode.data.node


def index_rows() -> list[dict[str, str]]:
    with open(RULES / "INDEX.tsv", newline="") as f:
        return list(csv.DictReader(f, delimiter="\t"))


@pytest.fixture(scope="module")
def big_file(tmp_path_factory: pytest.TempPathFactory) -> tuple[str, int]:
    """~100,000 elements: 25,000 items of 4 elements in one sequence, built from one item
    written by the builder and repeated (building each one would take seconds)."""
    count = 25_000
    item = Writer(EXPLICIT_LE).item(
        Item(
            [
                E("CodeValue", "SH", "T-1234"),
                E("CodingSchemeDesignator", "SH", "SCT"),
                E("CodeMeaning", "LO", "SOMETHING"),
                E("ContextUID", "UI", "1.2.3"),
            ]
        )
    )
    data = part10(
        [
            E("SOPClassUID", "UI", CT),
            E("SOPInstanceUID", "UI", "1.2.826.0.1.3680043.10.1455.9.9"),
            E("ConceptNameCodeSequence", "SQ", Seq([Raw(item * count)])),
            E("PatientName", "PN", "BIG^FILE"),
        ],
        transfer_syntax=EXPLICIT_VR_LITTLE_ENDIAN,
    )
    path = tmp_path_factory.mktemp("tui") / "big.dcm"
    path.write_bytes(data)
    return str(path), count


# -- pure helpers -----------------------------------------------------------------------------


def test_parse_offset_and_tag() -> None:
    assert parse_offset("0x200", 1000) == 0x200
    assert parse_offset("512", 1000) == 512
    assert parse_offset("1f4h", 1000) == 500
    assert parse_offset("-1", 1000) == 999
    for bad in ("", "zz", "0x1000", "1000"):
        with pytest.raises(ValueError):
            parse_offset(bad, 1000)
    assert parse_tag("0010,0010") == parse_tag("(0010,0010)") == parse_tag("00100010")
    assert parse_tag("PatientName") == 0x00100010
    with pytest.raises(ValueError):
        parse_tag("NoSuchKeyword")


def test_structure_parts_follow_the_header_layout() -> None:
    structure = Structure(index_bytes(Path(SAMPLE).read_bytes()))
    # (0002,0000) UL at 0x84: explicit short form, tag 4, VR 2, length 2, value 4.
    parts = [p for _, p, _ in structure.parts(Stream.FILE, 0x84, 0x90)]
    assert parts == [Part.TAG] * 4 + [Part.VR] * 2 + [Part.LENGTH] * 2 + [Part.VALUE] * 4
    # (0002,0001) OB at 0x90: explicit long form with 2 reserved bytes and a 32-bit length.
    parts = [p for _, p, _ in structure.parts(Stream.FILE, 0x90, 0x9C)]
    assert parts == [Part.TAG] * 4 + [Part.VR] * 2 + [Part.RESERVED] * 2 + [Part.LENGTH] * 4
    assert structure.parts(Stream.FILE, 0, 1)[0][1] == Part.PREAMBLE
    assert structure.parts(Stream.FILE, 0x80, 0x81)[0][1] == Part.PREFIX
    # Inside an item of a sequence the innermost node is the nested element, one level down.
    node = structure.innermost(Stream.FILE, 0x2F8)
    assert structure.index.node(node).tag == 0x00080100
    assert structure.index.node(node).depth == 1
    runs = structure.runs(Stream.FILE, 0x2E4, 0x300)
    assert [r.node for r in runs] == [structure.innermost(Stream.FILE, r.start) for r in runs]


def test_decode_by_vr() -> None:
    structure = Structure(index_bytes(Path(SAMPLE).read_bytes()))
    c = structure.index.columns

    def node(tag: int) -> int:
        return int(next(i for i in range(len(c)) if int(c.tag[i]) == tag))

    assert [ln.text for ln in decode(structure, node(0x00080008))] == [
        "ORIGINAL",
        "PRIMARY",
        "AXIAL",
    ]
    uid = decode(structure, node(0x00020010))[0]
    assert uid.note == "Explicit VR Little Endian"
    assert decode(structure, node(0x00080020))[0].note == "2000-01-01"
    assert decode(structure, node(0x00080030))[0].note == "12:00:00"
    assert decode(structure, node(0x00101010))[0].note == "30 years"
    assert [ln.text for ln in decode(structure, node(0x00280010))] == ["256"]
    assert decode(structure, node(0x00189306))[0].text == "0.625"
    assert decode(structure, node(0x00081032))[0].text == "1"  # one item
    rows = dict((name, (le, be)) for name, le, be in cursor_numbers(b"\x01\x02\x03\x04"))
    assert rows["u16"] == ("513", "258")
    assert rows["u32"] == (str(0x04030201), str(0x01020304))
    assert rows["f64"] == ("—", "—")


def test_next_position_wraps() -> None:
    positions = [(0, 10), (0, 20), (1, 5)]
    assert next_position(positions, (0, 10), True) == 1
    assert next_position(positions, (1, 5), True) == 0
    assert next_position(positions, (0, 10), False) == 2
    assert next_position([], (0, 0), True) == -1


# -- the app --------------------------------------------------------------------------------


def test_open_sample_shows_every_pane() -> None:
    async def body(pilot: Pilot[Any]) -> None:
        app = pilot.app
        assert isinstance(app, DcmViewApp)
        assert app.structure is not None
        labels = [str(n.label) for n in app.element_tree.root.children]
        assert labels[0].startswith("Preamble") and labels[1].startswith("Prefix")
        assert any(label.startswith("File Meta Information") for label in labels)
        assert any(label.startswith("Data Set") for label in labels)
        hex_view = app.query_one(HexView)
        assert "DICM" in hex_view._row(0x80 // hex_view.bytes_per_row).text
        assert tree_node(app) == 0  # the preamble holds the cursor at offset 0
        assert app.focused is hex_view

    drive(SAMPLE, body)


def test_cursor_movement_selects_the_tree_node() -> None:
    async def body(pilot: Pilot[Any]) -> None:
        app = pilot.app
        assert isinstance(app, DcmViewApp) and app.structure is not None
        hex_view = app.query_one(HexView)
        await pilot.press(*["down"] * 9, "right", "right")
        await pilot.pause()
        width = hex_view.bytes_per_row
        assert hex_view.cursor == 9 * width + 2
        expected = app.structure.innermost(Stream.FILE, hex_view.cursor)
        assert tree_node(app) == expected
        n = app.structure.index.node(expected)
        assert hex_view.selection == (n.offset, n.end)
        # Deep inside a nested sequence: the tree expands the path to the element.
        await pilot.press("g")
        await pilot.press(*"0x350", "enter")
        await pilot.pause()
        node = tree_node(app)
        assert app.structure.index.node(node).tag == 0x00080100  # CodeValue, depth 2
        assert app.structure.index.node(node).depth == 2

    drive(SAMPLE, body)


def test_selecting_a_tree_node_moves_the_cursor() -> None:
    async def body(pilot: Pilot[Any]) -> None:
        app = pilot.app
        assert isinstance(app, DcmViewApp) and app.structure is not None
        tree = app.query_one(ElementTree)
        hex_view = app.query_one(HexView)
        tree.focus()
        await pilot.pause()
        # Arrowing through the tree follows along in the hex view.
        await pilot.press("down", "down", "down", "down", "down")
        await pilot.pause()
        node = tree_node(app)
        assert hex_view.cursor == int(app.structure.offset[node])
        # Enter on an element deep in the file moves the cursor to its first byte.
        target = next(
            i
            for i in range(len(app.structure.index))
            if app.structure.index.node(i).tag == 0x00280010
        )
        tree.move_cursor(tree._tree_node_of[target])
        await pilot.press("enter")
        await pilot.pause()
        assert hex_view.cursor == int(app.structure.offset[target])
        assert hex_view.is_visible(hex_view.cursor)

    drive(SAMPLE, body)


def test_go_to_offset_and_tag() -> None:
    async def body(pilot: Pilot[Any]) -> None:
        app = pilot.app
        assert isinstance(app, DcmViewApp) and app.structure is not None
        hex_view = app.query_one(HexView)
        await pilot.press("g", *"0x1000", "enter")
        await pilot.pause()
        assert hex_view.cursor == 0x1000
        assert hex_view.is_visible(0x1000)
        # A bad offset keeps the dialog open with the reason.
        await pilot.press("g", *"nonsense", "enter")
        await pilot.pause()
        assert isinstance(app.screen, PromptScreen)
        await pilot.press("escape")
        await pilot.pause()
        assert not isinstance(app.screen, PromptScreen)
        await pilot.press("t", *"PatientName", "enter")
        await pilot.pause()
        assert hex_view.cursor == 0x5A2
        assert app.structure.index.node(tree_node(app)).tag == 0x00100010
        await pilot.press("t", *"0028,0010", "enter")
        await pilot.pause()
        assert hex_view.cursor == 0x884
        # A keyword in any case (issue 11: "patientname" was rejected).
        await pilot.press("t", *"patientname", "enter")
        await pilot.pause()
        assert not isinstance(app.screen, PromptScreen)
        assert hex_view.cursor == 0x5A2

    drive(SAMPLE, body)


@pytest.mark.parametrize(
    "name", ["VALUE_OVERRUNS_PARENT", "INVALID_VR", "TAGS_NOT_ASCENDING", "DUPLICATE_TAG--in-item"]
)
def test_next_finding_jumps_to_its_bytes(name: str) -> None:
    row = next(r for r in index_rows() if r["name"] == name)
    expected = int(row["offset"], 16)

    async def body(pilot: Pilot[Any]) -> None:
        app = pilot.app
        assert isinstance(app, DcmViewApp) and app.structure is not None
        hex_view = app.query_one(HexView)
        assert app.findings, "the fixture's fault is found"
        await pilot.press("n")
        await pilot.pause()
        first = app.findings[0]
        assert hex_view.cursor == first.offset
        assert app.query_one(FindingsPanel).cursor_row == 0
        # n visits every finding in byte order and comes to the fixture's own.
        seen = [hex_view.cursor]
        for _ in range(len(app.findings) - 1):
            await pilot.press("n")
            await pilot.pause()
            seen.append(hex_view.cursor)
        assert seen == sorted(seen)
        assert expected in seen
        assert any(f.rule == row["rule"] and f.offset == expected for f in app.findings)
        # The faulty bytes are drawn in the fault style.
        fault = hex_view.get_component_rich_style("hex--fault").bgcolor
        strip = hex_view._row(expected // hex_view.bytes_per_row)
        assert any(seg.style is not None and seg.style.bgcolor == fault for seg in strip)
        await pilot.press("N")
        await pilot.pause()
        assert hex_view.cursor == seen[-2] if len(seen) > 1 else seen[0]

    drive(str(RULES / f"{name}.dcm"), body)


def test_selecting_a_finding_moves_the_cursor() -> None:
    async def body(pilot: Pilot[Any]) -> None:
        app = pilot.app
        assert isinstance(app, DcmViewApp)
        panel = app.query_one(FindingsPanel)
        panel.focus()
        await pilot.press("enter")
        await pilot.pause()
        assert app.query_one(HexView).cursor == app.findings[0].offset

    drive(str(RULES / "VALUE_OVERRUNS_PARENT.dcm"), body)


def test_80x24_shows_all_panes() -> None:
    async def body(pilot: Pilot[Any]) -> None:
        app = pilot.app
        screen = app.screen.region
        for kind in (ElementTree, HexView, Inspector, FindingsPanel):
            region = app.query_one(kind).region
            assert region.width >= 20 and region.height >= 5, (kind.__name__, region)
            assert screen.contains_region(region), (kind.__name__, region)
        hex_view = app.query_one(HexView)
        # The hex rows fit the pane: no horizontal scrolling needed.
        assert hex_view.virtual_size.width <= hex_view.scrollable_content_region.width
        assert hex_view.bytes_per_row == 8

    drive(SAMPLE, body, size=(80, 24))


def test_row_width_key_and_wide_terminal() -> None:
    async def body(pilot: Pilot[Any]) -> None:
        hex_view = pilot.app.query_one(HexView)
        assert hex_view.bytes_per_row == 32  # a wide terminal gets wide rows
        await pilot.press("w")
        await pilot.pause()
        assert hex_view.bytes_per_row == 8
        await pilot.press("w")
        await pilot.pause()
        assert hex_view.bytes_per_row == 16

    drive(SAMPLE, body, size=(200, 50))


def test_mouse_click_puts_the_cursor_on_a_byte() -> None:
    async def body(pilot: Pilot[Any]) -> None:
        app = pilot.app
        hex_view = app.query_one(HexView)
        layout = hex_view._layout
        # Third row, sixth byte, in the hex column; then the same row's first ASCII character.
        await pilot.click(HexView, offset=(1 + layout.hex_x[5], 1 + 2))
        await pilot.pause()
        assert hex_view.cursor == 2 * hex_view.bytes_per_row + 5
        await pilot.click(HexView, offset=(1 + layout.ascii_x, 1 + 2))
        await pilot.pause()
        assert hex_view.cursor == 2 * hex_view.bytes_per_row

    drive(SAMPLE, body)


def test_help_screen_lists_the_keys() -> None:
    async def body(pilot: Pilot[Any]) -> None:
        app = pilot.app
        assert isinstance(app, DcmViewApp)
        await pilot.press("question_mark")
        await pilot.pause()
        assert isinstance(app.screen, HelpScreen)
        described = {what for _, _, what in app.help_rows()}
        assert {"Go to offset (decimal or 0x hex)", "Go to the next finding", "Quit"} <= described
        assert "Next element" in described and "Cursor to parent" in described
        await pilot.press("escape")
        await pilot.pause()
        assert not isinstance(app.screen, HelpScreen)
        titles = {c.title for c in app.get_system_commands(app.screen)}
        assert {"Go to offset (decimal or 0x hex)", "Go to tag or keyword (the next one)"} <= titles
        # The second slice's keys: in the help screen and in the command palette alike.
        new = {
            "Find bytes (hex), text, or a decoded value",
            "Go to the next match",
            "Go to the previous match",
            "Set or remove a bookmark at the cursor",
            "Go to the next bookmark",
            "List the bookmarks: go to one, or delete it",
            "Go back to where the last jump started",
            "Collapse the whole tree",
            "Collapse the tree down to the selected element's path",
            "Preview the pixel data: a frame, or the fragments of encapsulated data",
            "Mask identifying and private values (PS3.15 Basic Profile) on or off",
            "Follow the offset under the cursor",  # the inspector's Enter
            "Next frame",
        }
        assert new <= described
        assert new - {"Follow the offset under the cursor", "Next frame"} <= titles
        keys = {key for _, key, _ in app.help_rows()}
        assert {"/", "f3", "b", "'", "B", "j", "J", "e", "c", "C", "p", "m"} <= keys
        # A command run from the palette acts on the main screen.
        await pilot.press("ctrl+p", *"mask identifying")
        await pilot.pause(0.3)
        await pilot.press("enter")
        await pilot.pause()
        assert app.structure is not None and app.structure.masking

    drive(SAMPLE, body)


def test_deflated_file_shows_the_inflated_data_set() -> None:
    async def body(pilot: Pilot[Any]) -> None:
        app = pilot.app
        assert isinstance(app, DcmViewApp) and app.structure is not None
        tree = app.query_one(ElementTree)
        labels = [str(n.label) for n in tree.root.children]
        assert any(label.startswith("Inflated data set") for label in labels)
        hex_view = app.query_one(HexView)
        # The compressed bytes are shown as such, not as unparsed.
        start = app.structure.index.dataset_offset
        assert start is not None
        assert app.structure.parts(Stream.FILE, start, start + 1)[0][1] == Part.DEFLATED
        await pilot.press("s")
        await pilot.pause()
        assert hex_view.stream == Stream.INFLATED
        node = tree_node(app)
        assert app.structure.index.node(node).stream == Stream.INFLATED

    drive(str(ROOT / "fixtures" / "deflated.dcm"), body)


def test_large_file_fills_the_tree_lazily(big_file: tuple[str, int]) -> None:
    path, count = big_file

    async def body(pilot: Pilot[Any]) -> None:
        app = pilot.app
        assert isinstance(app, DcmViewApp) and app.structure is not None
        structure = app.structure
        assert len(structure.index) > 100_000
        tree = app.query_one(ElementTree)
        created = len(tree._tree_nodes)
        assert created < 50
        # Expanding the sequence adds one bucket of items and a "more" entry.
        sq = next(i for i in structure.children(-1).tolist() if structure.child_count(i) > 1000)
        tree._tree_node_of[sq].expand()
        await pilot.pause()
        kids = tree._tree_node_of[sq].children
        assert len(kids) == 101 and isinstance(kids[-1].data, GapEntry)
        # The cursor near the end of the file reveals an element of the last items: only the
        # bucket holding it is loaded.
        await pilot.press("g", *str(structure.index.size - 40), "enter")
        await pilot.pause()
        node = tree_node(app)
        assert structure.index.node(node).kind == Kind.ELEMENT
        assert structure.index.node(node).depth == 1
        assert len(tree._tree_nodes) < 400
        gaps = [k.data for k in tree._tree_node_of[sq].children if isinstance(k.data, GapEntry)]
        assert sum(g.stop - g.first for g in gaps) > count - 300  # the rest is still unloaded

    drive(path, body)


# -- snapshots --------------------------------------------------------------------------------
# Taken without the validator (the indexer's faults only), so that a rule added elsewhere does
# not change the pictures; the Pilot tests above run it.


def test_snapshot_sample(snap: Callable[..., bool]) -> None:
    """The bundled sample at 120x40, cursor moved into the meta group's transfer syntax."""
    assert snap(DcmViewApp(SAMPLE, validate=False), press=("g", *"0xf0", "enter"))


def test_snapshot_broken_file(snap: Callable[..., bool]) -> None:
    """A value that overruns its item, after n: the faulty length field marked, the finding
    listed and explained in the inspector, its path in the tree expanded."""
    app = DcmViewApp(str(RULES / "VALUE_OVERRUNS_PARENT.dcm"), validate=False)
    assert snap(app, press=("n",))


def test_snapshot_small_terminal(snap: Callable[..., bool]) -> None:
    """The sample at 80x24: every pane present, 8 bytes per row."""
    assert snap(DcmViewApp(SAMPLE, validate=False), terminal_size=(80, 24))


@pytest.mark.parametrize(
    "content", [b"", b"\x00" * 10, bytes(range(256)) * 3], ids=["empty", "zeros", "garbage"]
)
def test_files_that_are_no_dicom_still_open(tmp_path: Path, content: bytes) -> None:
    path = tmp_path / "x.dcm"
    path.write_bytes(content)

    async def body(pilot: Pilot[Any]) -> None:
        app = pilot.app
        assert isinstance(app, DcmViewApp) and app.structure is not None
        await pilot.press("down", "right", "pagedown", "ctrl+end")
        await pilot.pause()
        hex_view = app.query_one(HexView)
        assert hex_view.cursor == max(0, len(content) - 1)
        await pilot.press("n", "N", "g", "escape", "t", "escape", "w")
        await pilot.pause()
        if content:
            # Bytes that form no element are drawn as unparsed (or faulty); their colour, as
            # the background is the selection's (the cursor is in them).
            unparsed = hex_view.get_component_rich_style("hex--unparsed").color
            fault = hex_view.get_component_rich_style("hex--fault").color
            row = hex_view._row((len(content) - 1) // hex_view.bytes_per_row)
            colours = {seg.style.color for seg in row if seg.style is not None}
            assert colours & {unparsed, fault}

    drive(str(path), body, size=(80, 24))


def test_theme_change_restyles_the_hex_view() -> None:
    async def body(pilot: Pilot[Any]) -> None:
        app = pilot.app
        hex_view = app.query_one(HexView)
        before = hex_view._row(0x80 // hex_view.bytes_per_row)
        app.theme = "textual-light"
        await pilot.pause()
        await pilot.pause()
        after = hex_view._row(0x80 // hex_view.bytes_per_row)
        assert [s.style for s in before] != [s.style for s in after]
        tree = app.query_one(ElementTree)
        tag = tree.get_component_rich_style("element-tree--tag", partial=True)
        labels = [n.label for n in tree._tree_node_of.values()]
        assert any(
            span.style == tag for label in labels if isinstance(label, Text) for span in label.spans
        )

    drive(SAMPLE, body)


def test_go_to_tag_again_visits_the_next_one() -> None:
    async def body(pilot: Pilot[Any]) -> None:
        app = pilot.app
        assert isinstance(app, DcmViewApp) and app.structure is not None
        hex_view = app.query_one(HexView)
        await pilot.press("t", *"CodeMeaning", "enter")
        await pilot.pause()
        first = hex_view.cursor
        await pilot.press("t", "enter")  # the last answer is offered again
        await pilot.pause()
        assert hex_view.cursor > first
        assert app.structure.index.node(tree_node(app)).tag == 0x00080104

    drive(SAMPLE, body)


# -- issue 4, second slice: find, bookmarks, pointers, tree keys, pixels, mask ---------------


async def ask(pilot: Pilot[Any], key: str, text: str) -> None:
    """Open a dialog with ``key``, answer ``text`` and Enter (the answer set at once: typing
    it key by key through the Pilot costs seconds per test)."""
    from textual.widgets import Input

    await pilot.press(key)
    await pilot.pause()
    pilot.app.screen.query_one(Input).value = text
    await pilot.press("enter")
    await pilot.pause()


def screen_text(app: App[Any]) -> str:
    """Every character on the screen as drawn (toasts included), one line per row."""
    return "\n".join(strip.text for strip in app.screen._compositor.render_strips())


def status_text(app: DcmViewApp) -> str:
    return str(app.query_one("#status").render())


def node_with_tag(structure: Structure, tag: int) -> int:
    c = structure.index.columns
    return int(next(i for i in range(len(c)) if int(c.tag[i]) == tag))


def test_parse_query_modes() -> None:
    assert parse_query("de ad be ef").needle == b"\xde\xad\xbe\xef"
    assert parse_query("0xDEAD").needle == b"\xde\xad"
    assert parse_query("hex: 01 02").needle == b"\x01\x02"
    text = parse_query("DCMSTRUCT")
    assert (text.mode, text.needle, text.ignore_case) == (Mode.TEXT, b"DCMSTRUCT", False)
    assert parse_query("dcmstruct").ignore_case  # smart case
    assert parse_query('"de ad"').needle == b"de ad"  # quoted: text, not bytes
    assert parse_query("text:0xDEAD").needle == b"0xDEAD"
    value = parse_query("value:1.2.840.10008.1.2.1")
    assert (value.mode, value.text) == (Mode.VALUE, "1.2.840.10008.1.2.1")
    assert parse_query("256", Mode.VALUE).mode == Mode.VALUE
    for bad, mode in (("0xABC", Mode.AUTO), ("zz", Mode.HEX), ("", Mode.TEXT), (" ", Mode.VALUE)):
        with pytest.raises(ValueError):
            parse_query(bad, mode)


def test_byte_scan_chunks_overlap_and_wrap() -> None:
    # Needles across every chunk boundary: each found once, in scan order from the origin.
    data = bytearray(200)
    at = [0, 14, 31, 63, 100, 190, 196]
    for a in at:
        data[a : a + 4] = b"NEED"
    sources = (Source.from_bytes(bytes(data)), Source(memoryview(bytes(data)), len(data)))
    # chunk=4: the scan reads 16 chunks at a time, so 200 bytes take several reads.
    for source, chunk in ((sources[0], 16), (sources[1], 16), (sources[0], 4)):
        scan = ByteScan(source, len(data), b"NEED", 64, chunk=chunk)
        found: list[int] = []
        while not scan.done:
            found += [a for a, _ in scan.next_batch(2)]
        assert found == [100, 190, 196, 0, 14, 31, 63]
    for chunk in (16, 5):
        lowered = Source.from_bytes(bytes(data).lower())
        scan = ByteScan(lowered, len(data), b"need", 0, ignore_case=True, chunk=chunk)
        found = []
        while not scan.done:
            found += [a for a, _ in scan.next_batch(100)]
        assert found == at
    stop = ByteScan(Source.from_bytes(bytes(data)), len(data), b"NEED", 0, chunk=16)
    assert stop.next_batch(100, cancelled=lambda: True) == [] and not stop.done


def test_value_scan_matches_decoded_values() -> None:
    structure = Structure(index_bytes(Path(SAMPLE).read_bytes()))

    def values(text: str) -> list[int]:
        scan = ValueScan(structure, Stream.FILE, text)
        out: list[int] = []
        while not scan.done:
            out += [a for a, _ in scan.next_batch(100)]
        return out

    assert values("1.2.840.10008.1.2.1") == [0xF0]  # the transfer syntax UID, not a prefix
    assert values("256") == [0x88C, 0x896, 0x98A]  # Rows, Columns (US) and a private US
    assert values("2.50") == [0x61E]  # DS compared as a number: SliceThickness 2.5
    # WindowCenterWidthExplanation: the second of two values, in any case.
    assert values("lung") == [0x92E + 8]
    assert values("chest*") == [0x56C + 8, 0x5F4 + 8]  # CodeMeaning, BodyPartExamined


def test_find_text_value_and_hex() -> None:
    async def body(pilot: Pilot[Any]) -> None:
        app = pilot.app
        assert isinstance(app, DcmViewApp)
        hex_view = app.query_one(HexView)
        await pilot.press("slash")
        await pilot.pause()
        assert isinstance(app.screen, FindScreen)
        await pilot.press(*"DCMSTRUCT", "enter")
        await settle(pilot)
        search = app.search
        assert search is not None and not search.running
        # From the cursor on: ImplementationVersionName's value comes first.
        assert hex_view.cursor == 0x132
        assert "match 1 of 9" in status_text(app)
        await pilot.press("f3")
        await pilot.pause()
        assert hex_view.cursor == search.matches[1][0] == 0x276
        assert "match 2 of 9" in status_text(app)
        # Matches are drawn in the match style, the current one in its own.
        match_bg = hex_view.get_component_rich_style("hex--match").bgcolor
        row = hex_view._row(0x288 // hex_view.bytes_per_row)
        assert any(seg.style is not None and seg.style.bgcolor == match_bg for seg in row)
        await pilot.press("shift+f3")
        await pilot.pause()
        assert hex_view.cursor == 0x132
        await pilot.press("shift+f3")  # before the first: the last one
        await pilot.pause()
        assert hex_view.cursor == search.matches[-1][0]
        # What many terminals send for shift+F3 (issue 11: it never fired).
        await pilot.press("f15")
        await pilot.pause()
        assert hex_view.cursor == search.matches[-2][0]
        # A decoded value: the transfer syntax UID.
        await ask(pilot, "slash", "value:1.2.840.10008.1.2.1")
        await settle(pilot)
        assert hex_view.cursor == 0xF0
        assert "match 1 of 1" in status_text(app)
        # Hex bytes, mode chosen in the dialog: "DI" of the prefix.
        await ask(pilot, "g", "0")
        await pilot.press("slash")
        await pilot.pause()
        screen = app.screen
        assert isinstance(screen, FindScreen)
        screen.set_mode(Mode.HEX)
        await pilot.press(*"44 49", "enter")  # typing replaces the last query
        await settle(pilot)
        assert hex_view.cursor == 0x80
        await ask(pilot, "slash", "text:no such text anywhere")
        await settle(pilot)
        assert "no match" in status_text(app)

    drive(SAMPLE, body)


def test_search_stops_at_the_cap_and_goes_on(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(search_module, "CAP", 5)  # imported by the app when a search starts

    async def body(pilot: Pilot[Any]) -> None:
        app = pilot.app
        assert isinstance(app, DcmViewApp)
        await ask(pilot, "slash", "00 00")
        await settle(pilot)
        assert app.search is not None and len(app.search.matches) == 5
        assert "match 1 of 5+" in status_text(app)
        for _ in range(5):
            await pilot.press("f3")
            await settle(pilot)
        assert app.search.current == 5 and len(app.search.matches) == 10
        assert app.query_one(HexView).cursor == app.search.matches[5][0]

    drive(SAMPLE, body)


def test_search_runs_in_a_worker_and_can_be_stopped(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A long search (a 16 MB file in 1 KiB chunks, each read made slow as from a slow disk)
    leaves the keys working; Escape stops it."""
    import time

    path = tmp_path / "zeros.dcm"
    with open(path, "wb") as f:
        f.truncate(16 << 20)
    monkeypatch.setattr(search_module, "CHUNK", 1024)
    find_all = ByteScan._find_all

    def slow(self: ByteScan, *args: Any) -> list[int]:
        time.sleep(0.001)
        return find_all(self, *args)

    monkeypatch.setattr(ByteScan, "_find_all", slow)

    async def body(pilot: Pilot[Any]) -> None:
        app = pilot.app
        assert isinstance(app, DcmViewApp)
        hex_view = app.query_one(HexView)
        start = hex_view.cursor
        await ask(pilot, "slash", "not in a file of zeros")
        await pilot.pause()
        await pilot.press("right", "right")
        await pilot.pause()
        assert app.search is not None and app.search.running
        assert hex_view.cursor == start + 2  # keys are handled while the scan goes on
        assert "searching" in status_text(app)
        await pilot.press("escape")
        await pilot.pause()
        assert not app.search.running and not app.search.scan.done
        await app.workers.wait_for_complete()

    drive(str(path), body, size=(80, 24))


def test_bookmarks() -> None:
    async def body(pilot: Pilot[Any]) -> None:
        app = pilot.app
        assert isinstance(app, DcmViewApp)
        hex_view = app.query_one(HexView)
        await ask(pilot, "g", "0x5a2")
        await pilot.press("b")
        await ask(pilot, "g", "0x884")
        await pilot.press("b")
        await ask(pilot, "g", "0x100")
        await pilot.pause()
        assert sorted(app.bookmarks) == [(Stream.FILE, 0x5A2), (Stream.FILE, 0x884)]
        assert app.bookmarks[(Stream.FILE, 0x5A2)] == "(0010,0010) PatientName"
        # Shown in the offset column of their rows.
        assert hex_view._row(0x5A2 // hex_view.bytes_per_row).text[8] == "◆"
        assert hex_view._row(0x100 // hex_view.bytes_per_row).text[8] == " "
        await pilot.press("apostrophe")
        await pilot.pause()
        assert hex_view.cursor == 0x5A2
        await pilot.press("apostrophe")
        await pilot.pause()
        assert hex_view.cursor == 0x884
        await pilot.press("apostrophe")  # wraps around
        await pilot.pause()
        assert hex_view.cursor == 0x5A2
        await pilot.press("b")  # removes the one at the cursor
        await pilot.pause()
        assert list(app.bookmarks) == [(Stream.FILE, 0x884)]
        await ask(pilot, "g", "0x10")
        await pilot.press("b", "B")
        await pilot.pause()
        assert isinstance(app.screen, BookmarksScreen)
        await pilot.press("d")  # deletes the highlighted (first) one
        await pilot.pause()
        assert list(app.bookmarks) == [(Stream.FILE, 0x884)]
        await pilot.press("enter")
        await pilot.pause()
        assert not isinstance(app.screen, BookmarksScreen)
        assert hex_view.cursor == 0x884

    drive(SAMPLE, body)


def test_jump_to_pointers_and_back() -> None:
    async def bot(pilot: Pilot[Any]) -> None:
        app = pilot.app
        assert isinstance(app, DcmViewApp) and app.structure is not None
        hex_view = app.query_one(HexView)
        # The second entry of the Basic Offset Table (value at 0x386): 316 bytes from the
        # first fragment item after the table (0x392).
        await ask(pilot, "g", "0x38a")
        await pilot.press("j")
        await pilot.pause()
        assert hex_view.cursor == 0x392 + 316
        assert app.structure.index.node(tree_node(app)).kind == Kind.FRAGMENT
        await pilot.press("J")
        await pilot.pause()
        assert hex_view.cursor == 0x38A
        assert "Points to 0x4ce" in screen_text(app)
        # Enter in the inspector follows it too.
        app.query_one(Inspector).focus()
        await pilot.press("enter")
        await pilot.pause()
        assert hex_view.cursor == 0x4CE
        await pilot.press("backspace", "backspace")  # and the go-to-offset before it
        await pilot.pause()
        assert hex_view.cursor == 0
        await pilot.press("alt+right")
        await pilot.pause()
        assert hex_view.cursor == 0x38A

    drive(str(ROOT / "fixtures" / "encapsulated_jpeg.dcm"), bot)

    async def dicomdir(pilot: Pilot[Any]) -> None:
        app = pilot.app
        assert isinstance(app, DcmViewApp) and app.structure is not None
        hex_view = app.query_one(HexView)
        # (0004,1200): counted from the first byte of the file, to the record's item tag.
        await ask(pilot, "t", "0004,1200")
        await pilot.press("j")
        await pilot.pause()
        assert hex_view.cursor == 382
        assert app.structure.index.node(tree_node(app)).kind == Kind.ITEM
        # The first record's (0004,1400) points 2 bytes into the next record: still jumps.
        await ask(pilot, "t", "0004,1400")
        await pilot.press("j")
        await pilot.pause()
        assert hex_view.cursor == 938
        await pilot.press("J", "J")
        await pilot.pause()
        assert hex_view.cursor == 382
        await ask(pilot, "t", "PatientName")
        await pilot.press("j")  # no pointer: stays
        await pilot.pause()
        assert app.structure.index.node(tree_node(app)).tag == 0x00100010

    drive(str(RULES / "DICOMDIR_OFFSET_INVALID.dcm"), dicomdir)

    async def eot(pilot: Pilot[Any]) -> None:
        app = pilot.app
        assert isinstance(app, DcmViewApp) and app.structure is not None
        await ask(pilot, "t", "ExtendedOffsetTable")
        await pilot.press("j")
        await pilot.pause()
        node = tree_node(app)
        assert app.structure.index.node(node).kind == Kind.FRAGMENT
        assert app.query_one(HexView).cursor == 650

    drive(str(RULES / "EXTENDED_OFFSET_TABLE_INVALID--bot-not-empty.dcm"), eot)


def test_expand_and_collapse_keys() -> None:
    async def body(pilot: Pilot[Any]) -> None:
        app = pilot.app
        assert isinstance(app, DcmViewApp) and app.structure is not None
        tree = app.query_one(ElementTree)
        structure = app.structure
        sq = node_with_tag(structure, 0x00081032)  # ProcedureCodeSequence, nested twice
        await ask(pilot, "t", "ProcedureCodeSequence")
        await pilot.press("e")
        await pilot.pause()
        inner = node_with_tag(structure, 0x00080121)  # EquivalentCodeSequence, in its item
        assert tree._tree_node_of[sq].is_expanded
        assert tree._tree_node_of[inner].is_expanded
        assert all(k.is_expanded for k in tree._tree_node_of[inner].children if k.allow_expand)
        await pilot.press("C")
        await pilot.pause()
        assert all(not top.is_expanded for top in tree.root.children)
        # Collapse to the path: only the groups and sequences down to the element stay open.
        await ask(pilot, "g", "0x350")
        await pilot.press("c")
        await pilot.pause()
        node = tree_node(app)
        path = set(structure.ancestors(node))
        opened = {n for n, t in tree._tree_node_of.items() if t.is_expanded}
        assert opened == path
        data_set = next(t for t in tree.root.children if str(t.label).startswith("Data Set"))
        file_meta = next(t for t in tree.root.children if str(t.label).startswith("File Meta"))
        assert data_set.is_expanded and not file_meta.is_expanded

    drive(SAMPLE, body)


def _image(
    tmp_path: Path,
    pixels: bytes,
    *,
    rows: int | None = 2,
    columns: int = 4,
    bits: int = 8,
    stored: int | None = None,
    signed: int = 0,
    photometric: str = "MONOCHROME2",
    samples: int = 1,
    planar: int | None = None,
    frames: int | None = None,
    extra: tuple[E, ...] = (),
) -> Structure:
    elements = [
        E("SOPClassUID", "UI", "1.2.840.10008.5.1.4.1.1.7"),
        E("SOPInstanceUID", "UI", "1.2.826.0.1.3680043.10.1455.9.7"),
        E("SamplesPerPixel", "US", samples),
        E("PhotometricInterpretation", "CS", photometric),
    ]
    if planar is not None:
        elements.append(E("PlanarConfiguration", "US", planar))
    if frames is not None:
        elements.append(E("NumberOfFrames", "IS", str(frames)))
    if rows is not None:
        elements.append(E("Rows", "US", rows))
    elements += [
        E("Columns", "US", columns),
        E("BitsAllocated", "US", bits),
        E("BitsStored", "US", stored or bits),
        E("HighBit", "US", (stored or bits) - 1),
        E("PixelRepresentation", "US", signed),
        *extra,
        E("PixelData", "OB" if bits <= 8 else "OW", pixels),
    ]
    elements.sort(key=lambda e: e.tag_int)
    path = tmp_path / "img.dcm"
    path.write_bytes(part10(elements))
    return Structure(index_bytes(path.read_bytes()))


def test_pixel_frames_are_decoded_from_the_header(tmp_path: Path) -> None:
    import numpy as np

    def frame(structure: Structure, k: int = 0) -> Any:
        info = image_info(structure, pick_pixel_node(structure, -1) or 0)
        return info, frame_pixels(structure, info, k)

    info, img = frame(_image(tmp_path, bytes(range(8))))
    assert info.problems == [] and img.tolist() == [[0, 1, 2, 3], [4, 5, 6, 7]]
    grey = to_levels(img, info, info.windows[-1])  # the data range
    assert grey is not None and grey[0, 0] == 0 and grey[1, 3] == 255
    # MONOCHROME1: the lowest value is white.
    info, img = frame(_image(tmp_path, bytes(range(8)), photometric="MONOCHROME1"))
    mono1 = to_levels(img, info, info.windows[-1])
    assert mono1 is not None and mono1[0, 0] == 255
    # 12 bits stored in 16, signed: -1 and -2048 come out as such; rescale applied.
    raw = np.array([0x0FFF, 0x0800, 0x07FF, 0x0001] * 2, dtype="<u2").tobytes()
    rescale = (E("RescaleIntercept", "DS", "-10"), E("RescaleSlope", "DS", "2"))
    info, img = frame(_image(tmp_path, raw, bits=16, stored=12, signed=1, extra=rescale))
    assert img[0].tolist() == [-12.0, -4106.0, 4084.0, -8.0]
    # Window Center/Width (PS3.3 C.11.2.1.2.1): below the window black, above white.
    window = (E("WindowCenter", "DS", "100"), E("WindowWidth", "DS", "11"))
    info, img = frame(_image(tmp_path, bytes([0, 95, 100, 106, 255, 0, 0, 0]), extra=window))
    levels = to_levels(img, info, info.windows[0])
    # ((x - (c - 0.5)) / (w - 1) + 0.5) * 255: 95 -> 12.75, 100 -> 140.25.
    assert (
        levels is not None
        and levels[0].tolist() == [0, 12, 140, 255]
        and info.windows[0].center == 100
    )
    # RGB, both planar configurations, the same picture.
    pixels = [(255, 0, 0), (0, 255, 0), (0, 0, 255), (9, 9, 9)] * 2
    by_pixel = bytes(v for p in pixels for v in p)
    by_plane = bytes(p[k] for k in range(3) for p in pixels)
    _, a = frame(_image(tmp_path, by_pixel, photometric="RGB", samples=3, planar=0))
    _, b = frame(_image(tmp_path, by_plane, photometric="RGB", samples=3, planar=1))
    assert a.shape == (2, 4, 3) and a.tolist() == b.tolist() and a[0, 1].tolist() == [0, 255, 0]
    # YBR_FULL_422 (PS3.3 C.7.6.3.1.2): Y1 Y2 Cb Cr per pixel pair; neutral chroma is grey.
    ybr = bytes([10, 20, 128, 128, 30, 40, 128, 128]) * 2  # 2 rows x 4 pixels
    info, img = frame(_image(tmp_path, ybr, photometric="YBR_FULL_422", samples=3, planar=0))
    assert info.problems == [] and img.shape == (2, 4, 3)
    assert [round(v) for v in img[0, :, 0]] == [10, 20, 30, 40]
    assert np.allclose(img[..., 0], img[..., 1]) and np.allclose(img[..., 0], img[..., 2])
    # Frame 2 of 3, and 1-bit pixels packed least significant bit first.
    info, img = frame(_image(tmp_path, bytes(range(24)), frames=3), 1)
    assert img[0].tolist() == [8, 9, 10, 11]
    info, img = frame(_image(tmp_path, bytes([0b00000101, 0]), bits=1))
    assert img.tolist() == [[1, 0, 1, 0], [0, 0, 0, 0]]
    # Broken headers: said, never raised.
    info, img = frame(_image(tmp_path, bytes(8), rows=None))
    assert img is None and any("Rows" in p for p in info.problems)
    info, img = frame(_image(tmp_path, bytes(6), frames=1))
    assert any("6 bytes, 8 expected" in p for p in info.problems)
    assert np.isnan(img[1, 3]) and img[1, 1] == 0
    # Downscaling averages areas and keeps the aspect ratio.
    big = np.arange(100 * 200, dtype=np.uint8).reshape(100, 200)
    assert fit(big, 50, 100).shape == (25, 50)
    assert fit(np.full((4, 4), 7, dtype=np.uint8), 100, 100).shape == (32, 32)


def test_pixel_preview_screen(tmp_path: Path) -> None:
    async def sample(pilot: Pilot[Any]) -> None:
        app = pilot.app
        await pilot.press("p")
        await pilot.pause()
        screen = app.screen
        assert isinstance(screen, PixelScreen)
        view = screen.query_one(PixelView)
        # 256 x 256 pixels, scaled down to the view and kept square.
        assert view.levels is not None
        h, w = view.levels.shape
        assert h == w and 60 <= w <= view.size.width and h <= 2 * view.size.height
        text = screen_text(app)
        assert "window 1: C 40 W 400" in text and "rescale x1 -1024" in text
        await pilot.press("w", "w")
        await pilot.pause()
        assert "data range" in screen_text(app)
        await pilot.press("escape")
        await pilot.pause()
        assert not isinstance(app.screen, PixelScreen)

    drive(SAMPLE, sample)

    async def encapsulated(pilot: Pilot[Any]) -> None:
        await pilot.press("p")
        await pilot.pause()
        text = screen_text(pilot.app)
        assert "Encapsulated Pixel Data: JPEG Baseline" in text
        assert "frames from the Basic Offset Table" in text
        assert "0x5a8" in text  # the fourth fragment, first of frame 3

    drive(str(ROOT / "fixtures" / "encapsulated_jpeg.dcm"), encapsulated)

    async def no_table(pilot: Pilot[Any]) -> None:
        # BOT_MISSING: the viewer takes the first item for what the validator does, a fragment
        # (PS3.5 A.4): named so in the tree, no offsets to jump by, frame 1 in the table.
        app = pilot.app
        assert isinstance(app, DcmViewApp) and app.structure is not None
        await ask(pilot, "g", "0x240")  # inside the first item's value: FF D8 FF ...
        await pilot.pause()
        assert app.structure.index.node(tree_node(app)).kind == Kind.FRAGMENT
        label = app.element_tree.cursor_node
        assert label is not None and str(label.label).endswith("Fragment 1  40 bytes")
        hex_view = app.query_one(HexView)
        await pilot.press("j")
        await pilot.pause()
        assert hex_view.cursor == 0x240
        await pilot.press("p")
        await pilot.pause()
        text = screen_text(app)
        assert "no Basic Offset Table: the" in text and "one fragment per frame" in text

    drive(str(RULES / "BOT_MISSING.dcm"), no_table)

    # Three 2x4 frames, the last one cut short by the end of the value.
    _image(tmp_path, bytes(range(20)), frames=3)

    async def frames(pilot: Pilot[Any]) -> None:
        app = pilot.app
        await pilot.press("p", "right", "right", "right")
        await pilot.pause()
        screen = app.screen
        assert isinstance(screen, PixelScreen) and screen.frame == 2
        assert "3 frame(s) present, the last one cut" in screen_text(app)
        await pilot.press("home")
        await pilot.pause()
        assert screen.frame == 0

    drive(str(tmp_path / "img.dcm"), frames)

    async def no_rows(pilot: Pilot[Any]) -> None:
        await pilot.press("p")
        await pilot.pause()
        assert "Rows (0028,0010) is missing" in screen_text(pilot.app)

    _image(tmp_path, bytes(8), rows=None)
    drive(str(tmp_path / "img.dcm"), no_rows)


def test_the_mask_follows_the_confidentiality_profile() -> None:
    """What the mask hides is what PS3.15 Table E.1-1 (specs/deid_profile.tsv) says
    identifies, as ``dcmstruct phi`` lists it, but for UIDs (shown unless asked for)."""
    from dcmstruct.privacy import classify

    structure = Structure(index_bytes(Path(SAMPLE).read_bytes()))
    hidden = masked_nodes(structure.index)
    c = structure.index.columns
    names = {structure.index.node(i).keyword for i in range(len(c)) if hidden[i]}
    assert {"PatientName", "PatientID", "PatientBirthDate", "InstitutionName"} <= names
    # Leaks of the hand-typed list this replaced: instance creation date and time.
    assert {"InstanceCreationDate", "InstanceCreationTime"} <= names
    assert "StudyInstanceUID" not in names and "Modality" not in names
    # Private elements are hidden, creators too (private attributes, Table E.1-1); so is all
    # inside a hidden sequence.
    private = node_with_tag(structure, 0x00291001)
    creator = node_with_tag(structure, 0x00290010)
    assert hidden[private] and hidden[creator]
    inner = [i for i in structure.children(node_with_tag(structure, 0x00400275))]
    assert inner and all(hidden[i] for i in inner)
    # Every element phi lists is hidden, but UIDs and pixel data (their own switches).
    listed = {m.node for m in classify(structure.index) if m.node >= 0 and m.tag is not None}
    shown = {n for n in listed if not hidden[n]}
    assert {structure.index.node(n).vr for n in shown} <= {"UI", "OW", "OB"}


def test_the_mask_hides_the_preamble_and_a_deflated_stream() -> None:
    from dcmstruct.builder import DEFLATED_EXPLICIT_VR_LITTLE_ENDIAN
    from dcmstruct.privacy import masked_ranges

    ds = [E("SOPClassUID", "UI", "1.2"), E("PatientName", "PN", "DOE^JANE")]
    data = part10(ds, preamble=b"SITE-NAME".ljust(128, b"\0"))
    index = index_bytes(data)
    ranges = masked_ranges(index, masked_nodes(index))[0]
    assert any(a == 0 and b >= 128 for a, b in ranges)
    deflated = part10(ds, transfer_syntax=DEFLATED_EXPLICIT_VR_LITTLE_ENDIAN)
    index = index_bytes(deflated)
    start = index.dataset_offset
    file_ranges = masked_ranges(index, masked_nodes(index))[0]
    assert start is not None and any(a <= start and b == len(deflated) for a, b in file_ranges)


def test_mask_keeps_identifying_values_off_the_screen() -> None:
    structure = Structure(index_bytes(Path(SAMPLE).read_bytes()))
    structure.set_masking(True)
    c = structure.index.columns
    secrets: set[str] = set()
    public: set[str] = set()
    for i in range(len(c)):
        if int(c.kind[i]) == Kind.ELEMENT:
            view = structure.index.value(i)
            if view is not None:
                text = bytes(view).decode("latin-1").strip(" \0")
                values = {v for v in text.split("\\") if len(v) >= 4 and v.isprintable()}
                (secrets if structure.hidden(i) else public).update(values)
    # A value that an unmasked element holds too (a code used in two sequences) may show.
    secrets -= public
    assert "DCMSTRUCT^SAMPLE" in secrets and "SAMPLE-0001" in secrets

    def leaks(app: DcmViewApp) -> set[str]:
        text = screen_text(app)
        return {s for s in secrets if s in text}

    async def body(pilot: Pilot[Any]) -> None:
        app = pilot.app
        assert isinstance(app, DcmViewApp)
        assert "MASKED" in status_text(app)
        # On the element: hex, ASCII, tree label, inspector.
        for where in ("PatientName", "InstitutionName", "PatientBirthDate"):
            await pilot.press("t", *where, "enter")
            await pilot.pause()
            assert not leaks(app), where
            assert "<masked>" in screen_text(app)
        hex_view = app.query_one(HexView)
        await pilot.press("right", "right", "right", "right", "right", "right", "right", "right")
        await pilot.pause()
        assert "**" in hex_view._row(hex_view.cursor // hex_view.bytes_per_row).text
        assert not leaks(app)
        # Find does not reveal them: the matches in masked values are dropped, and not even
        # counted on screen (a count would confirm a guessed value).
        await ask(pilot, "slash", "DCMSTRUCT^SAMPLE")
        await settle(pilot)
        assert "no match" in status_text(app) and "masked values" not in status_text(app)
        await ask(pilot, "slash", "value:SAMPLE-0001")
        await settle(pilot)
        assert app.search is not None and not app.search.matches and app.search.hidden == 1
        assert not leaks(app)
        # m shows them again (which is how this test knows it would see them).
        await pilot.press("m")
        await pilot.pause()
        await ask(pilot, "t", "PatientName")
        await pilot.pause()
        assert "DCMSTRUCT^SAMPLE" in leaks(app)
        assert "MASKED" not in status_text(app)
        await pilot.press("m")
        await pilot.pause()
        app.clear_notifications()
        await pilot.pause()
        assert not leaks(app)

    drive(SAMPLE, body, mask=True)


def test_masked_pixels_need_asking_twice_unless_burned_in_annotation_is_no(
    tmp_path: Path,
) -> None:
    """Under the mask the preview may show a name burned into the pixels (PS3.15 E.3.1): with
    Burned In Annotation (0028,0301) absent or YES, p says so and only a second p shows it;
    with NO, p shows it at once. The pixel bytes in hex are masked likewise."""

    async def absent(pilot: Pilot[Any]) -> None:
        app = pilot.app
        await pilot.press("p")
        await pilot.pause()
        assert not isinstance(app.screen, PixelScreen)
        said = " ".join(str(n.message) for n in app._notifications)
        assert "Burned In Annotation (0028,0301) is absent" in said and "press p again" in said
        await pilot.press("p")
        await pilot.pause()
        assert isinstance(app.screen, PixelScreen)

    _image(tmp_path, bytes(range(8)))
    drive(str(tmp_path / "img.dcm"), absent, mask=True)
    structure = _image(tmp_path, bytes(range(8)))
    structure.set_masking(True)
    pixels = pick_pixel_node(structure, -1)
    assert pixels is not None and structure.hidden(pixels)

    async def no(pilot: Pilot[Any]) -> None:
        await pilot.press("p")
        await pilot.pause()
        assert isinstance(pilot.app.screen, PixelScreen)

    _image(tmp_path, bytes(range(8)), extra=(E("BurnedInAnnotation", "CS", "NO"),))
    drive(str(tmp_path / "img.dcm"), no, mask=True)


def test_the_mask_shows_no_marker_anywhere(tmp_path: Path) -> None:
    """The generated file with a marker in each identifying place (tests/test_phi.py): with the
    mask on and the cursor on each marker's first byte, no marker is on screen (hex, ASCII,
    tree, inspector, findings)."""
    from tests.test_phi import MARKERS, _file

    data = _file()
    path = tmp_path / "markers.dcm"
    path.write_bytes(data)
    markers = [*MARKERS.values(), "MRKTRAILJJJ", "MRK CREATOR"]

    async def body(pilot: Pilot[Any]) -> None:
        app = pilot.app
        assert isinstance(app, DcmViewApp)
        for marker in markers:
            at = data.find(marker.encode())
            await ask(pilot, "g", hex(at))
            await settle(pilot)
            text = screen_text(app)
            assert not [m for m in markers if m in text], marker
            assert not [m[:8] for m in markers if m[:8] in text], marker

    drive(str(path), body, mask=True)


def test_uids_are_masked_under_the_option(monkeypatch: pytest.MonkeyPatch) -> None:
    structure = Structure(index_bytes(Path(SAMPLE).read_bytes()))
    uid = node_with_tag(structure, 0x0020000D)  # Study Instance UID
    structure.set_masking(True)
    assert not structure.hidden(uid)  # by default one follows UIDs through a file
    structure = Structure(index_bytes(Path(SAMPLE).read_bytes()))
    structure.mask_uids = True
    structure.set_masking(True)
    assert structure.hidden(uid)
    seen: dict[str, object] = {}

    def fake_run(self: DcmViewApp) -> int:
        seen.update(mask=self.mask, uids=self.mask_uids)
        return 0

    monkeypatch.setattr(DcmViewApp, "run", fake_run)
    assert cli.main(["view", "--mask-uids", SAMPLE]) == 0
    assert seen == {"mask": True, "uids": True}


def test_run_passes_mask_on(monkeypatch: pytest.MonkeyPatch) -> None:
    seen: dict[str, object] = {}

    def fake_run(self: DcmViewApp) -> int:
        seen["mask"] = self.mask
        return 0

    monkeypatch.setattr(DcmViewApp, "run", fake_run)
    assert app_module.run(SAMPLE, mask=True) == 0
    assert seen["mask"] is True


def test_snapshot_pixel_preview(snap: Callable[..., bool]) -> None:
    """The sample's frame, windowed with its first Window Center/Width (soft tissue)."""
    assert snap(DcmViewApp(SAMPLE, validate=False), press=("p",))


def test_snapshot_masked(snap: Callable[..., bool]) -> None:
    """The sample with --mask, the cursor on PatientName: ** in hex and ASCII, <masked> in
    the tree and the inspector, MASKED in the status line."""
    app = DcmViewApp(SAMPLE, validate=False, mask=True)
    assert snap(app, press=("t", *"PatientName", "enter"))


def test_ybr_full_422_preview_matches_pydicom() -> None:
    # pydicom (a test dependency only) converts native YBR_FULL_422 to RGB in pixel_array.
    import numpy as np

    pydicom = pytest.importorskip("pydicom")
    from pydicom.data import get_testdata_file

    path = get_testdata_file("SC_ybr_full_422_uncompressed.dcm")
    if path is None:
        pytest.skip("pydicom's test file is not installed")
    expected = pydicom.dcmread(path).pixel_array.astype(np.float64)
    with index_file(path) as index:
        structure = Structure(index)
        info = image_info(structure, pick_pixel_node(structure, -1) or 0)
        img = frame_pixels(structure, info, 0)
    assert img is not None and img.shape == expected.shape
    assert np.abs(img - expected).max() <= 2  # rounding differs by a level at most


def test_palette_color_preview_matches_pydicom() -> None:
    import numpy as np

    pydicom = pytest.importorskip("pydicom")
    from pydicom.data import get_testdata_file
    from pydicom.pixels import apply_color_lut  # type: ignore[attr-defined]

    path = get_testdata_file("OT-PAL-8-face.dcm")  # a bare data set: no meta group
    if path is None:
        pytest.skip("pydicom's test file is not installed")
    ds = pydicom.dcmread(path, force=True)
    ds.file_meta = pydicom.dataset.FileMetaDataset()
    ds.file_meta.TransferSyntaxUID = pydicom.uid.ImplicitVRLittleEndian
    expected = (apply_color_lut(ds.pixel_array, ds) / 257).round()  # 16-bit tables to 8 bits
    with index_file(path) as index:
        structure = Structure(index)
        info = image_info(structure, pick_pixel_node(structure, -1) or 0)
        img = frame_pixels(structure, info, 0)
        assert img is not None
        levels = to_levels(img, info, info.windows[-1])
    assert info.problems == [] and levels is not None and levels.shape == expected.shape
    assert np.abs(levels.astype(int) - expected.astype(int)).max() <= 1


def test_mask_hides_unparsed_bytes_too() -> None:
    from dcmstruct.privacy import masked_nodes, masked_ranges

    ds = [E("SOPClassUID", "UI", "1.2"), E("Modality", "CS", "CT")]
    clean = part10(ds)
    data = clean + b"DOE^JOHN" * 3  # a name in bytes that form no element
    index = index_bytes(data)
    ranges = masked_ranges(index, masked_nodes(index))[0]
    assert any(a <= len(clean) and b == len(data) for a, b in ranges), ranges


def test_mask_reaches_everything_inside_a_masked_sequence() -> None:
    from dcmstruct.privacy import masked_nodes, masked_ranges

    # (0010,1002) Other Patient IDs Sequence is identifying: all that its items hold is too,
    # including elements that are not identifying by themselves.
    inner = Item([E("PatientID", "LO", "SECRETCODE"), E("IssuerOfPatientID", "LO", "X")])
    ds = [E("SOPClassUID", "UI", "1.2"), E("OtherPatientIDsSequence", "SQ", Seq([inner]))]
    data = part10(ds)
    index = index_bytes(data)
    hidden = masked_nodes(index)
    secret = data.index(b"SECRETCODE")
    assert all(
        hidden[n.index]
        for n in index
        if n.tag is not None and n.offset > secret - 16 and n.depth == 1
    )
    ranges = masked_ranges(index, hidden)[0]
    assert any(a <= secret and secret + 10 <= b for a, b in ranges)


def test_mask_hides_branches_past_the_nesting_limit() -> None:
    from dcmstruct.index import index_source
    from dcmstruct.privacy import masked_nodes, masked_ranges
    from dcmstruct.source import Source

    body = Writer(EXPLICIT_LE).element(E("PatientName", "PN", "DEEP^SECRET"))
    for _ in range(6):  # six levels of sequences, each with one undefined-length item
        body = Writer(EXPLICIT_LE).element(
            E("ReferencedImageSequence", "SQ", Seq([Item([Raw(body)], undefined=True)]))
        )
    data = part10([E("SOPClassUID", "UI", "1.2"), Raw(body)])
    index = index_source(Source.from_bytes(data), max_depth=3)
    assert any(f.code == "NESTING_TOO_DEEP" for f in index.faults)
    secret = data.index(b"DEEP^SECRET")
    ranges = masked_ranges(index, masked_nodes(index))[0]
    assert any(a <= secret and secret + 11 <= b for a, b in ranges)


def test_row_width_stays_on_screen() -> None:
    """Issue 11: ``w`` to 32 bytes at 80 columns pushed the ASCII column and the border off
    screen, and a resize kept it so. ``w`` now cycles through the widths that fit, and a
    chosen width comes back when the screen is wide enough again."""

    async def body(pilot: Pilot[Any]) -> None:
        app = pilot.app
        assert isinstance(app, DcmViewApp)
        hex_view = app.query_one(HexView)
        seen = set()
        for _ in range(4):
            await pilot.press("w")
            await pilot.pause()
            seen.add(hex_view.bytes_per_row)
            assert hex_view.region.right <= app.size.width, hex_view.bytes_per_row
        assert seen == {8}  # beside the structure pane, 16 bytes a row need more than 80
        await pilot.resize_terminal(200, 40)
        await pilot.pause()
        while hex_view.bytes_per_row != 32:
            await pilot.press("w")
            await pilot.pause()
        await pilot.resize_terminal(120, 40)
        await pilot.pause()
        assert hex_view.bytes_per_row == 16 and hex_view.region.right <= 120
        await pilot.resize_terminal(200, 40)
        await pilot.pause()
        assert hex_view.bytes_per_row == 32  # the choice comes back

    drive(SAMPLE, body, size=(80, 40))


def test_the_status_line_shows_the_structure_path() -> None:
    """Issue 11: a breadcrumb for the cursor, as validate writes paths (item indices)."""

    async def body(pilot: Pilot[Any]) -> None:
        app = pilot.app
        assert isinstance(app, DcmViewApp)
        # CodeValue inside EquivalentCodeSequence, inside ProcedureCodeSequence (0x34e).
        await pilot.press("g", *"0x34e", "enter")
        await pilot.pause()
        assert "0008,1032[0]/0008,0121[0]/0008,0100 CodeValue SH" in status_text(app)
        await pilot.press("g", *"0x33e", "enter")  # the item itself
        await pilot.pause()
        assert "0008,1032[0]/0008,0121[0] Item" in status_text(app)
        await pilot.press("t", *"PatientName", "enter")  # top level: as before
        await pilot.pause()
        assert "(0010,0010) PatientName PN" in status_text(app)

    drive(SAMPLE, body, size=(160, 40))


def test_keys_typed_in_one_go_after_a_dialog_key_reach_it() -> None:
    """Issue 11: ``g1000`` typed in one go (as a terminal delivers a fast typist's or a paste's
    keys: all at once) lost the keys after ``g``. Posted here without waiting between keys.
    Letters that are bindings of the main screen (t, f, g) go into the dialog's input."""

    def type_at_once(app: DcmViewApp, keys: str) -> None:
        for ch in keys:
            app.post_message(events.Key("slash" if ch == "/" else ch, ch))
        app.post_message(events.Key("enter", None))

    async def body(pilot: Pilot[Any]) -> None:
        app = pilot.app
        assert isinstance(app, DcmViewApp)
        hex_view = app.query_one(HexView)
        type_at_once(app, "g0x1000")
        await settle(pilot)
        assert not isinstance(app.screen, PromptScreen) and hex_view.cursor == 0x1000
        type_at_once(app, "tpatientname")
        await settle(pilot)
        assert hex_view.cursor == 0x5A2
        type_at_once(app, "/DCMSTRUCT_0_1")
        await settle(pilot)
        assert app.search is not None and app.search.matches
        assert hex_view.cursor == app.search.matches[0][0]

    drive(SAMPLE, body)
