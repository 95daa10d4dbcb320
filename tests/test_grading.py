"""The grading bridge on a small made-up assignment: discover -> run -> report."""
import json
import random
import textwrap

import pytest
import torch

from ganlab_kit.grading import (AUTOGRADER_ENV, CheckResult, GradingSetupError, PartResult, discover,
                                grade, list_checks, run_checks)
from ganlab_kit.grading.plugin import failure_feedback

CHECKS = '''
import pytest
import torch


@pytest.mark.points(2)
def test_doubles(nb):
    """Does double(x) return 2 * x?"""
    assert nb.double(3) == 6, f"double(3) should be 6, got {nb.double(3)}"


def test_threshold(nb):
    """Is THRESHOLD set to 0.5?"""
    assert nb.THRESHOLD == 0.5, "THRESHOLD should be 0.5"


@pytest.mark.points(0.5)
def test_random_draw(nb):
    """Does draw() use torch's seeded generator?"""
    assert nb.draw() == nb.draw_reference(), "draw() should call torch.rand"


def test_patched_helper(nb):
    """Does twice() use double()?"""
    with nb.patched(double=nb.ref("operator:neg")):
        assert nb.twice(2) == -2, "twice should call double"
        raise RuntimeError("boom\\nsecond line")
'''


@pytest.fixture
def autograder(tmp_path):
    """A checks folder with one assignment 'lab' and one part 'basics'."""
    (tmp_path / "lab").mkdir()
    (tmp_path / "lab" / "test_basics.py").write_text(CHECKS)
    (tmp_path / "pytest.ini").write_text("[pytest]\n")
    return tmp_path


def good_namespace():
    def draw():
        return float(torch.rand(1))

    def draw_reference():
        torch.manual_seed(0)
        return float(torch.rand(1))

    namespace = {"double": lambda x: 2 * x, "THRESHOLD": 0.5}
    namespace.update(draw=lambda: (torch.manual_seed(0), float(torch.rand(1)))[1], draw_reference=draw_reference)
    namespace["twice"] = lambda x: namespace["double"](x)
    return namespace


def test_scores_are_the_points_of_passed_checks(autograder):
    """Does a part's score add the points of the passed checks only, with the checks in file order?"""
    namespace = good_namespace()
    namespace["THRESHOLD"] = 0.4
    result = run_checks("lab/basics", namespace, root=autograder)
    assert [check.name for check in result.checks] == [
        "test_doubles", "test_threshold", "test_random_draw", "test_patched_helper"]
    assert [check.points for check in result.checks] == [2, 1, 0.5, 1]
    assert result.failed_checks == ("test_threshold", "test_patched_helper")
    assert (result.score, result.max_score) == (2.5, 4.5)


def test_feedback_is_the_message_not_a_traceback(autograder):
    """Is a failed check's feedback its assertion message, and any other error one line naming it?"""
    namespace = good_namespace()
    namespace["double"] = lambda x: x + 1
    result = run_checks("lab/basics", namespace, root=autograder)
    feedback = {check.name: check.feedback for check in result.checks}
    assert feedback["test_doubles"] == "double(3) should be 6, got 4"
    assert feedback["test_patched_helper"] == "Your code raised RuntimeError: boom"
    assert "Traceback" not in result.to_text() and "test_basics.py" not in result.to_text()


def test_missing_name_is_reported_by_name(autograder):
    """Does a name the notebook never defined give feedback naming it, instead of a KeyError?"""
    namespace = good_namespace()
    del namespace["THRESHOLD"]
    result = run_checks("lab/basics", namespace, root=autograder)
    message = next(c.feedback for c in result.checks if c.name == "test_threshold")
    assert "defines no `THRESHOLD`" in message


def test_patched_names_are_restored(autograder):
    """Does nb.patched put the notebook's own function back, even when the check fails inside it?"""
    namespace = good_namespace()
    original = namespace["double"]
    run_checks("lab/basics", namespace, root=autograder)
    assert namespace["double"] is original


def test_caller_random_state_is_untouched(autograder):
    """Do the notebook's random numbers after a grade cell not depend on whether grading ran?"""
    torch.manual_seed(123)
    random.seed(123)
    expected = (float(torch.rand(1)), random.random())
    torch.manual_seed(123)
    random.seed(123)
    run_checks("lab/basics", good_namespace(), root=autograder)
    assert (float(torch.rand(1)), random.random()) == expected


def test_checks_are_seeded(autograder):
    """Does every check start from the same seed, so grading twice gives the same result?"""
    torch.manual_seed(999)
    first = run_checks("lab/basics", good_namespace(), root=autograder)
    torch.manual_seed(5)
    second = run_checks("lab/basics", good_namespace(), root=autograder)
    assert first == second and "test_random_draw" not in first.failed_checks


def test_grade_prints_text_and_returns_the_score(autograder, monkeypatch, capsys):
    """Outside IPython, does grade() print the report on stdout (nothing on stderr) and return the score?"""
    monkeypatch.setenv(AUTOGRADER_ENV, str(autograder))
    score = grade("lab/basics", good_namespace())
    captured = capsys.readouterr()
    assert score == 3.5 and isinstance(score, float)
    assert captured.out.startswith("lab / basics: 3.5 of 4.5 points") and captured.err == ""


def test_grading_writes_nothing_to_stderr(autograder, capfd):
    """Does a grading run keep stderr empty (nbgrader gives 0 points to a cell that writes there)?"""
    namespace = good_namespace()
    namespace["double"] = lambda x: (__import__("warnings").warn("careful"), print("noise"), 2 * x)[2]
    run_checks("lab/basics", namespace, root=autograder)
    captured = capfd.readouterr()
    assert captured.err == "" and captured.out == ""


def test_missing_autograder_is_a_clear_error(monkeypatch):
    """Without GANLAB_AUTOGRADER, does grading stop with an error that names the variable?"""
    monkeypatch.delenv(AUTOGRADER_ENV, raising=False)
    with pytest.raises(GradingSetupError, match=AUTOGRADER_ENV):
        grade("lab/basics", {})


def test_unknown_part_and_broken_checks_are_setup_errors(autograder):
    """Are a missing check module and one that cannot import instructor errors, not a zero?"""
    with pytest.raises(GradingSetupError, match="no hidden checks"):
        discover("lab/nothing", autograder)
    (autograder / "lab" / "test_broken.py").write_text("import not_a_module_anywhere\n")
    with pytest.raises(GradingSetupError, match="could not run"):
        run_checks("lab/broken", {}, root=autograder)


def test_bare_part_names_are_found_when_unique(autograder):
    """Does 'basics' resolve to lab/basics when only one assignment has that part?"""
    assert discover("basics", autograder)[:2] == ("lab", "basics")
    (autograder / "other").mkdir()
    (autograder / "other" / "test_basics.py").write_text(CHECKS)
    with pytest.raises(GradingSetupError, match="assignment/basics"):
        discover("basics", autograder)


def test_list_checks_runs_nothing(autograder):
    """Does list_checks give names, questions and points without running any check?"""
    (autograder / "lab" / "test_side.py").write_text(textwrap.dedent('''
        def test_writes(nb):
            """Would this check write a file?"""
            open("should-not-exist", "w").close()
    '''))
    assert list_checks("lab/side", autograder) == [("test_writes", "Would this check write a file?", 1.0)]
    assert list_checks("lab/basics", autograder)[0] == ("test_doubles", "Does double(x) return 2 * x?", 2.0)
    assert not (autograder / "should-not-exist").exists()


def test_part_result_renderers():
    """Do the text and HTML renderers show points and escaped feedback, and is the score a plain number?"""
    result = PartResult("lab", "basics", [
        CheckResult("test_a", "Is a < b?", 2, True),
        CheckResult("test_b", "Is <b> escaped?", 1.5, False, "use <b> & co"),
    ])
    assert result.score == 2 and result.max_score == 3.5 and not result.passed
    assert "[FAIL] 0/1.5  Is <b> escaped?" in result.to_text()
    html = result.to_html()
    assert "&lt;b&gt; &amp; co" in html and "<b> & co" not in html
    assert json.loads(json.dumps(result.score)) == 2


def test_failure_feedback_of_not_implemented():
    """Is an unanswered function (NotImplementedError) reported as not answered yet?"""
    assert "Not answered yet" in failure_feedback(NotImplementedError())
    assert failure_feedback(AssertionError("")) == "This check failed."


def test_interrupt_is_not_a_partial_score(autograder):
    """Does interrupting the checks (a timeout, Ctrl-C) stop grading instead of scoring the checks run so far?"""
    namespace = good_namespace()

    def interrupted(x):
        raise KeyboardInterrupt

    namespace["double"] = interrupted
    with pytest.raises(KeyboardInterrupt):
        run_checks("lab/basics", namespace, root=autograder)


def test_check_modules_are_not_kept(autograder):
    """Does a run leave no check module behind in sys.modules, so an edited check counts at once?"""
    import sys

    before = set(sys.modules)
    run_checks("lab/basics", good_namespace(), root=autograder)
    assert not [name for name in set(sys.modules) - before if name.startswith("lab")]
    (autograder / "lab" / "test_basics.py").write_text(CHECKS.replace("@pytest.mark.points(2)", "@pytest.mark.points(3)"))
    assert run_checks("lab/basics", good_namespace(), root=autograder).max_score == 5.5


def test_run_in_process_stops_at_each_test_cell_with_the_globals_so_far():
    """Does ``at_test_cell`` see, at each test cell, only what the cells above it defined (so an
    answer that calls a function defined further down fails there, as under nbgrader)?"""
    import nbformat

    from ganlab_kit.grading.notebook import run_in_process

    def grade_cell(grade_id):
        cell = nbformat.v4.new_code_cell("assert answer() == 2")
        cell.metadata["nbgrader"] = {"grade": True, "solution": False, "grade_id": grade_id, "points": 1}
        return cell

    notebook = nbformat.v4.new_notebook(cells=[
        nbformat.v4.new_code_cell("def answer():\n    return helper() + 1"), grade_cell("early"),
        nbformat.v4.new_code_cell("def helper():\n    return 1"), grade_cell("late")])
    seen = {}

    def at_test_cell(cell, namespace):
        try:
            seen[cell.metadata["nbgrader"]["grade_id"]] = namespace["answer"]()
        except NameError as error:
            seen[cell.metadata["nbgrader"]["grade_id"]] = str(error)

    namespace = run_in_process(notebook, at_test_cell=at_test_cell)
    assert seen == {"early": "name 'helper' is not defined", "late": 2}
    assert namespace["answer"]() == 2
