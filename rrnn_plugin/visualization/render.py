"""Text, markdown, HTML and JSON views of `WfsaPhrases`, in the layout of the paper's Table 1.

One column per main-path transition.  A cell shows the transition's token, preceded by the tokens
the previous state's self-loop consumed before it, each marked `_SL` (`not_SL worth`); more than
two such tokens are shown as one `…_SL` (all of them are in the JSON and in the HTML tooltips).
Tokens are shown as the reader made them, so the end marker appears as `</s>`.
"""
import html
import json
from typing import Any, Dict, List, Optional, Sequence

from rrnn_plugin.visualization.phrases import PathMatch, Transition, WfsaPhrases

SELF_LOOP_MARK = "_SL"
MAX_SHOWN_LOOPS = 2
ELLIPSIS = "\u2026"
FORMATS = ("text", "markdown", "html", "json")


def loop_words(transition: Transition) -> List[str]:
    """The self-loop tokens of a cell as shown: each with `_SL`, or one `…_SL` for more than two."""
    if len(transition.self_loop_tokens) > MAX_SHOWN_LOOPS:
        return [ELLIPSIS + SELF_LOOP_MARK]
    return [token + SELF_LOOP_MARK for token in transition.self_loop_tokens]


def cell_text(transition: Transition) -> str:
    return " ".join(loop_words(transition) + [transition.token])


def _rows(phrases: WfsaPhrases):
    """(row label, match) pairs: the top phrases, then the bottom ones."""
    for rank, match in enumerate(phrases.top, 1):
        yield f"top {rank}", match
    for rank, match in enumerate(phrases.bottom, 1):
        yield f"bottom {rank}", match


def _has_after(phrases: WfsaPhrases) -> bool:
    """Whether the table needs the `after` column (some path continues in the last state's self-loop)."""
    return any(m.trailing_self_loops for m in list(phrases.top) + list(phrases.bottom))


def after_text(match: PathMatch) -> str:
    """The tokens consumed by the last state's self-loop after the last transition, as a count."""
    return f"+{match.trailing_self_loops}{SELF_LOOP_MARK}" if match.trailing_self_loops else ""


def _padded(cells: List[str], length: int) -> List[str]:
    """One cell per transition column; a path that ended in an earlier state leaves blanks."""
    return cells + [""] * (length - len(cells))


def _columns(phrases: WfsaPhrases, after: bool) -> List[str]:
    """Headers of the path columns: one per transition (and `after`)."""
    return [str(j) for j in range(1, phrases.length + 1)] + (["after"] if after else [])


def _heading(phrases: WfsaPhrases) -> str:
    s = "" if phrases.length == 1 else "s"
    heading = f"{phrases.label}: {phrases.length} transition{s}"
    if phrases.label_weights:
        weights = ", ".join(f"{label} {value:+.2f}" for label, value in phrases.label_weights.items())
        heading += f"; classifier weight {weights}"
    return heading


def _score(value: float) -> str:
    return f"{value:.4g}"


# ----- plain text ---------------------------------------------------------------------------
def render_text(all_phrases: Sequence[WfsaPhrases]) -> str:
    blocks = []
    for phrases in all_phrases:
        after = _has_after(phrases)
        rows = [["", "score", "doc"] + _columns(phrases, after)]
        for label, match in _rows(phrases):
            cells = [label, _score(match.score), str(match.document)]
            cells += _padded([cell_text(t) for t in match.transitions], phrases.length)
            rows.append(cells + ([after_text(match)] if after else []))
        widths = [max(len(row[c]) for row in rows) for c in range(len(rows[0]))]
        lines = [_heading(phrases)]
        lines += ["  ".join(cell.ljust(width) for cell, width in zip(row, widths)).rstrip() for row in rows]
        if len(rows) == 1:
            lines.append("  (no document is long enough for a full path)")
        blocks.append("\n".join(lines))
    return "\n\n".join(blocks) + "\n"


# ----- markdown -----------------------------------------------------------------------------
_MARKDOWN_SPECIAL = "\\`*_[]|~"  # what is special inside a GFM table cell


def markdown_escape(text: str) -> str:
    """Text that a markdown renderer shows literally, also inside a table cell."""
    text = html.escape(text, quote=False)  # `</s>` must not become an HTML tag
    return "".join("\\" + c if c in _MARKDOWN_SPECIAL else c for c in text)


def _markdown_cell(transition: Transition) -> str:
    loops = " ".join(markdown_escape(word) for word in loop_words(transition))
    main = f"**{markdown_escape(transition.token)}**"
    return f"{loops} {main}" if loops else main


def render_markdown(all_phrases: Sequence[WfsaPhrases]) -> str:
    blocks = []
    for phrases in all_phrases:
        after = _has_after(phrases)
        header = ["", "score"] + _columns(phrases, after)
        lines = [f"**{markdown_escape(_heading(phrases))}**", ""]
        lines.append("| " + " | ".join(header) + " |")
        lines.append("|" + "|".join(["---"] * 2 + [":---:"] * phrases.length + ["---"] * after) + "|")
        for label, match in _rows(phrases):
            cells = [label, _score(match.score)]
            cells += _padded([_markdown_cell(t) for t in match.transitions], phrases.length)
            cells += [markdown_escape(after_text(match))] if after else []
            lines.append("| " + " | ".join(cells) + " |")
        blocks.append("\n".join(lines))
    return "\n\n".join(blocks) + "\n"


# ----- HTML ---------------------------------------------------------------------------------
_STYLE = """
body { font-family: sans-serif; margin: 2em; }
table { border-collapse: collapse; margin-bottom: 2em; }
th, td { border: 1px solid #ccc; padding: 0.25em 0.6em; text-align: center; }
td.label, td.score { text-align: right; color: #555; }
tr.bottom td { background: #fdf3f3; }
tr.top td { background: #f3f7fd; }
.main { font-weight: bold; }
.sl { color: #888; font-size: 0.9em; }
"""


def _html_cell(transition: Transition) -> str:
    loops = ""
    if transition.self_loop_tokens:
        title = html.escape(" ".join(transition.self_loop_tokens))
        words = " ".join(html.escape(w) for w in loop_words(transition))
        loops = f'<span class="sl" title="self-loop: {title}">{words}</span> '
    return f'{loops}<span class="main">{html.escape(transition.token)}</span>'


def render_html(all_phrases: Sequence[WfsaPhrases], title: str = "WFSA phrases") -> str:
    parts = [
        "<!DOCTYPE html>",
        '<html lang="en">',
        "<head>",
        '<meta charset="utf-8">',
        f"<title>{html.escape(title)}</title>",
        f"<style>{_STYLE}</style>",
        "</head>",
        "<body>",
        f"<h1>{html.escape(title)}</h1>",
    ]
    for phrases in all_phrases:
        parts.append(f"<h2>{html.escape(_heading(phrases))}</h2>")
        parts.append("<table>")
        after = _has_after(phrases)
        header = "".join(f"<th>{name}</th>" for name in _columns(phrases, after))
        parts.append(f"<thead><tr><th></th><th>score</th><th>doc</th>{header}</tr></thead>")
        parts.append("<tbody>")
        for label, match in _rows(phrases):
            kind = label.split()[0]
            cells = "".join(f"<td>{c}</td>" for c in _padded([_html_cell(t) for t in match.transitions],
                                                             phrases.length))
            if after:
                cells += f'<td class="sl">{html.escape(after_text(match))}</td>'
            parts.append(
                f'<tr class="{kind}"><td class="label">{html.escape(label)}</td>'
                f'<td class="score">{_score(match.score)}</td>'
                f'<td class="score">{match.document}</td>{cells}</tr>'
            )
        parts.append("</tbody>")
        parts.append("</table>")
    parts += ["</body>", "</html>"]
    return "\n".join(parts) + "\n"


# ----- JSON ---------------------------------------------------------------------------------
def render_json(all_phrases: Sequence[WfsaPhrases], metadata: Optional[Dict[str, Any]] = None) -> str:
    data = dict(metadata or {})
    data["wfsas"] = [phrases.to_dict() for phrases in all_phrases]
    return json.dumps(data, indent=2, ensure_ascii=False) + "\n"


def render(all_phrases: Sequence[WfsaPhrases], fmt: str = "text", title: str = "WFSA phrases",
           metadata: Optional[Dict[str, Any]] = None) -> str:
    if fmt == "text":
        return render_text(all_phrases)
    if fmt == "markdown":
        return render_markdown(all_phrases)
    if fmt == "html":
        return render_html(all_phrases, title)
    if fmt == "json":
        return render_json(all_phrases, metadata)
    raise ValueError(f"format must be one of {FORMATS}, got {fmt!r}")


def format_for_file(path: Optional[str]) -> Optional[str]:
    """The format a file name implies (`.md`, `.html`, `.json`), else None."""
    if not path:
        return None
    suffix = path.lower().rsplit(".", 1)[-1] if "." in path else ""
    return {"md": "markdown", "markdown": "markdown", "html": "html", "htm": "html", "json": "json",
            "txt": "text"}.get(suffix)

