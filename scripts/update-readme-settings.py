"""Rewrite the settings table in README.md from the settings' own descriptions."""

from pathlib import Path

from modelyard.core.settings import settings_markdown_table

START, END = "<!-- settings-table:start -->", "<!-- settings-table:end -->"
readme = Path(__file__).resolve().parent.parent / "README.md"
text = readme.read_text()
head, rest = text.split(START, 1)
_, tail = rest.split(END, 1)
readme.write_text(f"{head}{START}\n{settings_markdown_table()}\n{END}{tail}")
