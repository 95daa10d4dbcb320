"""nbgrader settings for grading ganlab-kit labs.

Load this file from your course's ``nbgrader_config.py``::

    load_subconfig("/path/to/ganlab-kit/autograder/nbgrader_config.py")

It tells grade cells where the hidden checks are, keeps training out of grading, and
gives cells enough time without letting a runaway cell block the queue.
"""
import os
import sys

c = get_config()  # noqa: F821 - provided by traitlets when it reads this file

_HERE = os.path.dirname(os.path.abspath(__file__))

# nbgrader starts helper tools by name (`alembic` when it makes or upgrades a gradebook) and
# its kernels inherit PATH: put the folder of the Python running nbgrader first, so
# `.venv/bin/nbgrader ...` works without activating the virtual environment.
_BIN = os.path.dirname(sys.executable)
if _BIN not in os.environ.get("PATH", "").split(os.pathsep):
    os.environ["PATH"] = _BIN + os.pathsep + os.environ.get("PATH", "")

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
from nbconvert.preprocessors import ClearMetadataPreprocessor, CSSHTMLHeaderPreprocessor  # noqa: E402
from nbgrader.preprocessors import (  # noqa: E402
    AssignLatePenalties, CheckCellMetadata, ClearHiddenTests, ClearOutput, DeduplicateIds, GetGrades,
    IgnorePattern, LimitOutput, OverwriteCells, OverwriteKernelspec, SaveAutoGrades)

from ganlab_kit.grading.execute import GradeExecute, RestoreDeletedCells  # noqa: E402
from ganlab_kit.grading.feedback import HideScoreEcho, NamePartsInSummary, OfflineMaths  # noqa: E402

# Feedback that reads well offline: maths as MathML (no CDN), each graded cell named in the
# page's summary, no bare score echo under the checker's table (ganlab_kit/grading/feedback.py).
# NamePartsInSummary must come after CSSHTMLHeaderPreprocessor, which replaces the inlined CSS.
c.GenerateFeedback.preprocessors = [GetGrades, ClearHiddenTests, HideScoreEcho, OfflineMaths,
                                    CSSHTMLHeaderPreprocessor, NamePartsInSummary]

# Autograde: nbgrader's own pipeline with two changes. Read-only cells a student deleted are
# restored from the source (RestoreDeletedCells), and GradeExecute runs the notebook in a
# sandboxed kernel (see ganlab_kit/grading/sandbox.py; c.Sandbox.* below) while the hidden
# checks run in a separate checker process that only exchanges plain data with the kernel.
# A grade cell's score comes from that checker, never from what the student's code prints.
c.Autograde.sanitize_preprocessors = [ClearOutput, DeduplicateIds, OverwriteKernelspec, OverwriteCells,
                                      RestoreDeletedCells, CheckCellMetadata]
c.Autograde.autograde_preprocessors = [GradeExecute, IgnorePattern, ClearMetadataPreprocessor, LimitOutput,
                                       SaveAutoGrades, AssignLatePenalties, CheckCellMetadata]
c.ClearMetadataPreprocessor.preserve_nb_metadata_mask = {"kernelspec", "language_info", "ganlab_grading"}

# Hand-in files (weights, runs, logs) are copied whole up to the size the sandbox lets a lab write:
# nbgrader's default (100 MB) silently leaves a bigger file behind at submit and collect.
c.CourseDirectory.max_file_size = 512 * 1024   # kB
c.CourseDirectory.max_dir_size = 1024 * 1024   # kB: nbgrader's 100 MB makes `submit` refuse such a folder

# formgrader shows each written answer's grading guide (autograder/<lab>/grading_guide.md) and the
# lab's example answer under the student's answer; the students' feedback pages never show them.
c.HTMLExporter.preprocessors = ["ganlab_kit.grading.formgrader.GradingGuides"]

# Limits of each submission's sandboxed kernel (defaults shown; see the README).
# c.Sandbox.mode = "auto"          # "require": refuse to grade without isolation; "off": no sandbox
# c.Sandbox.memory_mb = 4096
# c.Sandbox.cpu_seconds = 1800
# c.Sandbox.max_processes = 512
# c.Sandbox.wall_seconds = 3600
# c.Sandbox.max_file_mb = 512
# c.Sandbox.tmp_mb = 512
