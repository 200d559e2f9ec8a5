"""The README's configuration table against the one generated from the declarations.

`python -m tests.readme_table` prints the generated table; `--write` puts it in README.md."""

from __future__ import annotations

import sys
from pathlib import Path

from service.config import markdown_table

README = Path(__file__).resolve().parents[1] / "README.md"
_SECTION, _HEADER = "## Configuration", "| Variable | Default | Meaning |\n"


def _span(text: str) -> tuple[int, int]:
    """Where the table under the Configuration heading starts and ends (its last newline)."""
    start = text.index(_HEADER, text.index(_SECTION))
    end = text.find("\n\n", start)
    return start, len(text) if end < 0 else end + 1


def documented(text: str) -> str:
    start, end = _span(text)
    return text[start:end]


def write() -> None:
    text = README.read_text()
    start, end = _span(text)
    README.write_text(text[:start] + markdown_table() + text[end:])


if __name__ == "__main__":
    if sys.argv[1:] == ["--write"]:
        write()
    else:
        print(markdown_table(), end="")
