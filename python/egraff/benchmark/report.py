"""A report written twice from one description: Markdown for the terminal and git, HTML for a browser.

>>> doc = Document("egraff demo")
>>> doc.paragraph("Trained **NequIP** on ...")
>>> doc.table(["model", "force MAE"], [["nequip", "0.12"]])
>>> doc.image("rdf.png", "O–O, O–H and H–H RDFs")
>>> doc.write(directory / "report")      # report.md and report.html, each written atomically

Inline markup is limited to ``**bold**`` and ```code```; images are paths relative to the report.
"""

from __future__ import annotations

import html
import re
from pathlib import Path

from egraff.files import atomic_write_text

STYLE = ("body{font-family:system-ui,sans-serif;max-width:1100px;margin:2em auto;padding:0 1em;color:#222}"
         "table{border-collapse:collapse;margin:1em 0;font-size:0.9em}th,td{border:1px solid #ccc;padding:4px 8px;"
         "text-align:right}th{background:#f0f0f0}td:first-child,th:first-child{text-align:left}"
         "img{max-width:100%;border:1px solid #eee}code{background:#f4f4f4;padding:0 3px}figcaption{color:#555}")


def _inline_html(text: str) -> str:
    text = html.escape(text)
    text = re.sub(r"\*\*(.+?)\*\*", r"<strong>\1</strong>", text)
    return re.sub(r"`(.+?)`", r"<code>\1</code>", text)


class Document:
    def __init__(self, title: str):
        self.title = title
        self.blocks: list[tuple] = []

    def heading(self, text: str, level: int = 2) -> None:
        self.blocks.append(("heading", text, level))

    def paragraph(self, text: str) -> None:
        self.blocks.append(("paragraph", text))

    def table(self, header: list[str], rows: list[list]) -> None:
        self.blocks.append(("table", header, [[str(c) for c in row] for row in rows]))

    def image(self, path: str | Path, caption: str) -> None:
        self.blocks.append(("image", Path(path).name, caption))

    def markdown(self) -> str:
        out = [f"# {self.title}", ""]
        for kind, *rest in self.blocks:
            if kind == "heading":
                out += ["#" * rest[1] + " " + rest[0], ""]
            elif kind == "paragraph":
                out += [rest[0], ""]
            elif kind == "table":
                header, rows = rest
                out += ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
                out += ["| " + " | ".join(row) + " |" for row in rows] + [""]
            else:
                out += [f"![{rest[1]}]({rest[0]})", "", f"*{rest[1]}*", ""]
        return "\n".join(out)

    def html(self) -> str:
        out = [f"<!DOCTYPE html><html><head><meta charset='utf-8'><title>{html.escape(self.title)}</title>"
               f"<style>{STYLE}</style></head><body><h1>{html.escape(self.title)}</h1>"]
        for kind, *rest in self.blocks:
            if kind == "heading":
                out.append(f"<h{rest[1]}>{_inline_html(rest[0])}</h{rest[1]}>")
            elif kind == "paragraph":
                out.append(f"<p>{_inline_html(rest[0])}</p>")
            elif kind == "table":
                header, rows = rest
                out.append("<table><tr>" + "".join(f"<th>{_inline_html(h)}</th>" for h in header) + "</tr>")
                out += ["<tr>" + "".join(f"<td>{_inline_html(c)}</td>" for c in row) + "</tr>" for row in rows]
                out.append("</table>")
            else:
                out.append(f"<figure><img src='{html.escape(rest[0])}' alt='{html.escape(rest[1])}'>"
                           f"<figcaption>{_inline_html(rest[1])}</figcaption></figure>")
        return "\n".join(out + ["</body></html>"]) + "\n"

    def write(self, stem: Path) -> tuple[Path, Path]:
        """``<stem>.md`` and ``<stem>.html``."""
        stem = Path(stem)
        md, page = stem.with_suffix(".md"), stem.with_suffix(".html")
        atomic_write_text(md, self.markdown())
        atomic_write_text(page, self.html())
        return md, page


def number(value, digits: int = 3) -> str:
    """A table cell: ``digits`` significant figures, "n/a" for None or NaN."""
    if value is None or (isinstance(value, float) and value != value):
        return "n/a"
    if isinstance(value, int):
        return str(value)
    return f"{value:.{digits}g}"
