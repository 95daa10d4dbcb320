"""The prestarted, pre-imported kernel per submission (ganlab_kit/grading/kernel_pool.py, issue 24).

A local `ganlab autograde` worker starts the next submission's sandboxed kernel, and imports the
lab's libraries in it, while it grades the current one. These tests check the rules: the kernel
is adopted only by the submission it was started for and only when nothing it depends on changed;
it never serves two students; one that is not used leaves no process and no folder; execution
counts are those of a fresh kernel; and, run as root (CI), the student's own folder is writable.
The course tests grade a tiny assignment (numpy only, no checks) through the real engine.
"""
import json
import os
import shutil
import sys
import tempfile
import time
from pathlib import Path

import nbformat
import pytest

from ganlab_kit.grading import kernel_pool
from ganlab_kit.grading.sandbox import SandboxedKernelManager, isolation_status

REPO = Path(__file__).resolve().parent.parent
LAB = "lab"
ARGUMENTS = ["--HistoryManager.hist_file=:memory:"]

# Every student runs the same probe: it reports what it finds of an earlier student (a module
# attribute, a global, an environment variable, a builtin, a file in /tmp, a file next to its
# folder), fails if it finds any, then leaves all of them behind for the next student.
SETUP = "import sys\nPREIMPORTED = 'numpy' in sys.modules\nimport numpy\n"
PROBE = """import builtins, json, os
seen = [name for name, hit in [
    ("module", hasattr(numpy, "LEAK")), ("global", "LEAK" in globals()), ("env", "LEAK" in os.environ),
    ("builtin", hasattr(builtins, "LEAK")), ("tmp", os.path.exists("/tmp/ganlab-leak")),
    ("folder", os.path.exists("../../leak.txt"))] if hit]
print(json.dumps({"seen": seen, "preimported": PREIMPORTED, "cwd": os.getcwd()}))
numpy.LEAK = LEAK = builtins.LEAK = os.environ["LEAK"] = "earlier student"
open("/tmp/ganlab-leak", "w").write("earlier student")
try:
    open("../../leak.txt", "w").write("earlier student")
except OSError:
    pass
open("mine.txt", "w").write("written by the student")
assert not seen, seen
"""


def _notebook(setup: str, probe: str) -> nbformat.NotebookNode:
    nb = nbformat.v4.new_notebook()
    nb.metadata["kernelspec"] = {"name": "python3", "display_name": "Python 3", "language": "python"}
    probe_cell = nbformat.v4.new_code_cell(probe)
    probe_cell.metadata["nbgrader"] = {"grade": True, "grade_id": "probe", "points": 1, "solution": False,
                                       "locked": False, "task": False, "schema_version": 3}
    nb.cells = [nbformat.v4.new_code_cell(setup), probe_cell]
    return nb


@pytest.fixture(scope="module")
def pool_gradebook(tmp_path_factory):
    """A gradebook with one assignment: one notebook whose 1-point grade cell is the probe."""
    from nbgrader.api import Gradebook
    from nbgrader.utils import compute_checksum

    path = tmp_path_factory.mktemp("pool") / "gradebook.db"
    bin_dir = os.path.dirname(sys.executable)
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv("PATH", bin_dir + os.pathsep + os.environ.get("PATH", ""))
        with Gradebook(f"sqlite:///{path}", course_id="pool") as gradebook:
            gradebook.add_assignment(LAB)
            gradebook.add_notebook(LAB, LAB)
            gradebook.add_grade_cell("probe", LAB, LAB, max_score=1, cell_type="code")
            gradebook.add_source_cell("probe", LAB, LAB, cell_type="code", locked=False, source="",
                                      checksum=compute_checksum(_notebook("import numpy\n", "").cells[1]))
    return path


CRASH = "import os\nos._exit(1)   # the student's code kills its kernel\n"


def _course(root: Path, gradebook: Path, students) -> Path:
    """The course, graded with the kit's shipped config (GradeExecute, sandboxed kernels)."""
    root.mkdir(parents=True)
    (root / "nbgrader_config.py").write_text(
        "c = get_config()\n"
        f"load_subconfig({os.fspath(REPO / 'autograder' / 'nbgrader_config.py')!r})\n"
        "c.CourseDirectory.course_id = 'pool'\n")
    (root / "source" / LAB).mkdir(parents=True)
    nbformat.write(_notebook("import numpy\n", ""), os.fspath(root / "source" / LAB / f"{LAB}.ipynb"))
    shutil.copyfile(gradebook, root / "gradebook.db")
    for student in students:
        folder = root / "submitted" / student / LAB
        folder.mkdir(parents=True)
        nb = _notebook(SETUP, PROBE)
        if student == "dan":
            nb.cells.insert(1, nbformat.v4.new_code_cell(CRASH))
        nbformat.write(nb, os.fspath(folder / f"{LAB}.ipynb"))
        (folder / "timestamp.txt").write_text("2026-01-01 12:00:00")
    return root


def _processes_mentioning(text: str):
    found = []
    for entry in os.listdir("/proc"):
        if entry.isdigit():
            try:
                with open(f"/proc/{entry}/cmdline", "rb") as handle:
                    if text.encode() in handle.read():
                        found.append(int(entry))
            except OSError:
                continue
    return found


def _graded(root: Path, student: str):
    folder = root / "autograded" / student / LAB
    nb = nbformat.read(os.fspath(folder / f"{LAB}.ipynb"), as_version=4)
    probe = next(cell for cell in nb.cells if cell.metadata.get("nbgrader", {}).get("grade_id") == "probe")
    report = json.loads(next(output["text"] for output in probe.outputs if output.get("name") == "stdout"))
    return nb, report, folder


@pytest.fixture(scope="module")
def pooled_run(tmp_path_factory, pool_gradebook):
    """Three students graded one after the other by one worker (the second and third in kernels
    prestarted during the one before), then the same three with prestarting switched off."""
    if not isolation_status()[0]:
        pytest.skip("needs the bubblewrap sandbox (an unisolated kernel shares /tmp)")
    from ganlab_kit.grading import autograde as autograde_module
    from ganlab_kit.grading.autograde import autograde_course

    base = tmp_path_factory.mktemp("pooled")
    private_tmp = base / "tmp"
    private_tmp.mkdir()
    runs = {}
    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(tempfile, "tempdir", os.fspath(private_tmp))   # scratch courses land here
        for prestart in (True, False):
            patch.setattr(autograde_module, "PRESTART_KERNELS", prestart)
            root = _course(base / f"course-{prestart}", pool_gradebook, ["ann", "ben", "cat", "dan"])
            if os.path.exists("/tmp/ganlab-leak"):
                os.unlink("/tmp/ganlab-leak")   # the sandbox's /tmp is private: this one must stay absent
            report = autograde_course(root, LAB, workers=1)
            runs[prestart] = (root, report)
    leftovers = sorted(path.name for path in private_tmp.iterdir() if path.name.startswith("ganlab-autograde-"))
    return runs, leftovers, private_tmp


def test_prestarted_kernels_are_adopted_and_never_serve_two_students(pooled_run):
    """Does each student after the first get a kernel that was prestarted with numpy imported, and does
    none of them see anything an earlier student left (module attribute, global, environment, builtin,
    /tmp file, file beside its folder), so every probe keeps its point?"""
    runs, _, _ = pooled_run
    root, report = runs[True]
    assert report.statuses() == {"ann": "ok", "ben": "ok", "cat": "ok", "dan": "ok"}, report.to_text()
    preimported = {}
    for student in ("ann", "ben", "cat"):
        nb, seen, folder = _graded(root, student)
        assert seen["seen"] == [], (student, seen)
        assert seen["cwd"].endswith(f"/autograded/{student}/{LAB}")
        preimported[student] = seen["preimported"]
    assert sorted(preimported.values()) == [False, True, True], preimported   # the first kernel is fresh
    assert _rows(root) == {student: {"probe": 1.0} for student in ("ann", "ben", "cat", "dan")}
    assert not os.path.exists("/tmp/ganlab-leak")   # the sandbox's /tmp was private


def test_a_kernel_killed_by_the_student_is_restarted_fresh(pooled_run):
    """dan's notebook kills its (prestarted) kernel with os._exit before the probe: the grader restarts
    a fresh kernel (nothing pre-imported), replays the setup cell and the probe still keeps its point."""
    runs, _, _ = pooled_run
    root, report = runs[True]
    nb, seen, _ = _graded(root, "dan")
    assert seen == {"seen": [], "preimported": False, "cwd": seen["cwd"]}
    assert any(output.get("ename") == "KernelDied" for output in nb.cells[1].outputs)
    assert any("restarted" in problem for problem in nb.metadata["ganlab_grading"]["problems"])


def test_without_prestarting_nothing_is_preimported_and_points_are_the_same(pooled_run):
    """The same three students with prestarting off: no kernel had numpy before its notebook, and the
    recorded points and statuses are those of the pooled run."""
    runs, _, _ = pooled_run
    pooled_root, pooled = runs[True]
    plain_root, plain = runs[False]
    assert plain.statuses() == pooled.statuses()
    for student in ("ann", "ben", "cat", "dan"):
        assert _graded(plain_root, student)[1]["preimported"] is False
        assert _rows(plain_root)[student] == _rows(pooled_root)[student]


def _rows(root: Path):
    from nbgrader.api import Gradebook

    with Gradebook(f"sqlite:///{root / 'gradebook.db'}", course_id="pool") as gradebook:
        return {submission.student.id: {grade.name: grade.auto_score for notebook in submission.notebooks
                                        for grade in notebook.grades}
                for submission in gradebook.find_assignment(LAB).submissions}


def test_execution_counts_match_a_fresh_kernel(pooled_run):
    """The silent pre-imports and change of folder leave no trace in the graded notebook: its
    execution counts are those of a fresh kernel (1, 2), with and without prestarting."""
    runs, _, _ = pooled_run
    for prestart in (True, False):
        root, _ = runs[prestart]
        for student in ("ann", "ben", "cat"):
            nb, _, _ = _graded(root, student)
            assert [cell.execution_count for cell in nb.cells] == [1, 2], (prestart, student)


def test_the_students_folder_is_writable_and_given_back(pooled_run):
    """Run as root (CI), the sandbox runs as a fresh uid: the adopted kernel could still write in the
    student's folder (nbgrader copied the files in after the kernel started), and the files are the
    grader's again afterwards. A file beside the student's folder could not be written."""
    runs, _, _ = pooled_run
    root, _ = runs[True]
    for student in ("ann", "ben", "cat", "dan"):
        folder = root / "autograded" / student / LAB
        assert (folder / "mine.txt").read_text() == "written by the student"
        assert (folder / "mine.txt").stat().st_uid == os.geteuid()
    assert not list(root.rglob("leak.txt"))


def test_an_unused_prestarted_kernel_leaves_no_process_and_no_folder(pooled_run):
    """After the run, the kernel prestarted for a fourth student who never came is gone: no scratch
    course is left and no process runs in one."""
    _, leftovers, private_tmp = pooled_run
    assert leftovers == []
    assert _processes_mentioning(os.fspath(private_tmp)) == []


# ---------------------------------------------------------------------------- the pool itself
def _prepared(tmp_path: Path) -> Path:
    scratch = tmp_path / "next"   # the writer's prepared scratch course: empty autograded/ and sockets
    (scratch / kernel_pool.AUTOGRADED).mkdir(parents=True)
    (scratch / kernel_pool.SOCKETS).mkdir()
    return scratch


def _fresh_manager(scratch: Path, **sandbox) -> SandboxedKernelManager:
    from traitlets.config import Config

    config = Config()
    for name, value in sandbox.items():
        setattr(config.Sandbox, name, value)
    km = SandboxedKernelManager(kernel_name="python3", config=config)
    km.grader_socket_dir = os.fspath(scratch / kernel_pool.SOCKETS)
    return km


def _wait_dead(pid: int, timeout: float = 20.0) -> bool:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            with open(f"/proc/{pid}/stat") as handle:
                if handle.read().split(")")[-1].split()[0] == "Z":
                    return True
        except OSError:
            return True
        time.sleep(0.05)
    return False


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="kernels in sandboxes: Linux")
def test_a_mismatched_kernel_is_not_adopted_and_is_killed(tmp_path):
    """A kernel prestarted with other sandbox settings is not adopted by a notebook whose kernel would
    get memory_mb=2048: take() gives None and the prestarted kernel's process is gone. A notebook of
    another submission's folder leaves it parked."""
    scratch = _prepared(tmp_path)
    assert kernel_pool.prestart(_fresh_manager(scratch), os.fspath(scratch), ARGUMENTS, ["numpy"])
    entry = kernel_pool.parked()
    try:
        notebook_dir = scratch / kernel_pool.AUTOGRADED / "ann" / LAB
        notebook_dir.mkdir(parents=True)
        assert kernel_pool.socket_dir_for(os.fspath(notebook_dir)) == os.path.realpath(scratch / kernel_pool.SOCKETS)
        elsewhere = tmp_path / "other" / "autograded" / "ben" / LAB
        elsewhere.mkdir(parents=True)
        assert kernel_pool.take(os.fspath(elsewhere), ()) is None and kernel_pool.parked() is entry
        entry.thread.join(120)
        assert entry.error is None, entry.error
        pid = entry.km.provisioner.process.pid
        other = _fresh_manager(scratch, memory_mb=2048)
        assert kernel_pool.take(os.fspath(notebook_dir), kernel_pool.signature(other, ARGUMENTS)) is None
        assert kernel_pool.parked() is None and _wait_dead(pid)
        # the same settings: adopted, in the student's folder, numpy already imported, nothing in globals
        scratch = _prepared(tmp_path / "second")
        assert kernel_pool.prestart(_fresh_manager(scratch), os.fspath(scratch), ARGUMENTS, ["numpy"])
        notebook_dir = scratch / kernel_pool.AUTOGRADED / "ann" / LAB
        notebook_dir.mkdir(parents=True)
        same = _fresh_manager(scratch)
        import logging; km = kernel_pool.take(os.fspath(notebook_dir), kernel_pool.signature(same, ARGUMENTS), modules=["numpy"], log=logging.getLogger("pool"))
        assert km is not None
        try:
            code = ("import os, sys\nassert os.getcwd() == %r, os.getcwd()\nassert 'numpy' in sys.modules\n"
                    "assert 'numpy' not in globals() and '__ganlab_preimport' not in globals()\n"
                    "open('written.txt', 'w').write('ok')\n" % os.path.realpath(notebook_dir))
            assert kernel_pool._run_silently(km, code, 60)["status"] == "ok"
            assert (notebook_dir / "written.txt").read_text() == "ok"
            assert km.isolated == isolation_status()[0]
        finally:
            kernel_pool._kill(kernel_pool._Parked(km, "", "", (), []))
    finally:
        kernel_pool.discard()


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="kernels in sandboxes: Linux")
def test_discard_kills_the_parked_kernel_and_removes_its_folders(tmp_path):
    """An unused prestarted kernel (the run ended): discard() ends its process and removes the
    prepared autograded/ and socket folders; a kernel parked for the next run's folder is kept."""
    scratch = _prepared(tmp_path)
    assert kernel_pool.prestart(_fresh_manager(scratch), os.fspath(scratch), ARGUMENTS, [])
    entry = kernel_pool.parked()
    entry.thread.join(120)
    pid = entry.km.provisioner.process.pid
    assert not kernel_pool.discard(keep_inside=os.fspath(scratch)) and kernel_pool.parked() is entry
    assert kernel_pool.discard(keep_inside=os.fspath(tmp_path / "another-run"))
    assert kernel_pool.parked() is None and _wait_dead(pid)
    assert not (scratch / kernel_pool.AUTOGRADED).exists() and not (scratch / kernel_pool.SOCKETS).exists()


def test_preimports_are_the_allow_listed_imports_of_the_setup_cells():
    """The PyTorch lab's setup cell imports math, os, matplotlib.pyplot, torch, torch.nn and the kit:
    only the trusted libraries are pre-imported, nothing from an answer cell or below it, and no
    relative or shell-escaped import; the silent cell leaves no name behind."""
    nb = nbformat.read(os.fspath(REPO / "assignments" / "source" / "pytorch_gan" / "pytorch_gan.ipynb"), as_version=4)
    assert kernel_pool.preimport_modules(nb) == ["matplotlib.pyplot", "torch", "ganlab_kit.grading",
                                                 "ganlab_kit.grading.probes"]
    made = _notebook("import os\nimport numpy as np\nfrom . import local\n!pip install evil\nimport evil\n", "")
    answer = nbformat.v4.new_code_cell("import pandas")
    answer.metadata["nbgrader"] = {"solution": True, "grade": False, "grade_id": "a", "locked": False}
    made.cells.insert(1, answer)
    assert kernel_pool.preimport_modules(made) == ["numpy"]
    namespace: dict = {}
    exec(kernel_pool.preimport_code(["numpy"]), namespace)
    assert set(namespace) == {"__builtins__"}
    keras_code = kernel_pool.preimport_code(["ganlab_kit.keras_gan"])
    assert "require_tensorflow_backend" in keras_code
    assert kernel_pool.preimport_code(["os", "subprocess"]) == ""
    # a torch lab also gets what its first torch.optim optimizer imports, once
    assert "'torch._dynamo'" in kernel_pool.preimport_code(["torch"])
    assert "torch._dynamo" not in kernel_pool.preimport_code(["numpy"])


def test_preimports_follow_the_kits_lazy_names_and_submodules():
    """`from ganlab_kit.widgets import Playground` loads ganlab_kit.widgets.playground (a lazy name:
    the package alone imports neither it nor torch), `from ganlab_kit.keras_gan import failure` a
    sub-module: both are pre-imported; names of other packages and plain functions add nothing."""
    nb = nbformat.read(os.fspath(REPO / "assignments" / "source" / "playground" / "playground.ipynb"), as_version=4)
    assert kernel_pool.preimport_modules(nb) == ["ganlab_kit.grading", "ganlab_kit.widgets",
                                                 "ganlab_kit.widgets.playground"]
    made = _notebook("from ganlab_kit.keras_gan import failure, require_tensorflow_backend\n"
                     "from ganlab_kit.data import load_mnist\nfrom numpy import linalg\n"
                     "from ganlab_kit.widgets import NoSuchName\n", "")
    assert kernel_pool.preimport_modules(made) == ["ganlab_kit.keras_gan", "ganlab_kit.keras_gan.failure",
                                                   "ganlab_kit.keras_gan._backend", "ganlab_kit.data", "numpy",
                                                   "ganlab_kit.widgets"]


def test_the_nbgrader_worker_validates_notebooks_without_the_iri_grammars():
    """Does the nbgrader worker's start (nbformat, nbgrader's apps) import jsonschema without
    building rfc3987_syntax's Lark grammars (1.6 s CPU of every worker, nbgrader command and Jupyter
    server; kept out by the `jsonschema<4.24` pin of the grading extra), while nbformat still accepts
    a valid notebook and rejects a broken one?"""
    script = """
import sys
import nbformat, nbgrader.apps
good = nbformat.v4.new_notebook(cells=[nbformat.v4.new_code_cell("x = 1")])
nbformat.validate(good)
bad = nbformat.v4.new_notebook(cells=[nbformat.v4.new_code_cell("x = 1")])
bad.cells[0]["execution_count"] = "one"
try:
    nbformat.validate(bad)
except nbformat.ValidationError:
    rejected = True
else:
    rejected = False
print("lark" in sys.modules, "rfc3987_syntax" in sys.modules and sys.modules["rfc3987_syntax"] is not None, rejected)
"""
    import subprocess

    result = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, timeout=120)
    assert result.returncode == 0, result.stderr
    assert result.stdout.split() == ["False", "False", "True"]
