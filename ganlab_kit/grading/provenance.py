"""Whose work is it? Answers and weights that come from the kit itself.

Two questions the per-submission grader asks besides "is it right":

* **Does the answer delegate to the kit's reference implementation?** The kit ships working
  losses, noise, models, ``can_reshape``, the Keras lab pieces and the failure detectors, so
  ``from ganlab_kit.torch_gan.losses import discriminator_loss`` would pass every check of the
  part that asks the student to write it. :data:`KIT_ANSWERS` names, per graded part, the kit
  functions and classes that *are* that part's answer. While the checks call the student's
  code, a :class:`CallWatch` inside the notebook's process traces which of those the student's
  code actually calls (``sys.settrace``: an alias, a module attribute, a wrapper, a lambda,
  :func:`functools.partial` or a subclass all run the same code objects), and the checker
  (:func:`apply_delegation`) turns that part into 0 points with a feedback line saying why.
  A call made by other kit code (the trainer, a widget, the scoring) is not the student's
  answer and stays allowed, as does every kit function outside the part's list.
* **Are the handed-in weights the kit's own?** :func:`shipped_weights_match` compares a
  generator's tensors with every generator the kit ships (``ganlab_kit/assets/reference_*``)
  by relative distance per tensor; a copy, a float32 conversion, a light perturbation or a
  short fine-tune lies far closer to its source than any two independent trainings do.

Only plain data crosses between the checker and the notebook (the import paths of
:data:`KIT_ANSWERS` one way, the names of the functions called the other).
"""
from __future__ import annotations

import importlib
import inspect
import json
import os
import sys
from pathlib import Path
from typing import Any, Dict, Iterable, List, Mapping, Optional, Sequence, Tuple

__all__ = ["KIT_ANSWERS", "CallWatch", "kit_answers_of", "apply_delegation",
           "delegation_feedback", "SHIPPED_GENERATORS", "shipped_weights_match",
           "weights_distance", "KIT_WEIGHTS_THRESHOLD", "kit_weights_feedback", "KIT_FILES",
           "ALLOW_KIT_WEIGHTS_ENV", "kit_files_in", "apply_kit_files", "shipped_run_match",
           "KIT_REFERENCE_FILES", "same_as_reference_files"]

_TG = "ganlab_kit.torch_gan"
_KG = "ganlab_kit.keras_gan"

#: part -> the kit functions / classes that are that part's answer ("module:name").
#: Using the kit anywhere else (data, widgets, scoring, the trainer where the notebook
#: hands it out) is allowed; calling one of these from the part's answer is not.
KIT_ANSWERS: Dict[str, Tuple[str, ...]] = {
    # PyTorch lab
    "pytorch_gan/noise": (f"{_TG}.models:sample_noise",),
    "pytorch_gan/generator": (f"{_TG}.models:MLPGenerator", f"{_TG}.models:DCGANGenerator",
                              f"{_TG}.models:build_models", f"{_TG}.models:playground_fc",
                              f"{_TG}.models:playground_conv", f"{_TG}.layer_spec:build_module"),
    "pytorch_gan/reshape": (f"{_TG}.layer_spec:can_reshape",),
    "pytorch_gan/discriminator": (f"{_TG}.models:MLPDiscriminator", f"{_TG}.models:DCGANDiscriminator",
                                  f"{_TG}.models:build_models", f"{_TG}.models:playground_fc",
                                  f"{_TG}.models:playground_conv", f"{_TG}.layer_spec:build_module"),
    "pytorch_gan/optimizers": (f"{_TG}.trainer:make_adam",),
    "pytorch_gan/discriminator_loss": (f"{_TG}.losses:discriminator_loss", f"{_TG}.losses:_bce",
                                       f"{_TG}.losses:real_fake_targets"),
    "pytorch_gan/generator_loss": (f"{_TG}.losses:generator_loss", f"{_TG}.losses:_bce"),
    "pytorch_gan/train_discriminator": (f"{_TG}.trainer:Trainer",),
    "pytorch_gan/train_generator": (f"{_TG}.trainer:Trainer",),
    # DCGAN lab
    "dcgan/labels": (f"{_TG}.losses:real_fake_targets", f"{_TG}.losses:LabelTricks"),
    "dcgan/noise": (f"{_TG}.models:sample_noise",),
    "dcgan/generator": (f"{_TG}.models:DCGANGenerator", f"{_TG}.models:build_models",
                        f"{_TG}.layer_spec:build_module"),
    "dcgan/discriminator": (f"{_TG}.models:DCGANDiscriminator", f"{_TG}.models:build_models",
                            f"{_TG}.layer_spec:build_module"),
    "dcgan/optimizers": (f"{_TG}.trainer:make_adam",),
    "dcgan/coverage": (f"{_TG}.tiling:transposed_stack", f"{_TG}.tiling:overlap_map"),
    # Keras lab
    "keras_gan/optimizers": (f"{_KG}.lab:lab_dis_optimizer", f"{_KG}.lab:lab_gan_optimizer",
                             f"{_KG}.gan:_default_adam", f"{_KG}.algorithm1:_adam"),
    "keras_gan/generator": (f"{_KG}.lab:build_lab_generator", f"{_KG}.models:build_generator",
                            f"{_KG}.failure:build_networks"),
    "keras_gan/discriminator": (f"{_KG}.lab:build_lab_discriminator", f"{_KG}.models:build_discriminator",
                                f"{_KG}.failure:build_networks"),
    "keras_gan/create_gan": (f"{_KG}.lab:build_lab_gan", f"{_KG}.algorithm1:build_combined",
                             f"{_KG}.failure:build_combined_model"),
    "keras_gan/train_gan": (f"{_KG}.algorithm1:AlgorithmOneTrainer", f"{_KG}.algorithm1:train_step_algorithm1",
                            f"{_KG}.algorithm1:discriminator_step", f"{_KG}.algorithm1:generator_step",
                            f"{_KG}.gan:GAN", f"{_KG}.failure:training_turn"),
    # failure-modes lab
    "failure_modes/pretrain": (f"{_KG}.failure:pretrain_discriminator",),
    "failure_modes/combined": (f"{_KG}.failure:build_combined_model", f"{_KG}.algorithm1:build_combined",
                               f"{_KG}.lab:build_lab_gan"),
    "failure_modes/turn": (f"{_KG}.failure:training_turn", f"{_KG}.algorithm1:train_step_algorithm1",
                           f"{_KG}.algorithm1:discriminator_step", f"{_KG}.algorithm1:generator_step"),
    "failure_modes/overpowering_detector": (f"{_KG}.failure:discriminator_overpowers",),
    "failure_modes/collapse_detector": (f"{_KG}.failure:mode_collapsed", f"{_KG}.failure:classes_covered"),
    # 2-D lab
    "gan_2d/heatmap": ("ganlab_kit.widgets.gan2d_state:discriminator_heatmap",),
    "gan_2d/gradients": ("ganlab_kit.widgets.gan2d_state:fake_point_gradients",),
    # Playground
    "playground/reshape": (f"{_TG}.layer_spec:can_reshape",),
}


def kit_answers_of(part: str) -> Tuple[str, ...]:
    """The kit's reference pieces for ``part`` ("assignment/part"); empty when it has none."""
    return KIT_ANSWERS.get(part, ())


# --------------------------------------------------------------------------- kernel side
_KIT_DIR = Path(__file__).resolve().parents[1]
_GRADING_DIR = Path(__file__).resolve().parent
_SERVER_FILE = os.path.normcase(str(_GRADING_DIR / "remote.py"))


def _import_path(path: str) -> Any:
    module_name, _, attributes = path.partition(":")
    target: Any = importlib.import_module(module_name)
    for name in attributes.split("."):
        target = getattr(target, name)
    return target


def _codes_of(target: Any) -> List[Any]:
    """The code objects that run when ``target`` (a function or a class) is used."""
    target = inspect.unwrap(target) if callable(target) else target
    if inspect.isfunction(target):
        return [target.__code__]
    if inspect.isclass(target):
        codes = []
        for value in vars(target).values():
            if isinstance(value, (staticmethod, classmethod)):
                value = value.__func__
            if isinstance(value, property):
                value = value.fget
            if inspect.isfunction(value):
                codes.append(value.__code__)
        return codes
    return []


def _kit_file(filename: str) -> bool:
    """Whether ``filename`` is the kit's own code (the grading server excepted)."""
    name = os.path.normcase(os.path.abspath(filename))
    if name == _SERVER_FILE or name.startswith(os.path.normcase(str(_GRADING_DIR))):
        return False
    return name.startswith(os.path.normcase(str(_KIT_DIR)) + os.sep)


class CallWatch:
    """Inside the notebook's process: which of ``paths`` the student's code calls.

    :meth:`active` wraps one call of the student's code (a check's question). A watched code
    object that starts running counts when the frame that called it is not the kit's own
    code: the student's function, a lambda, or the grading server itself (the notebook's
    name *is* the kit's function, an alias, a partial or a subclass).
    """

    def __init__(self, paths: Iterable[str]) -> None:
        self.names: Dict[Any, str] = {}
        for path in paths:
            try:
                target = _import_path(str(path))
            except Exception:  # a lab without that library (no TensorFlow): nothing to watch
                continue
            for code in _codes_of(target):
                self.names[code] = str(path).replace(":", ".")
        self.hits: List[str] = []
        self._depth = 0

    def _trace(self, frame: Any, event: str, arg: Any) -> None:
        name = self.names.get(frame.f_code)
        if name is not None and name not in self.hits:
            caller = frame.f_back
            if caller is None or not _kit_file(caller.f_code.co_filename):
                self.hits.append(name)
        return None

    def __enter__(self) -> "CallWatch":
        self._depth += 1
        if self._depth == 1 and self.names:
            self._previous = sys.gettrace()
            previous = self._previous
            if previous is None:
                sys.settrace(self._trace)
            else:  # a debugger or coverage is tracing: keep it working
                def chained(frame: Any, event: str, arg: Any) -> Any:
                    self._trace(frame, event, arg)
                    return previous(frame, event, arg)
                sys.settrace(chained)
        return self

    def __exit__(self, *exc: Any) -> None:
        self._depth -= 1
        if self._depth == 0 and self.names:
            sys.settrace(self._previous)


# --------------------------------------------------------------------------- checker side
def delegation_feedback(hits: Sequence[str]) -> str:
    names = ", ".join(f"`{name}`" for name in hits)
    return (f"This part's answer calls the kit's own reference implementation ({names}) "
            "instead of code you wrote, so it earns no points. Write this part yourself; "
            "the kit's helpers are for the cells where the notebook hands them out.")


def apply_delegation(result: Any, hits: Sequence[str]) -> Any:
    """``result`` (a PartResult) with every check failed for delegating to the kit."""
    if not hits:
        return result
    from .results import CheckResult, PartResult

    feedback = delegation_feedback(hits)
    checks = [CheckResult(check.name, check.question, check.points, False, feedback)
              for check in result.checks]
    return PartResult(result.assignment, result.part, checks, result.error)


# --------------------------------------------------------------------------- weights
_ASSETS = _KIT_DIR / "assets"

#: The generators the kit ships (file names under ganlab_kit/assets).
SHIPPED_GENERATORS = ("reference_mlp_generator.pt", "reference_dcgan_generator.pt",
                      "reference_fashion_dcgan_generator.pt", "reference_keras_generator.npz")

#: Largest median relative distance (||a - b|| / ||b|| per tensor) at which handed-in weights
#: count as the kit's own. Calibrated in docs/similarity.md (benchmarks/bench_similarity.py): a
#: copy or float32 conversion is 0, noise of 10 % of each tensor's spread 0.09, a 100-step
#: fine-tune of the shipped MLP generator at the lab's settings 0.19 (400 steps: 0.41, which
#: escapes); two trainings from the *same* initialisation on different batches are 0.68 apart
#: after 300 steps, independent trainings ~1.13 from the shipped weights.
KIT_WEIGHTS_THRESHOLD = 0.35


def _arrays_of(source: Any) -> List[Any]:
    """Float arrays (in order) of a state dict, a module, an .npz / .pt / .h5 path, or a list."""
    import numpy as np

    if isinstance(source, (str, os.PathLike)):
        path = Path(source)
        if path.suffix == ".npz":
            with np.load(path, allow_pickle=False) as data:
                return [np.asarray(data[key], dtype=np.float64) for key in data.files]
        if path.suffix in (".h5", ".keras"):
            return _h5_arrays(path)
        from .safe_load import load_tensors

        source = load_tensors(path)
    if hasattr(source, "state_dict") and callable(source.state_dict):
        source = source.state_dict()
    if hasattr(source, "get_weights") and callable(source.get_weights):
        return [np.asarray(w, dtype=np.float64) for w in source.get_weights()]
    if isinstance(source, Mapping):
        source = list(source.values())
    arrays = []
    for value in source:
        if hasattr(value, "detach"):
            value = value.detach().cpu().double().numpy()
        array = np.asarray(value)
        if array.dtype.kind in "fiu":
            arrays.append(array.astype(np.float64))
    return arrays


def _h5_arrays(path: Path) -> List[Any]:
    import h5py
    import numpy as np

    arrays: List[Any] = []

    def visit(_name: str, item: Any) -> None:
        if isinstance(item, h5py.Dataset) and item.dtype.kind == "f":
            arrays.append(np.asarray(item[()], dtype=np.float64))

    with h5py.File(path, "r") as handle:
        handle.visititems(visit)
    return arrays


def weights_distance(candidate: Sequence[Any], reference: Sequence[Any]) -> Optional[float]:
    """Median over tensors of ``||a - b|| / ||b||`` when both hold the same shapes (any
    order of equal shapes is matched in order); None when the architectures differ."""
    import numpy as np

    if len(candidate) != len(reference) or not reference:
        return None
    shapes = sorted(tuple(a.shape) for a in candidate)
    if shapes != sorted(tuple(b.shape) for b in reference):
        return None
    if not all(np.all(np.isfinite(a)) for a in candidate):
        return None
    pool: Dict[Tuple[int, ...], List[Any]] = {}
    for array in candidate:
        pool.setdefault(tuple(array.shape), []).append(array)
    distances = []
    for b in reference:  # tensors of equal shape (batch-norm vectors) pair with their nearest
        scale = float(np.linalg.norm(b)) or 1.0
        options = pool[tuple(b.shape)]
        gaps = [float(np.linalg.norm(a - b)) / scale for a in options]
        best = int(np.argmin(gaps))
        options.pop(best)
        distances.append(gaps[best])
    return float(np.median(distances))


_SHIPPED_CACHE: Dict[str, List[Any]] = {}


def _shipped(name: str) -> List[Any]:
    if name not in _SHIPPED_CACHE:
        path = _ASSETS / name
        try:
            _SHIPPED_CACHE[name] = _arrays_of(path) if path.is_file() else []
        except Exception:
            _SHIPPED_CACHE[name] = []
    return _SHIPPED_CACHE[name]


def shipped_weights_match(source: Any, threshold: float = KIT_WEIGHTS_THRESHOLD
                          ) -> Optional[Tuple[str, float]]:
    """``(shipped file name, distance)`` when ``source``'s weights are (a light change of) a
    generator the kit ships; None otherwise. ``source``: a module, state dict, path or arrays."""
    try:
        arrays = _arrays_of(source)
    except Exception:
        return None
    best: Optional[Tuple[str, float]] = None
    for name in SHIPPED_GENERATORS:
        distance = weights_distance(arrays, _shipped(name))
        if distance is not None and distance <= threshold and (best is None or distance < best[1]):
            best = (name, distance)
    return best


def kit_weights_feedback(match: Tuple[str, float]) -> str:
    name, distance = match
    return (f"The handed-in weights are the kit's own shipped generator ({name}, relative "
            f"distance {distance:.3g}) or a light change of it, not a generator you trained: "
            "no quality points. Train your own generator and hand in its weights.")


# --------------------------------------------------------------------------- runs and the rule
#: part -> the handed-in files (globs) that must not be the kit's own shipped ones.
KIT_FILES: Dict[str, Tuple[str, ...]] = {
    "pytorch_gan/quality": ("generator.pt",),
    "dcgan/quality": ("generator.pt",),
    "dcgan/fashion_quality": ("fashion_generator.pt",),
    "keras_gan/quality": ("generator.weights.h5",),
    "failure_modes/runs": ("*_samples.npy",),   # with the shipped run's own history beside it
}

#: Set to 1 only by the kit's own demo and test courses, whose reference students hand in the
#: kit's shipped weights and runs on purpose (they stand for a student's training).
ALLOW_KIT_WEIGHTS_ENV = "GANLAB_ALLOW_KIT_WEIGHTS"

#: Largest relative distance at which handed-in samples count as a shipped reference run's.
KIT_RUN_THRESHOLD = 0.05


def shipped_run_match(path: Any, threshold: float = KIT_RUN_THRESHOLD) -> Optional[Tuple[str, float]]:
    """``(shipped run file, distance)`` when a ``*_samples.npy`` is (nearly) one the kit ships
    under ``assets/failure_modes``; None otherwise."""
    import numpy as np

    try:
        samples = np.load(path, allow_pickle=False).astype(np.float64)
    except Exception:
        return None
    best: Optional[Tuple[str, float]] = None
    for reference in sorted((_ASSETS / "failure_modes").glob("*_samples.npy")):
        shipped = _shipped_run(reference)
        if shipped is None or shipped.shape != samples.shape or not np.all(np.isfinite(samples)):
            continue
        distance = float(np.linalg.norm(samples - shipped) / (np.linalg.norm(shipped) or 1.0))
        if distance <= threshold and (best is None or distance < best[1]):
            best = (reference.name, distance)
    return best


def _shipped_run(path: Path) -> Any:
    key = f"run:{path.name}"
    if key not in _SHIPPED_CACHE:
        import numpy as np

        try:
            _SHIPPED_CACHE[key] = [np.load(path, allow_pickle=False).astype(np.float64)]
        except Exception:
            _SHIPPED_CACHE[key] = [None]
    return _SHIPPED_CACHE[key][0]


#: part -> (folder of reference files beside the part's checks, handed-in files (globs)): a
#: handed-in file with the same bytes, pixels (a PNG whose text was rewritten) or records (a
#: JSON-lines log) as one of the reference files is the kit's, not the student's.
#: (Snapshots are left out while every student trains with seed 0: an honest run of the same
#: preset could draw the reference's very pixels; the log's records carry the run's time.)
_PLAYGROUND_LOG = ("reference_log", ("playground_log.jsonl",))
KIT_REFERENCE_FILES: Dict[str, Tuple[str, Tuple[str, ...]]] = {
    "playground/log": _PLAYGROUND_LOG,
    "playground/first_run": _PLAYGROUND_LOG,
    "playground/fc_vs_conv": _PLAYGROUND_LOG,
    "playground/configurations": _PLAYGROUND_LOG,
}


def same_as_reference_files(directory: Any, reference_dir: Any, patterns: Sequence[str]
                            ) -> List[Tuple[str, str, float]]:
    """``(handed-in file, reference file, 0.0)`` for each handed-in file matching ``patterns``
    whose bytes, pixels or JSON records equal a file of ``reference_dir`` (a kit helper for
    any lab that ships reference logs or snapshots)."""
    from .similarity import _file_signatures

    reference = Path(reference_dir)
    if not reference.is_dir():
        return []
    known: Dict[Tuple[str, str], str] = {}
    for path in sorted(reference.iterdir()):
        if path.is_file():
            for kind, value in _file_signatures(path).items():
                if kind in ("bytes", "pixels", "content"):
                    known[(kind, value)] = path.name
    found = []
    for pattern in patterns:
        for path in sorted(Path(directory).glob(pattern)):
            if not path.is_file() or path.stat().st_size > 64 * 1024 * 1024:
                continue
            for kind, value in _file_signatures(path).items():
                if (kind, value) in known:
                    found.append((path.name, known[(kind, value)], 0.0))
                    break
    return found


def kit_files_in(part: str, directory: Any, checks_dir: Any = None) -> List[Tuple[str, str, float]]:
    """``(handed-in file, shipped file, distance)`` for each of ``part``'s handed-in files that
    is the kit's own (see :data:`KIT_FILES` and :data:`KIT_REFERENCE_FILES`; ``checks_dir``: the
    folder of the part's checks); empty when none is, or the course allows it."""
    if os.environ.get(ALLOW_KIT_WEIGHTS_ENV) == "1":
        return []
    found = []
    folder = Path(directory or os.getcwd())
    if part in KIT_REFERENCE_FILES and checks_dir is not None:
        reference, patterns = KIT_REFERENCE_FILES[part]
        found += same_as_reference_files(folder, Path(checks_dir) / reference, patterns)
    for pattern in KIT_FILES.get(part, ()):
        for path in sorted(folder.glob(pattern)):
            if not path.is_file() or path.stat().st_size > 512 * 1024 * 1024:
                continue
            if path.suffix == ".npy":
                match = shipped_run_match(path)
                if match is not None and not _same_history(path, match[0]):
                    match = None  # same pictures, its own record: an honest rerun of a seeded run
            else:
                match = shipped_weights_match(path)
            if match is not None:
                found.append((path.name, match[0], match[1]))
    return found


def _same_history(samples: Path, shipped_samples: str) -> bool:
    """Whether the run's ``*_history.json`` beside ``samples`` holds the shipped run's very
    records (its timing included). The failure-modes runs are seeded, so an honest student
    whose code computes what the reference computes can redraw the shipped samples; the
    record of the run (seconds it took) is still their own."""
    mine = samples.with_name(samples.name.replace("_samples.npy", "_history.json"))
    theirs = _ASSETS / "failure_modes" / shipped_samples.replace("_samples.npy", "_history.json")
    try:
        return json.loads(mine.read_text()) == json.loads(theirs.read_text())
    except (OSError, ValueError):
        return False


_WEIGHTS = (".pt", ".pth", ".npz", ".h5", ".keras")


def apply_kit_files(result: Any, found: Sequence[Tuple[str, str, float]]) -> Any:
    """``result`` (a PartResult) with every check failed: the handed-in files are the kit's."""
    if not found:
        return result
    from .results import CheckResult, PartResult

    feedback = " ".join(
        f"{name} is the kit's own shipped "
        f"{'run' if name.endswith('.npy') else 'generator' if name.endswith(_WEIGHTS) else 'reference file'} "
        f"({shipped}, relative distance {distance:.3g}) or a light change of it, not one you made."
        for name, shipped, distance in found) + " No points for this part: hand in your own."
    checks = [CheckResult(check.name, check.question, check.points, False, feedback)
              for check in result.checks]
    return PartResult(result.assignment, result.part, checks, result.error)
