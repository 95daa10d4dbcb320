"""nbgrader feedback preprocessors: pages that read well offline.

nbgrader's feedback page loads MathJax from a CDN (offline, ``$G$`` stays raw), lists
every autograded cell as "Test cell", and shows the score a grade cell reports to
nbgrader as a stray ``Out[..]: 3.0`` under the checker's table. Three preprocessors, for
``c.GenerateFeedback.preprocessors`` (after ``GetGrades``)::

    from ganlab_kit.grading.feedback import HideScoreEcho, NamePartsInSummary, OfflineMaths
    c.GenerateFeedback.preprocessors = [GetGrades, ClearHiddenTests, HideScoreEcho, OfflineMaths,
                                        CSSHTMLHeaderPreprocessor, NamePartsInSummary]

(``NamePartsInSummary`` after ``CSSHTMLHeaderPreprocessor``, which replaces the inlined CSS.)

* :class:`OfflineMaths` turns ``$...$`` and ``$$...$$`` in markdown cells into MathML
  (``latex2mathml``), which browsers draw themselves: no script, no network.
* :class:`NamePartsInSummary` names each graded cell in the summary at the top of the page
  ("1. Noise: the generator's input · noise" instead of "Test cell"), with a CSS rule the
  feedback template already inlines (``resources["inlining"]["css"]``).
* :class:`HideScoreEcho` drops the score a grade cell returns as its last value (what
  nbgrader reads for partial credit) from the feedback only; the points stay in the
  checker's table and in the page's summary.
"""
from __future__ import annotations

import html
import re
from typing import Dict, List, Tuple

from nbconvert.preprocessors import Preprocessor
from traitlets import Bool

__all__ = ["OfflineMaths", "NamePartsInSummary", "HideScoreEcho", "latex_to_mathml",
           "maths_to_mathml"]

_CODE = re.compile(r"(```.*?```|`[^`\n]*`)", re.DOTALL)
_DISPLAY = re.compile(r"\$\$(.+?)\$\$", re.DOTALL)
_INLINE = re.compile(r"(?<![\\$])\$(?!\s)([^$\n]+?)(?<!\s)\$(?!\d)")
_NUMBER = re.compile(r"^\s*-?\d+(\.\d+)?([eE][-+]?\d+)?\s*$")


def _nbgrader(cell) -> Dict:
    return cell.get("metadata", {}).get("nbgrader", {}) or {}


def latex_to_mathml(latex: str, display: bool = False) -> str:
    """``latex`` as a MathML ``<math>`` element (the LaTeX itself, escaped, if it cannot be read)."""
    from latex2mathml.converter import convert

    try:
        return convert(latex, display="block" if display else "inline").replace("\n", "")
    except Exception:  # an unsupported command: show the source rather than nothing
        return f"<code>{html.escape(latex)}</code>"


def maths_to_mathml(markdown: str) -> str:
    """Markdown with its ``$$...$$`` and ``$...$`` maths replaced by MathML; code spans and
    fenced code are left alone, and ``\\$`` stays a dollar sign."""
    parts = _CODE.split(markdown)
    for index in range(0, len(parts), 2):  # even indices: text outside code
        text = _DISPLAY.sub(lambda m: latex_to_mathml(m.group(1).strip(), display=True), parts[index])
        parts[index] = _INLINE.sub(lambda m: latex_to_mathml(m.group(1)), text)
    return "".join(parts)


class FeedbackPreprocessor(Preprocessor):
    """On by default. nbconvert's preprocessors are off until enabled, and nbgrader registers
    the classes of ``c.GenerateFeedback.preprocessors`` without enabling them (its own
    preprocessors switch themselves on the same way)."""

    enabled = Bool(True, help="Whether to use this preprocessor when generating feedback").tag(config=True)


class OfflineMaths(FeedbackPreprocessor):
    """Render the maths of markdown cells as MathML, so feedback shows it without a network."""

    def preprocess_cell(self, cell, resources, index):
        if cell.cell_type == "markdown" and "$" in cell.source:
            cell.source = maths_to_mathml(cell.source)
        return cell, resources


def _heading(source: str) -> str:
    for line in source.splitlines():
        if line.startswith("#"):
            return line.lstrip("#").strip()
    return ""


def part_names(notebook) -> List[Tuple[str, str]]:
    """``(grade_id, name)`` of every graded cell: the section heading above it and the part."""
    names, section = [], ""
    for cell in notebook.cells:
        if cell.cell_type == "markdown":
            section = _heading(cell.source) or section
        meta = _nbgrader(cell)
        if meta.get("grade") and meta.get("grade_id"):
            grade_id = meta["grade_id"]
            part = grade_id[:-len("_checks")] if grade_id.endswith("_checks") else grade_id
            kind = "written answer" if cell.cell_type == "markdown" else "checks"
            names.append((grade_id, f"{section} · {part.replace('_', ' ')} ({kind})" if section
                          else f"{part.replace('_', ' ')} ({kind})"))
    return names


def _css_string(text: str) -> str:
    return '"' + "".join(ch if ch.isalnum() or ch in " .,:;()-_'·" else f"\\{ord(ch):x} "
                         for ch in text) + '"'


class NamePartsInSummary(FeedbackPreprocessor):
    """Name each graded cell in the feedback page's summary instead of "Test cell"."""

    def preprocess(self, nb, resources):
        rules = []
        for grade_id, name in part_names(nb):
            if not re.fullmatch(r"[A-Za-z0-9_-]+", grade_id):
                continue
            link = f'li > a[href="#{grade_id}"]'
            rules.append(f"{link} {{font-size: 0;}} "
                         f"{link}::after {{content: {_css_string(name)}; font-size: 14px;}}")
        if rules:
            inlining = resources.setdefault("inlining", {})
            inlining.setdefault("css", []).append("\n".join(rules))
        return nb, resources


class HideScoreEcho(FeedbackPreprocessor):
    """Drop the bare score (``Out[..]: 3.0``) under each autograded cell of the feedback."""

    def preprocess_cell(self, cell, resources, index):
        meta = _nbgrader(cell)
        if cell.cell_type == "code" and meta.get("grade") and not meta.get("solution"):
            cell.outputs = [output for output in cell.get("outputs", [])
                            if not (output.get("output_type") == "execute_result"
                                    and _NUMBER.match(str(output.get("data", {}).get("text/plain", ""))))]
        return cell, resources
