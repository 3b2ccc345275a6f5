"""The structure pane: preamble, prefix, file meta, data set, sequences, items, fragments.

The tree is filled lazily: a node's children are added when it is expanded, 100 at a time, the
rest stand behind a "… N more" entry. Revealing a node deep in a 100,000-item sequence loads
only the bucket of 100 that holds it (and the one per level above it), so the number of tree
nodes stays proportional to what was looked at, not to the file.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import ClassVar

import numpy as np
from rich.style import Style
from rich.text import Text
from textual.widgets import Tree
from textual.widgets.tree import TreeNode

from dcmstruct.model import Kind, Stream
from dcmstruct.safetext import safe_bytes, terminal_safe
from dcmstruct.schema.layout import format_tag
from dcmstruct.tui.messages import ElementChosen
from dcmstruct.tui.pixels import item_name
from dcmstruct.tui.structure import I64, Structure
from dcmstruct.values import short_value

BUCKET = 100
EXPAND_CAP = 2000  # tree nodes one "expand all" may add: more would stall the screen
META_GROUP = 0x0002


@dataclass(frozen=True, slots=True)
class NodeEntry:
    node: int


@dataclass(eq=False, slots=True)
class GroupEntry:
    """A heading that is no node of the index: "File Meta Information", "Data Set"."""

    name: str
    stream: Stream
    offset: int
    members: I64
    note: str = ""  # what the label says instead of the node count


@dataclass(eq=False, slots=True)
class GapEntry:
    """Children [first, stop) of the parent entry, not loaded yet."""

    first: int
    stop: int


Entry = NodeEntry | GroupEntry | GapEntry
TNode = TreeNode[Entry]


class ElementTree(Tree[Entry]):
    """The index as a tree; posts :class:`ElementChosen` when the user picks an entry."""

    COMPONENT_CLASSES: ClassVar[set[str]] = Tree.COMPONENT_CLASSES | {
        "element-tree--tag",
        "element-tree--keyword",
        "element-tree--vr",
        "element-tree--length",
        "element-tree--value",
        "element-tree--fault",
        "element-tree--holds-fault",
        "element-tree--group",
        "element-tree--gap",
        "element-tree--unparsed",
    }

    def __init__(self, *, id: str | None = None, classes: str | None = None) -> None:
        super().__init__("file", id=id, classes=classes)
        self.show_root = False
        self.guide_depth = 2
        self.structure: Structure | None = None
        self._groups: list[TNode] = []
        self._populated: set[int] = set()
        self._tree_node_of: dict[int, TNode] = {}
        self._label_styles: dict[str, Style] = {}

    # -- filling -------------------------------------------------------------------------

    def load(self, structure: Structure) -> None:
        self.clear()
        self.structure = structure
        self._groups = []
        self._populated = set()
        self._tree_node_of = {}
        index = structure.index
        c = index.columns
        top = structure.children(-1)
        file_top = top[c.stream[top] == Stream.FILE]
        kinds = c.kind[file_top]
        for node in file_top[(kinds == Kind.PREAMBLE) | (kinds == Kind.PREFIX)].tolist():
            self._add_entry(self.root, node, 0)
        rest = file_top[(kinds != Kind.PREAMBLE) & (kinds != Kind.PREFIX)]
        in_meta = (c.tag[rest] >> 16 == META_GROUP) & (c.kind[rest] == Kind.ELEMENT)
        if index.dataset_offset is not None:
            in_meta &= c.offset[rest] < index.dataset_offset
        meta, dataset = rest[in_meta], rest[~in_meta]
        if meta.size:
            self._add_group("File Meta Information", Stream.FILE, meta)
        if index.deflated:
            start = index.dataset_offset or 0
            note = f"{index.size - start:,} bytes from {start:#x}, inflated below"
            self._add_group("Deflated data set", Stream.FILE, dataset, offset=start, note=note)
            inflated = top[c.stream[top] == Stream.INFLATED]
            self._add_group("Inflated data set", Stream.INFLATED, inflated, offset=0)
        elif dataset.size or index.dataset_offset is not None:
            self._add_group("Data Set", Stream.FILE, dataset, offset=index.dataset_offset)
        for group in self._groups[-1:]:
            group.expand()
            self._populate(group)

    def _add_group(
        self,
        name: str,
        stream: Stream,
        members: I64,
        *,
        offset: int | None = None,
        note: str = "",
    ) -> None:
        assert self.structure is not None
        if offset is None:
            offset = int(self.structure.offset[members[0]]) if members.size else 0
        entry = GroupEntry(name, stream, offset, members, note)
        node = self.root.add(self._group_label(entry), entry, allow_expand=bool(members.size))
        self._groups.append(node)

    def _members(self, tnode: TNode) -> I64:
        assert self.structure is not None
        data = tnode.data
        if isinstance(data, GroupEntry):
            return data.members
        if isinstance(data, NodeEntry):
            return self.structure.children(data.node)
        return np.empty(0, dtype=np.int64)

    def _populate(self, tnode: TNode) -> None:
        if tnode.id in self._populated:
            return
        self._populated.add(tnode.id)
        members = self._members(tnode)
        stop = min(len(members), BUCKET)
        self._add_range(tnode, members, 0, stop)
        if stop < len(members):
            gap = GapEntry(stop, len(members))
            tnode.add_leaf(self._gap_label(gap), gap)

    def _add_range(
        self, parent: TNode, members: I64, first: int, stop: int, before: TNode | None = None
    ) -> None:
        for position, node in enumerate(members[first:stop].tolist(), first):
            self._add_entry(parent, node, position, before)

    def _add_entry(
        self, parent: TNode, node: int, position: int, before: TNode | None = None
    ) -> TNode:
        assert self.structure is not None
        label = self._label(node, position)
        expandable = self.structure.child_count(node) > 0
        tnode = parent.add(label, NodeEntry(node), before=before, allow_expand=expandable)
        self._tree_node_of[node] = tnode
        return tnode

    def _open_gap(self, gap_node: TNode, position: int) -> None:
        """Load the bucket of ``gap_node``'s range that holds child ``position``."""
        gap = gap_node.data
        parent = gap_node.parent
        assert isinstance(gap, GapEntry) and parent is not None
        members = self._members(parent)
        first = max(gap.first, position - position % BUCKET)
        stop = min(gap.stop, first + BUCKET)
        if first > gap.first:
            before = GapEntry(gap.first, first)
            parent.add_leaf(self._gap_label(before), before, before=gap_node)
        self._add_range(parent, members, first, stop, before=gap_node)
        if stop < gap.stop:
            gap.first = stop
            gap_node.set_label(self._gap_label(gap))
        else:
            gap_node.remove()

    def _child(self, parent: TNode, position: int) -> TNode:
        """The tree node of child ``position`` of ``parent``, loading its bucket if needed."""
        self._populate(parent)
        node = int(self._members(parent)[position])
        found = self._tree_node_of.get(node)
        if found is not None:
            return found
        for child in parent.children:
            data = child.data
            if isinstance(data, GapEntry) and data.first <= position < data.stop:
                self._open_gap(child, position)
                break
        return self._tree_node_of[node]

    # -- following the hex cursor --------------------------------------------------------

    def reveal(self, node: int, *, force: bool = False) -> None:
        """Show index node ``node`` (expanding its ancestors) and put the cursor on it."""
        if self.structure is None or node < 0:
            return
        tnode = self._tree_node_of.get(node)
        if tnode is None:
            tnode = self._load_path(node)
        if tnode is None:
            return
        parent = tnode.parent
        while parent is not None and not parent.is_root:
            if not parent.is_expanded:
                parent.expand()
            parent = parent.parent
        if self.cursor_node is tnode and not force:
            return
        # Tree numbers its lines lazily (adding or expanding drops the numbering); the cursor
        # is a line number, so have them numbered now.
        self._tree_lines  # noqa: B018
        self.move_cursor(tnode)
        self.call_after_refresh(self.scroll_to_node, tnode, False)

    def on_resize(self) -> None:
        # A resize keeps the scroll offset, not the cursor's line: a narrower or shorter
        # pane left the selected element off screen until the cursor moved again.
        tnode = self.cursor_node
        if tnode is not None:
            self.call_after_refresh(self.scroll_to_node, tnode, False)

    def _load_path(self, node: int) -> TNode | None:
        assert self.structure is not None
        chain = [*self.structure.ancestors(node), node]
        top = chain[0]
        tnode = self._tree_node_of.get(top)
        if tnode is None:
            for group in self._groups:
                members = self._members(group)
                p = int(np.searchsorted(members, top))
                if p < len(members) and int(members[p]) == top:
                    tnode = self._child(group, p)
                    break
        if tnode is None:
            return None
        for child in chain[1:]:
            members = self._members(tnode)
            p = int(np.searchsorted(members, child))
            if p >= len(members) or int(members[p]) != child:
                return None
            tnode = self._child(tnode, p)
        return tnode

    def refresh_labels(self) -> None:
        """Marks changed (the validator finished): redraw the labels that are loaded."""
        for node, tnode in self._tree_node_of.items():
            parent = tnode.parent
            members = self._members(parent) if parent is not None else None
            position = 0
            if members is not None and len(members):
                position = int(np.searchsorted(members, node))
            tnode.set_label(self._label(node, position))

    # -- expanding and collapsing ------------------------------------------------------------

    def expand_below(self, tnode: TNode | None = None, cap: int = EXPAND_CAP) -> int:
        """Expand ``tnode`` (the cursor's node) and everything under it, one bucket per level
        (the "… more" entries stay closed), adding at most ``cap`` tree nodes; the number
        added (``cap`` or more: there is more to expand)."""
        start = tnode or self.cursor_node
        if start is None or self.structure is None:
            return 0
        before = len(self._tree_nodes)
        queue = [start]
        while queue and len(self._tree_nodes) - before < cap:
            node = queue.pop(0)
            if not node.allow_expand:
                continue
            self._populate(node)
            if not node.is_expanded:
                node.expand()
            queue.extend(node.children)
        return len(self._tree_nodes) - before

    def collapse_everything(self) -> None:
        """Collapse every node; the cursor goes to the top-level entry that held it."""
        cursor = self.cursor_node
        for top in self.root.children:
            top.collapse_all()
        while cursor is not None and cursor.parent is not None and not cursor.parent.is_root:
            cursor = cursor.parent
        if cursor is not None:
            self._tree_lines  # noqa: B018 - number the lines before moving the cursor
            self.move_cursor(cursor)

    def collapse_to(self, node: int) -> None:
        """Collapse everything but the path to index node ``node`` (the selected element)."""
        for top in self.root.children:
            top.collapse_all()
        if node >= 0:
            tnode = self._tree_node_of.get(node)
            if tnode is not None and tnode.allow_expand:
                tnode.collapse()
            self.reveal(node, force=True)

    # -- events ---------------------------------------------------------------------------

    def on_tree_node_expanded(self, event: Tree.NodeExpanded[Entry]) -> None:
        self._populate(event.node)

    def on_tree_node_highlighted(self, event: Tree.NodeHighlighted[Entry]) -> None:
        # Arrowing through the tree follows along in the hex; the app moving the tree's
        # cursor (to follow the hex cursor) happens while another pane has the focus.
        event.stop()
        if self.has_focus:
            self._chosen(event.node, explicit=False)

    def on_tree_node_selected(self, event: Tree.NodeSelected[Entry]) -> None:
        event.stop()
        data = event.node.data
        if isinstance(data, GapEntry):
            self._open_gap(event.node, data.first)
            return
        self._chosen(event.node, explicit=True)

    def _chosen(self, tnode: TNode, *, explicit: bool) -> None:
        data = tnode.data
        if self.structure is None:
            return
        if isinstance(data, NodeEntry):
            c = self.structure.index.columns
            stream = Stream(int(c.stream[data.node]))
            offset = int(c.offset[data.node])
            self.post_message(ElementChosen(stream, offset, data.node, explicit))
        elif isinstance(data, GroupEntry):
            self.post_message(ElementChosen(data.stream, data.offset, -1, explicit))

    # -- labels -----------------------------------------------------------------------------

    def _style(self, name: str) -> Style:
        # Looked up once per theme, not per label: each lookup walks the stylesheet, and the
        # first screen's hundred labels spent 30 ms on it before the first hex row.
        style = self._label_styles.get(name)
        if style is None:
            # Partial: a label must not paint over the cursor line's background.
            style = self.get_component_rich_style(f"element-tree--{name}", partial=True)
            self._label_styles[name] = style
        return style

    def notify_style_update(self) -> None:
        super().notify_style_update()
        self._label_styles.clear()

    def _group_label(self, entry: GroupEntry) -> Text:
        text = Text(entry.name, style=self._style("group"))
        note = entry.note or f"{len(entry.members):,} nodes"
        text.append(f"  {note}", style=self._style("length"))
        return text

    def _gap_label(self, gap: GapEntry) -> Text:
        count = gap.stop - gap.first
        return Text(
            f"… {count:,} more (#{gap.first:,} to #{gap.stop - 1:,}); "
            f"Enter loads {min(count, BUCKET)}",
            style=self._style("gap"),
        )

    def _label(self, node: int, position: int) -> Text:
        assert self.structure is not None
        structure = self.structure
        index = structure.index
        n = index.node(node)
        text = Text()
        if node in structure.marked_nodes:
            text.append("✗ ", style=self._style("fault"))
        elif node in structure.nodes_holding_marks:
            text.append("• ", style=self._style("holds-fault"))
        size = n.end - n.offset
        length = "undefined" if n.length is None and n.value_offset is not None else f"{n.length}"
        if n.kind == Kind.PREAMBLE:
            text.append("Preamble", style=self._style("group"))
            text.append(f"  {size} bytes", style=self._style("length"))
        elif n.kind == Kind.PREFIX:
            text.append("Prefix", style=self._style("group"))
            raw = structure.node_bytes(node, 16)
            text.append(f"  '{safe_bytes(raw)}'", style=self._style("value"))
        elif n.kind == Kind.TRAILING:
            text.append(f"Unparsed bytes  {size:,}", style=self._style("unparsed"))
        elif n.kind == Kind.ELEMENT:
            assert n.tag is not None
            text.append(f"({format_tag(n.tag)})", style=self._style("tag"))
            text.append(f" {n.keyword or _unnamed(n.tag)}", style=self._style("keyword"))
            text.append(f" {terminal_safe(n.vr or '--')}", style=self._style("vr"))
            text.append(f" {length}", style=self._style("length"))
            value = "<masked>" if structure.hidden(node) else _preview(structure, node)
            if value:
                text.append(f"  {terminal_safe(value)}", style=self._style("value"))
        elif n.kind in (Kind.ITEM, Kind.FRAGMENT):
            if n.kind == Kind.ITEM:
                name = f"Item {position}"
            else:
                name = item_name(structure, node, position)
            text.append(name, style=self._style("tag"))
            size_text = "undefined length" if length == "undefined" else f"{length} bytes"
            text.append(f"  {size_text}", style=self._style("length"))
        elif n.kind == Kind.ITEM_DELIMITER:
            text.append("Item Delimitation Item", style=self._style("vr"))
        else:
            text.append("Sequence Delimitation Item", style=self._style("vr"))
        return text


def _preview(structure: Structure, node: int) -> str:
    """The value's one-line preview; nothing if the file no longer holds it (it changed on
    disk: the viewer says so and offers to reload)."""
    sm = structure.streams.get(Stream(int(structure.index.columns.stream[node])))
    if sm is not None and int(structure.end[node]) > sm.readable:
        return ""
    try:
        return short_value(structure.index, node, 40)
    except OSError:
        return ""


def _unnamed(tag: int) -> str:
    if (tag >> 16) & 1:
        return "private" if tag & 0xFF00 else "private creator"
    return "unknown"
