"""Text from a file or a file name, as the viewer may put it on the screen.

Two dangers: a control character (``ESC ] 0 ;`` retitles the terminal, ``ESC c`` resets it)
and Textual/Rich markup (a value ``[link=...]`` or ``[/]`` would be read as a style, or fail to
parse and close the app). :func:`literal` makes a :class:`~rich.text.Text`, which is never read
as markup, of the string with every control character shown as an escape
(:func:`dcmstruct.safetext.terminal_safe`). Every pane, dialog, toast and status line builds
what it shows from a file this way.
"""

from __future__ import annotations

from rich.style import Style
from rich.text import Text

from dcmstruct.safetext import terminal_safe


def literal(text: str, style: str | Style = "") -> Text:
    """``text`` shown as it is: escapes visible, no markup."""
    return Text(terminal_safe(text), style=style)
