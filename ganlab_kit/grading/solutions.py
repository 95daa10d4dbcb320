"""``ganlab solutions``: regenerate the executed solution notebooks with nbgrader.

``nbgrader generate_solution`` runs each source notebook with its solutions in a
throwaway course; the result is written to ``solutions/<assignment>/``. The runs use
the kit's trained reference generator (placed next to the notebook, and loaded
instead of training, as under the autograder), seeds fix every random number, and
volatile metadata (execution timestamps, widget state) is dropped, so regenerating
gives the same bytes.
"""
from __future__ import annotations

import os
import shutil
import tempfile
from pathlib import Path
from typing import Callable, List, Optional, Sequence

import nbformat
from nbformat import NotebookNode

from .course import Course, Repository, find_repository, require_nbgrader
from .demo import reference_files
from .notebook import read_notebook

__all__ = ["normalize_notebook", "generate_solutions"]

_WIDGET_VIEW = "application/vnd.jupyter.widget-view+json"


def normalize_notebook(notebook: NotebookNode) -> NotebookNode:
    """Drop what changes from run to run: execution timestamps, widget state and widget views;
    merge consecutive prints to one stream (how many messages a print arrives in depends on
    the machine's load, not on the notebook)."""
    notebook.metadata.pop("widgets", None)
    for cell in notebook.cells:
        cell.metadata.pop("execution", None)
        if cell.cell_type != "code":
            continue
        kept = []
        for output in cell.outputs:
            data = output.get("data")
            if data is not None and _WIDGET_VIEW in data:
                data.pop(_WIDGET_VIEW)
                if not data:
                    continue
            if (output.get("output_type") == "stream" and kept and kept[-1].get("output_type") == "stream"
                    and kept[-1].get("name") == output.get("name")):
                kept[-1]["text"] = kept[-1]["text"] + output["text"]
                continue
            kept.append(output)
        cell.outputs = kept
    return notebook


def generate_solutions(output: Optional[os.PathLike] = None, repository: Optional[Repository] = None,
                       assignments: Optional[Sequence[str]] = None,
                       log: Callable[[str], None] = print) -> List[Path]:
    """Execute every assignment's solution through nbgrader into ``output`` (default ``solutions/``)."""
    require_nbgrader()
    repository = repository or find_repository()
    output = Path(output) if output else repository.root / "solutions"
    names = list(assignments or repository.assignment_names())
    written = []
    with tempfile.TemporaryDirectory(prefix="ganlab-solutions-") as scratch:
        course = Course.create(Path(scratch) / "course", repository, names, course_id="ganlab-solutions")
        environment = course.environment()
        # the grading budget: a run with a saved generator.pt loads it instead of training
        environment["NBGRADER_EXECUTION"] = "solution"
        # the reference student hands in the kit's shipped weights on purpose (provenance.py)
        from .provenance import ALLOW_KIT_WEIGHTS_ENV

        environment[ALLOW_KIT_WEIGHTS_ENV] = "1"
        for name in names:
            if (repository.autograder / name / "submissions.py").is_file():
                # the files the reference student hands in (generator.pt, ...) lie next to the notebook
                for file_name, path in reference_files(repository, name, Path(scratch) / "files" / name).items():
                    shutil.copyfile(path, course.root / "source" / name / file_name)
            log(f"nbgrader generate_solution {name}")
            executed = read_notebook(course.generate_solution(name, environment))
            target = output / name / f"{name}.ipynb"
            target.parent.mkdir(parents=True, exist_ok=True)
            nbformat.write(normalize_notebook(executed), os.fspath(target))
            written.append(target)
    return written
