"""Markdown (and the HTML Civitai's editor produces) to safe HTML: rendered by markdown-it, cleaned by nh3, so
no script, style, event handler or `javascript:` link survives, and links get `rel="nofollow noopener"`."""

from __future__ import annotations

import nh3
from markdown_it import MarkdownIt

_renderer = MarkdownIt("commonmark", {"html": True, "linkify": False}).enable("table").enable("strikethrough")

_TAGS = {
    "a", "abbr", "b", "blockquote", "br", "code", "del", "details", "em", "h1", "h2", "h3", "h4", "h5", "h6",
    "hr", "i", "img", "li", "mark", "ol", "p", "pre", "s", "span", "strong", "sub", "summary", "sup", "table",
    "tbody", "td", "th", "thead", "tr", "u", "ul",
}  # fmt: skip
_ATTRIBUTES = {
    "a": {"href", "title"},
    "img": {"src", "alt", "title", "width", "height"},
    "td": {"align"},
    "th": {"align"},
    "code": {"class"},
}


def render(source: str | None) -> str | None:
    """Safe HTML for `source`, or None for an empty text."""
    if source is None or not source.strip():
        return None
    html = _renderer.render(source)
    return nh3.clean(
        html,
        tags=_TAGS,
        attributes=_ATTRIBUTES,
        url_schemes={"http", "https", "mailto"},
        link_rel="nofollow noopener noreferrer",
    ).strip()
