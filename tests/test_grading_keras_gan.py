"""The Keras GAN lab end to end with nbgrader: release, validate, autograde, feedback, solution.

Regrading is checked in process, five times over
(tests/test_lab_keras_gan.py::test_grading_is_repeatable).

One course with four students (the reference, the stub and two typical Keras mistakes;
`ganlab demo` grades them all),
built once (see tests/lab_e2e.py); all tests share one xdist group. Every submission loads
its generator.weights.h5 instead of training, as it does for an instructor.
"""
import re

import nbformat
import pytest

from lab_e2e import LabEndToEnd

#: what must never reach a student's cell outputs (as in tests/test_browser_failure_modes.py)
NOISE = re.compile(r"WARNING|absl|UserWarning|DeprecationWarning|np\.(?:int|float|bool_?)\d*\(")

pytestmark = [pytest.mark.keras, pytest.mark.grading, pytest.mark.slow,
              pytest.mark.xdist_group("nbgrader_keras_gan")]


class TestKerasGanEndToEnd(LabEndToEnd):
    ASSIGNMENT = "keras_gan"
    STUDENTS = ("reference", "stub", "keras2_freeze_once", "accuracy_wrong_axis")
    MIN_CHECK_LINES = 50
    FEEDBACK = {"keras2_freeze_once": ("Keras 3", "freezes D")}
    NO_TRACEBACK = ("reference", "keras2_freeze_once")

    def test_solution_outputs_show_no_warning_or_numpy_repr(self, solution):
        """Does the executed solution (every cell as a student runs it) print no TensorFlow/absl or
        Python warning and no NumPy scalar repr (a quick check once did: np.array(variable))?"""
        notebook = nbformat.read(solution, as_version=4)
        found = {cell.get("id"): NOISE.findall("".join(str(output.get("text", "")) + str(output.get("data", {}).get(
                     "text/plain", "")) for output in cell.outputs))
                 for cell in notebook.cells if cell.cell_type == "code"}
        assert not any(found.values()), {cell: words for cell, words in found.items() if words}
