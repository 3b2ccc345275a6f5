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
from textual.pilot import Pilot

from dcmstruct.builder import EXPLICIT_VR_LITTLE_ENDIAN, E, Item, Raw, Seq, Writer, part10
from dcmstruct.index import index_bytes
from dcmstruct.model import Kind, Stream
from dcmstruct.sample import sample_path
from dcmstruct.schema.element import EXPLICIT_LE
from dcmstruct.tui.app import DcmViewApp
from dcmstruct.tui.decode import cursor_numbers, decode
from dcmstruct.tui.screens.help import HelpScreen
from dcmstruct.tui.screens.prompt import PromptScreen, parse_offset, parse_tag
from dcmstruct.tui.structure import Part, Structure, next_position
from dcmstruct.tui.widgets import ElementTree, FindingsPanel, HexView, Inspector
from dcmstruct.tui.widgets.element_tree import GapEntry, NodeEntry

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


def drive(path: str, body: Body, size: tuple[int, int] = (120, 40)) -> DcmViewApp:
    app = DcmViewApp(path)

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
    rows = dict((name, (le, be)) for name, le, be in cursor_numbers(b"\x01\x02\x03\x04", 4, 0))
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


@pytest.fixture
def snap(snapshot: Any) -> Callable[..., bool]:
    """``snap_compare`` of pytest-textual-snapshot, with the files in tests/snapshots/test_tui/
    (pytest-textual-snapshot has no option for the directory)."""
    from pytest_textual_snapshot import SVGImageExtension  # type: ignore[import-untyped]
    from textual._doc import take_svg_screenshot

    class InSnapshotsDir(SVGImageExtension):  # type: ignore[misc]
        @classmethod
        def dirname(cls, *, test_location: Any) -> str:
            return str(Path(test_location.filepath).parent / "snapshots" / test_location.basename)

    assertion = snapshot.use_extension(InSnapshotsDir)

    def compare(
        app: DcmViewApp,
        press: tuple[str, ...] = (),
        terminal_size: tuple[int, int] = (120, 40),
    ) -> bool:
        async def run_before(pilot: Pilot[Any]) -> None:
            await settle(pilot)
            if press:
                await pilot.press(*press)
                await pilot.pause()
            app.clear_notifications()  # toasts time out: keep them out of the picture
            await pilot.pause()

        svg = take_svg_screenshot(app=app, terminal_size=terminal_size, run_before=run_before)
        return bool(assertion == svg)

    return compare


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
            # Bytes no node holds are drawn as unparsed.
            unparsed = hex_view.get_component_rich_style("hex--unparsed").bgcolor
            fault = hex_view.get_component_rich_style("hex--fault").bgcolor
            row = hex_view._row((len(content) - 1) // hex_view.bytes_per_row)
            colours = {seg.style.bgcolor for seg in row if seg.style is not None}
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
        assert any(span.style == tag for label in labels for span in label.spans)

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
