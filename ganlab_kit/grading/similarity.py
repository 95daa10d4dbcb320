"""A similarity report for a class: which pairs of students handed in the same work?

``ganlab similarity LAB`` (and the end of ``ganlab autograde``) compares every pair of
submissions of one lab in an nbgrader course:

* **answer cells**: the code cells a student writes (nbgrader ``solution`` cells), one
  document per student, fingerprinted with ``copydetect`` (pygments tokens, names -> V/F/O,
  comments and layout dropped, k-gram hashes winnowed). Renaming variables, reordering
  functions and changing comments or formatting leave the fingerprints as they were. The
  release notebook's given code and the kit's own source are *boilerplate*: their k-grams are
  removed before comparing, so starting from the same stub is not similarity.
* **handed-in files**: identical bytes, identical pixels (a PNG whose text chunk was rewritten),
  and near-identical weights / arrays (median relative distance per tensor, as
  :mod:`.provenance` uses for the kit's own weights). Files equal to the kit's shipped
  generators or runs are listed too.

It writes ``similarity.html`` (ranked pairs, then each flagged pair side by side with the shared
regions highlighted) and ``similarity.csv``. It flags pairs for a person to judge; it changes
no grade.
"""
from __future__ import annotations

import csv
import hashlib
import html
import io
import json
import os
import time
from dataclasses import dataclass, field
from itertools import combinations
from pathlib import Path
from typing import Any, Callable, Dict, Iterable, List, Optional, Sequence, Tuple

__all__ = ["Student", "PairResult", "SimilarityReport", "answer_cells", "load_class",
           "compare_class", "write_report", "similarity_for_course", "THRESHOLD",
           "NOISE_THRESHOLD", "GUARANTEE_THRESHOLD"]

#: copydetect's k (characters of filtered code a shared region must reach) and the length
#: every shared region of that size is guaranteed to be found at (the winnowing window).
NOISE_THRESHOLD = 20
GUARANTEE_THRESHOLD = 26
#: Code similarity (share of a student's own, non-boilerplate tokens found in the other's)
#: at or above which a pair is flagged. Calibrated on the synthetic class (docs/similarity.md).
THRESHOLD = 0.6
#: Median relative distance below which two weight / array files count as the same.
NEAR_FILES = 0.05
#: Flagged pairs shown side by side on the page (the table and the CSV list them all).
MAX_SIDE_BY_SIDE = 200

_WEIGHT_SUFFIXES = {".pt", ".pth", ".npz", ".h5", ".keras", ".npy"}
_SKIP_PARTS = {".ipynb_checkpoints", "__pycache__"}


@dataclass
class Student:
    """One submission: its answer cells and handed-in files."""

    name: str
    cells: Dict[str, str]                       # grade_id -> code the student wrote
    files: Dict[str, Path] = field(default_factory=dict)   # relative name -> path

    def document(self) -> str:
        return "".join(f"# --- {cell} ---\n{code.rstrip()}\n\n" for cell, code in self.cells.items())


@dataclass
class PairResult:
    first: str
    second: str
    similarity: float              # max of the two shares below (the copier's view)
    shares: Tuple[float, float]    # share of each one's own tokens found in the other's
    shared_tokens: int
    slices: Tuple[Any, Any] = (None, None)
    shared_files: List[str] = field(default_factory=list)   # "a.pt = b.pt (identical bytes)"
    flagged: bool = False


@dataclass
class SimilarityReport:
    assignment: str
    students: List[Student]
    pairs: List[PairResult]
    kit_files: Dict[str, List[str]]    # student -> "generator.pt = reference_mlp_generator.pt"
    threshold: float
    seconds: float = 0.0

    def flagged(self) -> List[PairResult]:
        return [pair for pair in self.pairs if pair.flagged]

    def to_text(self, limit: int = 10) -> str:
        lines = [f"similarity of {len(self.students)} submissions of {self.assignment}: "
                 f"{len(self.flagged())} pair(s) flagged (code similarity >= {self.threshold:.2f} "
                 f"or shared files), {self.seconds:.1f} s"]
        for pair in self.pairs[:limit]:
            mark = "FLAG" if pair.flagged else "    "
            extra = f"; {', '.join(pair.shared_files)}" if pair.shared_files else ""
            lines.append(f"  {mark} {pair.similarity:5.2f}  {pair.first} ~ {pair.second}{extra}")
        for student, found in sorted(self.kit_files.items()):
            lines.append(f"  KIT  {student}: {', '.join(found)}")
        return "\n".join(lines)


# --------------------------------------------------------------------------- reading a class
def answer_cells(notebook: Any) -> Dict[str, str]:
    """grade_id -> source of each code cell the student writes (nbgrader ``solution`` cells)."""
    from .notebook import nbgrader_metadata, read_notebook

    if isinstance(notebook, (str, os.PathLike)):
        notebook = read_notebook(notebook)
    cells = {}
    for index, cell in enumerate(notebook.cells):
        meta = nbgrader_metadata(cell)
        if cell.cell_type == "code" and meta.get("solution"):
            cells[str(meta.get("grade_id") or f"cell{index}")] = cell.source
    return cells


def given_code(notebook: Any) -> List[str]:
    """The release notebook's code students start from (boilerplate): every code cell, and its
    answer cells as one student document (so the stubs' seams are boilerplate too)."""
    from .notebook import read_notebook

    if isinstance(notebook, (str, os.PathLike)):
        notebook = read_notebook(notebook)
    return ["\n\n".join(cell.source for cell in notebook.cells if cell.cell_type == "code"),
            Student("release", answer_cells(notebook)).document()]


def load_class(course_dir: os.PathLike, assignment: str) -> List[Student]:
    """Every submission of ``assignment`` in the course's ``submitted/`` folder."""
    root = Path(course_dir)
    students = []
    for folder in sorted((root / "submitted").glob(f"*/{assignment}")):
        if not folder.is_dir():
            continue
        cells: Dict[str, str] = {}
        files: Dict[str, Path] = {}
        for path in sorted(folder.rglob("*")):
            relative = path.relative_to(folder)
            if not path.is_file() or _SKIP_PARTS & set(relative.parts):
                continue
            if path.suffix == ".ipynb":
                try:
                    cells.update({f"{relative.stem}:{k}" if relative.stem != assignment else k: v
                                  for k, v in answer_cells(path).items()})
                except Exception:  # an unreadable notebook: compare its files only
                    pass
            elif path.name != "timestamp.txt":
                files[relative.as_posix()] = path
        students.append(Student(folder.parent.name, cells, files))
    return students


def release_notebook(course_dir: os.PathLike, assignment: str) -> Optional[Path]:
    root = Path(course_dir)
    for candidate in (root / "release" / assignment / f"{assignment}.ipynb",
                      root / "source" / assignment / f"{assignment}.ipynb"):
        if candidate.is_file():
            return candidate
    return None


# --------------------------------------------------------------------------- fingerprints
def _kit_source() -> str:
    kit = Path(__file__).resolve().parents[1]
    return "\n\n".join(path.read_text(errors="replace") for path in sorted(kit.rglob("*.py"))
                       if "grading" not in path.parts)


_KIT_HASHES: Dict[int, Any] = {}


def _kit_hashes(k: int) -> Any:
    """The k-gram hashes of the kit's own code (about 2 s; kept for the process in
    :data:`_KIT_HASHES`). Never cached on disk: copydetect hashes with Python's ``hash()``,
    which differs from process to process, so another process's hashes would match nothing."""
    import numpy as np
    from copydetect.utils import filter_code, hashed_kgrams

    filtered, _ = filter_code(_kit_source(), "x.py", "python")
    return np.unique(np.asarray(hashed_kgrams(filtered, k=k)))


def boilerplate_hashes(texts: Iterable[str], k: int = NOISE_THRESHOLD, with_kit: bool = True) -> Any:
    """Every k-gram hash of ``texts`` (and of the kit's own code): removed before comparing."""
    import numpy as np
    from copydetect.utils import filter_code, hashed_kgrams

    arrays = []
    for text in texts:
        filtered, _ = filter_code(text, "x.py", "python")
        if len(filtered) >= k:
            arrays.append(np.asarray(hashed_kgrams(filtered, k=k)))
    if with_kit:
        if k not in _KIT_HASHES:
            _KIT_HASHES[k] = _kit_hashes(k)
        arrays.append(_KIT_HASHES[k])
    return np.unique(np.concatenate(arrays)) if arrays else np.array([], dtype=np.int64)


def _fingerprint(document: str, boilerplate: Any) -> Any:
    from copydetect import CodeFingerprint

    return CodeFingerprint("answers.py", NOISE_THRESHOLD, GUARANTEE_THRESHOLD - NOISE_THRESHOLD + 1,
                           boilerplate=boilerplate, fp=io.StringIO(document), language="python")


# --------------------------------------------------------------------------- files
def _file_signatures(path: Path) -> Dict[str, Any]:
    """``bytes`` (sha256), ``pixels`` (sha256 of a picture's decoded pixels), ``arrays``
    (a fixed sample of a weight / array file's values)."""
    import numpy as np

    signatures: Dict[str, Any] = {}
    data = path.read_bytes()
    signatures["bytes"] = hashlib.sha256(data).hexdigest()
    if path.suffix.lower() == ".png":
        try:
            from PIL import Image

            with Image.open(io.BytesIO(data)) as picture:
                signatures["pixels"] = hashlib.sha256(
                    picture.mode.encode() + repr(picture.size).encode() + picture.tobytes()).hexdigest()
        except Exception:
            pass
    elif path.suffix.lower() in (".json", ".jsonl"):
        try:
            lines = [json.dumps(json.loads(line), sort_keys=True)
                     for line in data.decode("utf-8").splitlines() if line.strip()]
            signatures["content"] = hashlib.sha256("\n".join(lines).encode()).hexdigest()
        except Exception:
            pass
    elif path.suffix.lower() in _WEIGHT_SUFFIXES:
        try:
            if path.suffix == ".npy":
                arrays = [np.load(path, allow_pickle=False).astype(np.float64)]
            else:
                from .provenance import _arrays_of

                arrays = _arrays_of(path)
            signatures["arrays"] = _sample(arrays)
        except Exception:
            pass
    return signatures


def _sample(arrays: Sequence[Any], per_tensor: int = 2048) -> List[Tuple[Tuple[int, ...], Any]]:
    """A fixed sample of each tensor's values (the same positions for the same shape)."""
    import numpy as np

    sampled = []
    for array in arrays:
        flat = np.asarray(array, dtype=np.float64).ravel()
        if flat.size > per_tensor:
            positions = np.random.default_rng(flat.size).choice(flat.size, per_tensor, replace=False)
            flat = flat[np.sort(positions)]
        sampled.append((tuple(np.shape(array)), flat))
    return sorted(sampled, key=lambda item: item[0])


def _near(first: Any, second: Any) -> bool:
    import numpy as np

    if len(first) != len(second) or [s for s, _ in first] != [s for s, _ in second] or not first:
        return False
    gaps = []
    for (_, a), (_, b) in zip(first, second):
        if not (np.all(np.isfinite(a)) and np.all(np.isfinite(b))):
            return False
        gaps.append(float(np.linalg.norm(a - b)) / (float(np.linalg.norm(b)) or 1.0))
    return float(np.median(gaps)) <= NEAR_FILES


def _shared_files(first: Dict[str, Dict[str, Any]], second: Dict[str, Dict[str, Any]]) -> List[str]:
    shared = []
    for name_a, sig_a in first.items():
        for name_b, sig_b in second.items():
            label = f"{name_a}" if name_a == name_b else f"{name_a} = {name_b}"
            if sig_a["bytes"] == sig_b["bytes"]:
                shared.append(f"{label} (identical bytes)")
            elif sig_a.get("pixels") and sig_a.get("pixels") == sig_b.get("pixels"):
                shared.append(f"{label} (identical pixels)")
            elif sig_a.get("content") and sig_a.get("content") == sig_b.get("content"):
                shared.append(f"{label} (identical records)")
            elif sig_a.get("arrays") and sig_b.get("arrays") and _near(sig_a["arrays"], sig_b["arrays"]):
                shared.append(f"{label} (near-identical values)")
    return shared


def _kit_files(student: Student) -> List[str]:
    from .provenance import shipped_run_match, shipped_weights_match

    found = []
    for name, path in student.files.items():
        if path.suffix not in _WEIGHT_SUFFIXES:
            continue
        match = shipped_run_match(path) if path.suffix == ".npy" else shipped_weights_match(path)
        if match is not None:
            found.append(f"{name} = kit's {match[0]}")
    return found


# --------------------------------------------------------------------------- comparing
def compare_class(students: Sequence[Student], given: Sequence[str] = (), threshold: float = THRESHOLD,
                  with_kit: bool = True, assignment: str = "") -> SimilarityReport:
    """Every pair of ``students`` compared; ``given``: the release notebook's code (boilerplate)."""
    from copydetect.detector import compare_files

    started = time.perf_counter()
    boilerplate = boilerplate_hashes(given, with_kit=with_kit)
    prints = {student.name: _fingerprint(student.document(), boilerplate) for student in students}
    signatures = {student.name: {name: _file_signatures(path) for name, path in student.files.items()}
                  for student in students}
    pairs = []
    for first, second in combinations(students, 2):
        a, b = prints[first.name], prints[second.name]
        if a.token_coverage and b.token_coverage:
            tokens, shares, slices = compare_files(a, b)
        else:
            tokens, shares, slices = 0, (0.0, 0.0), (None, None)
        shares = (float(shares[0]), float(shares[1]))
        shared = _shared_files(signatures[first.name], signatures[second.name])
        pair = PairResult(first.name, second.name, max(shares), shares, int(tokens), slices, shared)
        pair.flagged = pair.similarity >= threshold or bool(shared)
        pairs.append(pair)
    pairs.sort(key=lambda pair: (-pair.similarity, -len(pair.shared_files), pair.first, pair.second))
    kit = {student.name: found for student in students if (found := _kit_files(student))}
    report = SimilarityReport(assignment, list(students), pairs, kit, threshold)
    report.seconds = time.perf_counter() - started
    return report


# --------------------------------------------------------------------------- writing
def _highlighted(document: str, slices: Any) -> str:
    if slices is None or getattr(slices, "size", 0) == 0 or slices.shape[-1] == 0:
        return html.escape(document)
    from copydetect.utils import highlight_overlap

    text, _ = highlight_overlap(document, slices, "<mark>", "</mark>", escape_html=True)
    return text


_STYLE = """<style>
body{font-family:sans-serif;margin:1.5em} table{border-collapse:collapse}
td,th{padding:3px 10px;border-bottom:1px solid #ddd;text-align:left;vertical-align:top}
.flag{color:#b42318;font-weight:bold} .side{display:flex;gap:1em}
.side pre{flex:1;background:#f6f8fa;padding:.6em;overflow:auto;font-size:12px;max-height:40em}
mark{background:#ffd37a}
</style>"""


def write_report(report: SimilarityReport, output: os.PathLike) -> Tuple[Path, Path]:
    """``similarity.html`` and ``similarity.csv`` in ``output``; their paths."""
    folder = Path(output)
    folder.mkdir(parents=True, exist_ok=True)
    csv_path, html_path = folder / "similarity.csv", folder / "similarity.html"
    with open(csv_path, "w", newline="") as handle:
        writer = csv.writer(handle)
        writer.writerow(["first", "second", "code_similarity", "first_share", "second_share",
                         "shared_tokens", "shared_files", "flagged"])
        for pair in report.pairs:
            writer.writerow([pair.first, pair.second, f"{pair.similarity:.3f}", f"{pair.shares[0]:.3f}",
                             f"{pair.shares[1]:.3f}", pair.shared_tokens, "; ".join(pair.shared_files),
                             int(pair.flagged)])
    documents = {student.name: student.document() for student in report.students}
    rows = []
    for number, pair in enumerate(report.pairs):
        link = f"<a href='#pair{number}'>{html.escape(pair.first)} ~ {html.escape(pair.second)}</a>" \
            if pair.flagged else f"{html.escape(pair.first)} ~ {html.escape(pair.second)}"
        rows.append(f"<tr><td class='{'flag' if pair.flagged else ''}'>{'flag' if pair.flagged else ''}</td>"
                    f"<td>{link}</td><td>{pair.similarity:.2f}</td>"
                    f"<td>{pair.shares[0]:.2f} / {pair.shares[1]:.2f}</td>"
                    f"<td>{html.escape('; '.join(pair.shared_files))}</td></tr>")
    details = []
    for number, pair in enumerate(report.pairs):
        if not pair.flagged:
            continue
        if len(details) == MAX_SIDE_BY_SIDE:
            details.append(f"<p>... and {len(report.flagged()) - MAX_SIDE_BY_SIDE} more flagged pairs "
                           "(all in the table above and the CSV).</p>")
            break
        left = _highlighted(documents[pair.first], pair.slices[0])
        right = _highlighted(documents[pair.second], pair.slices[1])
        files = "".join(f"<li>{html.escape(item)}</li>" for item in pair.shared_files)
        details.append(
            f"<h3 id='pair{number}'>{html.escape(pair.first)} ~ {html.escape(pair.second)}: "
            f"{pair.similarity:.2f}</h3>" + (f"<ul>{files}</ul>" if files else "")
            + f"<div class='side'><pre><b>{html.escape(pair.first)}</b>\n{left}</pre>"
            f"<pre><b>{html.escape(pair.second)}</b>\n{right}</pre></div>")
    kit = "".join(f"<li>{html.escape(student)}: {html.escape(', '.join(found))}</li>"
                  for student, found in sorted(report.kit_files.items()))
    page = (f"<!doctype html><html><head><meta charset='utf-8'><title>Similarity: "
            f"{html.escape(report.assignment)}</title>{_STYLE}</head><body>"
            f"<h1>Similarity of {html.escape(report.assignment)} ({len(report.students)} submissions)</h1>"
            "<p>Pairs ranked by the share of one student's own answer code (the release notebook's "
            "given code and the kit's code removed) that is found in the other's, after renaming, "
            f"reformatting and comments are set aside; flagged at {report.threshold:.2f} or with shared "
            "files. This page flags work for a person to judge; it changes no grade.</p>"
            + (f"<h2>Files that are the kit's own</h2><ul>{kit}</ul>" if kit else "")
            + "<h2>Pairs</h2><table><tr><th></th><th>pair</th><th>similarity</th><th>shares</th>"
            f"<th>shared files</th></tr>{''.join(rows)}</table><h2>Flagged pairs side by side</h2>"
            + ("".join(details) or "<p>None.</p>") + "</body></html>")
    html_path.write_text(page)
    return html_path, csv_path


def similarity_for_course(course_dir: os.PathLike, assignment: str, output: Optional[os.PathLike] = None,
                          threshold: float = THRESHOLD, log: Callable[[str], None] = print
                          ) -> SimilarityReport:
    """Compare the course's submissions of ``assignment``; write the page and the CSV to
    ``output`` (default ``<course>/reports/<assignment>/``)."""
    root = Path(course_dir).resolve()
    students = load_class(root, assignment)
    if not students:
        raise FileNotFoundError(f"no submissions of {assignment} in {root / 'submitted'}: run it in the "
                                "course folder or pass --course-dir")
    release = release_notebook(root, assignment)
    given = given_code(release) if release is not None else []
    report = compare_class(students, given, threshold, assignment=assignment)
    html_path, csv_path = write_report(report, output or root / "reports" / assignment)
    log(f"similarity: {len(report.flagged())} of {len(report.pairs)} pairs flagged; {html_path} and "
        f"{csv_path.name}")
    return report
