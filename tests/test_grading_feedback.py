"""The feedback preprocessors: maths without a network, named parts, no stray score echo."""
import nbformat
from nbconvert.filters import markdown2html

from ganlab_kit.grading.feedback import HideScoreEcho, NamePartsInSummary, OfflineMaths, maths_to_mathml


def graded_notebook():
    notebook = nbformat.v4.new_notebook()
    notebook.cells = [
        nbformat.v4.new_markdown_cell("## 1. Noise: the generator's input\n\nThe generator $G$ reads `$z$`."),
        nbformat.v4.new_code_cell("print('quick checks')", metadata={"nbgrader": {
            "grade": True, "solution": False, "grade_id": "noise_checks", "points": 3}}),
        nbformat.v4.new_markdown_cell("Explain $-\\log D(x)$.", metadata={"nbgrader": {
            "grade": True, "solution": True, "grade_id": "why_noise", "points": 2}}),
    ]
    notebook.cells[1].outputs = [
        nbformat.v4.new_output("display_data", data={"text/html": "<table>points</table>"}),
        nbformat.v4.new_output("execute_result", data={"text/plain": "3.0"}, execution_count=1),
    ]
    return notebook


def test_maths_becomes_mathml_outside_code():
    """Are $...$ and $$...$$ turned into MathML that survives markdown rendering, while code spans,
    fenced code and prices stay as written?"""
    text = maths_to_mathml("Loss $-\\log D(x)$, `$x$`, $$y \\in \\{0, 1\\}$$ and 5$ or $3.\n```\n$keep$\n```")
    assert text.count("<math") == 2 and "`$x$`" in text and "$keep$" in text and "5$ or $3" in text
    rendered = markdown2html(text)
    assert rendered.count("<math") == 2 and "$-\\log" not in rendered


def test_feedback_preprocessors():
    """Does the feedback notebook keep the checker's table but not the bare score, render its maths
    offline, and carry a CSS rule that names each graded cell in the summary?"""
    notebook, resources = graded_notebook(), {}
    for preprocessor in (HideScoreEcho(), NamePartsInSummary(), OfflineMaths()):
        notebook, resources = preprocessor.preprocess(notebook, resources)
    outputs = notebook.cells[1].outputs
    assert [output.output_type for output in outputs] == ["display_data"]
    assert "<math" in notebook.cells[0].source and "$G$" not in notebook.cells[0].source
    assert "`$z$`" in notebook.cells[0].source
    css = "\n".join(resources["inlining"]["css"])
    assert 'a[href="#noise_checks"]::after' in css and "noise (checks)" in css
    assert "1. Noise" in css and 'a[href="#why_noise"]' in css and "written answer" in css
