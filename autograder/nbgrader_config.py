"""nbgrader settings for grading ganlab-kit labs.

Load this file from your course's ``nbgrader_config.py``::

    load_subconfig("/path/to/ganlab-kit/autograder/nbgrader_config.py")

It tells grade cells where the hidden checks are, keeps training out of grading, and
gives cells enough time without letting a runaway cell block the queue.
"""
import os

c = get_config()  # noqa: F821 - provided by traitlets when it reads this file

_HERE = os.path.dirname(os.path.abspath(__file__))

# Environment of the grading kernels (they inherit nbgrader's environment).
os.environ.setdefault("GANLAB_AUTOGRADER", _HERE)  # the hidden checks: this folder
os.environ.setdefault("GANLAB_MAX_STEPS", "0")     # grading never trains: runs load generator.pt or stop
os.environ.setdefault("OMP_NUM_THREADS", "1")      # one thread per kernel: faster on shared cores, repeatable sums

# Cells: nbgrader's default limit (30 s) is too short for a cell that scores 1,000 samples
# on a busy laptop, but a cell stuck in a loop is still interrupted after 5 minutes.
c.Execute.timeout = 300
c.Execute.interrupt_on_timeout = True
c.ExecutePreprocessor.timeout = 300
# Outputs may lag behind a cell's reply on a loaded machine; nbgrader turns a wait longer
# than iopub_timeout (4 s by default) into an error, which would cost a grade cell its points.
c.Execute.iopub_timeout = 60

# Tracebacks show only the failing lines (IPython's "Plain" mode), not the lines around
# them: feedback stays short and never quotes the hidden-test line of a grade cell.
c.Execute.extra_arguments = ["--HistoryManager.hist_file=:memory:", "--InteractiveShell.xmode=Plain"]


# Feedback shows each check's result (the cell's output) but not the hidden-test line that
# produced it: the hidden region is removed from the cells of the feedback pages too.
from nbconvert.preprocessors import CSSHTMLHeaderPreprocessor  # noqa: E402
from nbgrader.preprocessors import ClearHiddenTests, GetGrades  # noqa: E402

c.GenerateFeedback.preprocessors = [GetGrades, ClearHiddenTests, CSSHTMLHeaderPreprocessor]
