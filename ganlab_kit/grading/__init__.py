"""The autograder bridge: from a notebook grade cell to hidden pytest checks and back.

Three stages, as in otter-grader: :func:`discover` finds the check module of a part,
:func:`run_checks` runs it in this process against the notebook's namespace, and the
:class:`PartResult` it returns renders feedback (text, HTML) and the nbgrader score.
:func:`grade` does all three from a grade cell::

    ### BEGIN HIDDEN TESTS
    grade("pytorch_gan/generator", globals())
    ### END HIDDEN TESTS

The checks themselves live in the instructor's ``autograder/`` folder, found through
``$GANLAB_AUTOGRADER``; this package contains none of them. Importing it is light
(pytest, torch and nbgrader load only when something runs).
"""
from .bridge import (AUTOGRADER_ENV, GradingSetupError, autograder_root, discover, grade,
                     list_checks, run_checks)
from .results import CheckResult, PartResult

__all__ = [
    "grade", "run_checks", "discover", "list_checks", "autograder_root", "AUTOGRADER_ENV",
    "GradingSetupError", "CheckResult", "PartResult",
]
