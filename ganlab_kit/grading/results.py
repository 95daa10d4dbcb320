"""Results of grading one part of a notebook, with their own renderers.

A :class:`PartResult` holds one :class:`CheckResult` per hidden check. It renders
itself as plain text (terminals, logs), as HTML (notebooks, nbgrader feedback) and
as the number nbgrader reads for partial credit (:attr:`PartResult.score`).
Feedback names the concept a check is about; it never shows check source code
or tracebacks.
"""
from __future__ import annotations

import html
from dataclasses import dataclass, field
from typing import Dict, List, Tuple

__all__ = ["CheckResult", "PartResult", "TIMINGS_ENV"]

#: Environment variable naming a file where each notebook graded by nbgrader appends one JSON
#: line of timings (``ganlab autograde``'s stages, benchmarks/bench_autograde.py); unset: none.
TIMINGS_ENV = "GANLAB_GRADING_TIMINGS"


#: Padding of the check table's cells: nbgrader's feedback page has no table spacing of its own
#: (the header read "pointscheck").
_CELL = "padding:3px 10px;vertical-align:top"


def _format_points(points: float) -> str:
    """``3`` for whole numbers, ``1.5`` otherwise."""
    return f"{points:g}"


@dataclass(frozen=True)
class CheckResult:
    """The outcome of one hidden check."""

    name: str            # the check's function name, e.g. "test_output_range"
    question: str        # what the check asks, from its docstring ("Are the images in [-1, 1]?")
    points: float        # points the check is worth
    passed: bool         # True when the submission passed it
    feedback: str = ""   # student-facing reason for a failure; empty when passed

    @property
    def score(self) -> float:
        """Points earned: ``points`` if passed, else 0."""
        return self.points if self.passed else 0.0

    def to_text(self) -> str:
        mark = "PASS" if self.passed else "FAIL"
        line = f"[{mark}] {_format_points(self.score)}/{_format_points(self.points)}  {self.question}"
        if self.feedback:
            line += "\n" + "\n".join("        " + row for row in self.feedback.splitlines())
        return line


@dataclass
class PartResult:
    """All checks of one graded part (one grade cell of a notebook)."""

    assignment: str                      # e.g. "pytorch_gan"
    part: str                            # e.g. "generator"
    checks: List[CheckResult] = field(default_factory=list)
    error: str = ""                      # set when the checks could not run at all

    @property
    def score(self) -> float:
        """Points earned, rounded to 4 decimals: the number nbgrader records."""
        return round(sum(check.score for check in self.checks), 4)

    @property
    def max_score(self) -> float:
        return round(sum(check.points for check in self.checks), 4)

    @property
    def passed(self) -> bool:
        return not self.error and all(check.passed for check in self.checks)

    @property
    def failed_checks(self) -> Tuple[str, ...]:
        """Names of the checks that failed, in the order they ran."""
        return tuple(check.name for check in self.checks if not check.passed)

    def points_by_check(self) -> Dict[str, float]:
        return {check.name: check.points for check in self.checks}

    # ------------------------------------------------------------------ renderers
    def title(self) -> str:
        return (f"{self.assignment} / {self.part}: "
                f"{_format_points(self.score)} of {_format_points(self.max_score)} points")

    def to_text(self) -> str:
        lines = [self.title()]
        if self.error:
            lines.append(f"  The checks could not run: {self.error}")
        lines.extend("  " + check.to_text().replace("\n", "\n  ") for check in self.checks)
        return "\n".join(lines)

    def to_html(self) -> str:
        rows = []
        for check in self.checks:
            colour = "#1a7f37" if check.passed else "#b42318"
            mark = "&#10003;" if check.passed else "&#10007;"
            feedback = html.escape(check.feedback).replace("\n", "<br>")
            rows.append(
                "<tr>"
                f"<td style='color:{colour};text-align:center;{_CELL}'>{mark}</td>"
                f"<td style='text-align:right;white-space:nowrap;{_CELL}'>{_format_points(check.score)}/"
                f"{_format_points(check.points)}</td>"
                f"<td style='text-align:left;{_CELL}'>{html.escape(check.question)}"
                + (f"<br><span style='color:{colour}'>{feedback}</span>" if feedback else "")
                + "</td></tr>"
            )
        error = (f"<p style='color:#b42318'>The checks could not run: {html.escape(self.error)}</p>"
                 if self.error else "")
        return (
            "<div class='ganlab-grade'>"
            f"<p><b>{html.escape(self.title())}</b></p>{error}"
            f"<table style='border-collapse:collapse'><thead><tr><th style='{_CELL}'></th>"
            f"<th style='text-align:right;{_CELL}'>points</th><th style='text-align:left;{_CELL}'>check</th>"
            f"</tr></thead><tbody>{''.join(rows)}</tbody></table></div>"
        )

    def _repr_html_(self) -> str:
        return self.to_html()

    def to_dict(self) -> Dict[str, object]:
        """Plain data (JSON) for passing a result between processes."""
        return {"assignment": self.assignment, "part": self.part, "error": self.error,
                "checks": [[check.name, check.question, check.points, check.passed, check.feedback]
                           for check in self.checks]}

    @classmethod
    def from_dict(cls, data: Dict[str, object]) -> "PartResult":
        checks = [CheckResult(str(name), str(question), float(points), bool(passed), str(feedback))
                  for name, question, points, passed, feedback in data.get("checks", [])]
        return cls(str(data["assignment"]), str(data["part"]), checks, str(data.get("error", "")))

    def __str__(self) -> str:
        return self.to_text()
