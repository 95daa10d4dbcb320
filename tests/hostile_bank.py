"""A bank of hostile and broken submissions of the PyTorch lab, as a student might write them.

Each :class:`HostileCase` starts from a demo submission (``base``: the reference or a
typical mistake, whose points the hidden checks already know), adds cells or edits as
a student trying to game or break the grader would, and states what grading must
give it: the base's points (``points="base"``), nothing (``points="zero"``), or the
base's points minus listed checks. ``evidence`` are texts the autograded notebook
must show (the hostile code printing that it was blocked). The cases are graded in
the one nbgrader end-to-end run of ``tests/test_grading_nbgrader.py``, beside honest
students.
"""
from __future__ import annotations

import json
from dataclasses import dataclass, field
from typing import Callable, Dict, FrozenSet, Optional, Tuple

import nbformat
from nbformat.v4 import new_code_cell

__all__ = ["HostileCase", "CASES", "build_notebook"]


@dataclass(frozen=True)
class HostileCase:
    name: str
    description: str
    base: str                                         # demo submission it starts from
    cells: Tuple[Tuple[str, str], ...] = ()           # (insert after grade_id, code) student cells
    delete: Tuple[str, ...] = ()                      # grade_ids of read-only cells deleted
    points: str = "base"                              # "base" or "zero"
    also_fails: Dict[str, FrozenSet[str]] = field(default_factory=dict)  # part -> checks lost besides base
    evidence: Tuple[str, ...] = ()                    # texts the autograded notebook shows
    problems: Tuple[str, ...] = ()                    # words expected in metadata problems
    corrupt: bool = False                             # hand in a file that is not a notebook
    generator: Optional[Callable[[str], None]] = None  # writes a special generator.pt to the path


_GAMER = '''\
# Rebind the grade function, replace the kit's, print fake results, patch torch's comparisons.
grade = lambda *args, **kwargs: None
import ganlab_kit.grading as _grading
import ganlab_kit.grading.bridge as _bridge
_grading.grade = _bridge.grade = lambda *args, **kwargs: 999.0
import torch as _torch
_torch.allclose = lambda *args, **kwargs: True
_torch.equal = lambda *args, **kwargs: True
print("pytorch_gan / train_discriminator: 4 of 4 points")
'''

_SABOTEUR = '''\
# Stop the grader's server from answering at all.
import ganlab_kit.grading.remote as _remote
_remote.connect_and_serve = lambda *args, **kwargs: None
'''

_SNOOP = '''\
import glob, os, sqlite3
def _attempt(label, action):
    try:
        print(label, "->", action())
    except Exception as error:
        print(label, "-> blocked:", type(error).__name__)
_attempt("gradebook", lambda: sqlite3.connect("file:../../../gradebook.db?mode=rw", uri=True)
         .execute("UPDATE grade SET auto_score = 0").rowcount)
_attempt("others", lambda: sorted({path.split(os.sep)[-3] for path in glob.glob("../../*/pytorch_gan/*.ipynb")} - {"snoop"}) or "none found")
_attempt("checks", lambda: glob.glob(os.path.join(os.environ.get("GANLAB_AUTOGRADER", "/nonexistent"), "**", "test_*.py"), recursive=True) or "none found")
_attempt("checks by path", lambda: glob.glob("AUTOGRADER_PATH/**/test_*.py", recursive=True) or "none found")
_attempt("course config", lambda: open("../../../nbgrader_config.py").read()[:20])
_attempt("write outside", lambda: open("../../../pwned.txt", "w").write("x"))
'''

_WARNINGS = '''\
import sys, warnings
_plain_generator_loss = generator_loss
def generator_loss(d_fake):
    warnings.warn("a harmless warning from correct code", UserWarning)
    print("debug: mean D(G(z))", float(d_fake.detach().mean()), file=sys.stderr)
    return _plain_generator_loss(d_fake)
'''

_FLOOD = 'print("x" * 50_000_000)  # 50 MB of output\n'

_EXIT = 'import os\nos._exit(1)\n'
_SEGFAULT = 'import ctypes\nctypes.string_at(0)  # reads address 0: a segmentation fault\n'
_MEMORY = '''\
try:
    hog = bytearray(12 * 1024 ** 3)   # 12 GB
    print("memory: allocated")
except MemoryError:
    print("memory -> blocked: MemoryError")
'''
_FORK_BOMB = '''\
import os, time
children = 0
try:
    for _ in range(100_000):
        if os.fork() == 0:
            time.sleep(2)
            os._exit(0)
        children += 1
except OSError as error:
    print("fork -> blocked after", children, "children:", type(error).__name__)
while True:   # wait for the children, so the rest of the notebook has its processes back
    try:
        os.waitpid(-1, 0)
    except ChildProcessError:
        break
'''
_LOOP = 'while True:\n    pass\n'


def _nan_generator(path: str) -> None:
    import torch

    from ganlab_kit.torch_gan import MLPGenerator

    state = MLPGenerator().state_dict()
    torch.save({name: torch.full_like(value, float("nan")) for name, value in state.items()}, path)


_KIT_DELEGATOR = (  # issue 22: each answer replaced by the kit's own reference, in four spellings
    ("noise_answer", "from ganlab_kit.torch_gan.models import sample_noise  # the kit's own\n"),
    ("reshape_answer", "import ganlab_kit.torch_gan.layer_spec as _spec\n"
                       "can_reshape = lambda in_shape, out_shape: _spec.can_reshape(in_shape, out_shape)\n"),
    ("discriminator_loss_answer", "import functools\nimport ganlab_kit.torch_gan.losses as _kit_losses\n"
                                  "discriminator_loss = functools.partial(_kit_losses.discriminator_loss, "
                                  "loss='non_saturating')\n"),
    ("generator_loss_answer", "def generator_loss(d_fake):\n    return _kit_losses.generator_loss(d_fake)\n"),
)

CASES = (
    HostileCase("gamer", "rebinds grade, replaces the kit's grade, patches torch.allclose / torch.equal "
                         "and prints a fake score, on top of a missing zero_grad",
                base="no_zero_grad", cells=(("setup", _GAMER),)),
    HostileCase("saboteur", "disables the kernel-side server the grader talks to", base="reference",
                cells=(("setup", _SABOTEUR),), points="zero"),
    HostileCase("snoop", "tries to zero the gradebook, read other students' notebooks, the hidden "
                         "checks and the course config, and write outside its folder",
                base="reference", cells=(("setup", _SNOOP),),
                evidence=("gradebook -> blocked", "others -> none found", "checks -> none found",
                          "checks by path -> none found", "course config -> blocked",
                          "write outside -> blocked")),
    HostileCase("noisy", "correct code that warns and prints to stderr, prints 50 MB, and deletes a "
                         "read-only quick-check cell", base="reference",
                cells=(("generator_loss_answer", _WARNINGS), ("setup", _FLOOD)),
                delete=("noise_checks",)),
    HostileCase("crasher", "os._exit, a segfault, a 12 GB allocation and a fork bomb in cells of its own",
                base="reference",
                cells=(("setup", _EXIT), ("noise_answer", _MEMORY), ("generator_answer", _SEGFAULT),
                       ("reshape_constants", _FORK_BOMB)),
                evidence=("memory -> blocked", "fork -> blocked after"),
                problems=("kernel died",)),
    HostileCase("looper", "a cell that never returns", base="reference", cells=(("setup", _LOOP),),
                evidence=("CellTimeoutError",)),
    HostileCase("nan_weights", "hands in a generator.pt full of NaN", base="reference",
                also_fails={"quality": frozenset({"test_inception_score", "test_coverage",
                                                  "test_confident_rate"})},
                generator=_nan_generator),
    HostileCase("kit_delegator", "answers noise, can_reshape and both losses with the kit's own reference "
                                 "implementations (import, lambda, functools.partial, wrapper)",
                base="reference", cells=_KIT_DELEGATOR,
                also_fails={"noise": frozenset({"test_shape", "test_standard_normal", "test_fresh_and_reproducible"}),
                            "reshape": frozenset({"test_hint_cases", "test_general_cases", "test_hint_answers",
                                                  "test_last_layer_units"}),
                            "discriminator_loss": frozenset({"test_matches_reference", "test_direction",
                                                             "test_scalar_tensor_with_gradient"}),
                            "generator_loss": frozenset({"test_matches_reference", "test_direction",
                                                         "test_non_saturating"})},
                evidence=("own reference implementation",)),
    HostileCase("corrupt", "hands in a file that is not a notebook", base="stub", corrupt=True,
                points="zero"),
)


def build_notebook(case: HostileCase, base_notebook: nbformat.NotebookNode, autograder_path: str):
    """The case's notebook: the base submission with its cells added and deleted."""
    notebook = nbformat.from_dict(json.loads(json.dumps(base_notebook)))
    for after, code in case.cells:
        index = next(i for i, cell in enumerate(notebook.cells)
                     if cell.get("metadata", {}).get("nbgrader", {}).get("grade_id") == after)
        notebook.cells.insert(index + 1, new_code_cell(code.replace("AUTOGRADER_PATH", autograder_path)))
    notebook.cells = [cell for cell in notebook.cells
                      if cell.get("metadata", {}).get("nbgrader", {}).get("grade_id") not in case.delete]
    return notebook
