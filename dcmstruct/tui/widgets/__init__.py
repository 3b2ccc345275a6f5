"""The viewer's panes: hex, structure tree, inspector, findings."""

from dcmstruct.tui.widgets.element_tree import ElementTree
from dcmstruct.tui.widgets.findings import FindingsPanel
from dcmstruct.tui.widgets.hex_view import HexView
from dcmstruct.tui.widgets.inspector import Inspector

__all__ = ["ElementTree", "FindingsPanel", "HexView", "Inspector"]
