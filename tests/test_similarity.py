"""Issue 22: the class similarity report (``ganlab similarity LAB``) on a synthetic class."""
import csv
import io

import nbformat
import numpy as np
import pytest
import torch

from ganlab_kit.grading.similarity import THRESHOLD, Student, compare_class
from similarity_class import HONEST, release_and_source, synthetic_class


@pytest.fixture(scope="module")
def synthetic():
    students, copies, given = synthetic_class()
    return students, copies, compare_class(students, given, assignment="pytorch_gan")


def _is_copy(pair, copies):
    return frozenset((pair.first, pair.second)) in copies


def test_a_renamed_copy_ranks_first_and_honest_students_stay_below_the_threshold(synthetic):
    students, copies, report = synthetic
    with_original = [pair for pair in report.pairs if "honest_1" in (pair.first, pair.second)]
    assert {with_original[0].first, with_original[0].second} in (
        {"honest_1", "copy_renamed"}, {"honest_1", "copy_recommented"})
    renamed = next(pair for pair in with_original if "copy_renamed" in (pair.first, pair.second))
    assert renamed.similarity >= 0.9
    not_copies = [pair for pair in report.pairs if not _is_copy(pair, copies)]
    assert renamed.similarity > max(pair.similarity for pair in not_copies)
    honest = [pair for pair in not_copies if pair.first in HONEST or pair.second in HONEST]
    assert honest and max(pair.similarity for pair in honest) < THRESHOLD


def test_precision_and_recall_of_the_copy_pairs(synthetic):
    students, copies, report = synthetic
    flagged = {frozenset((pair.first, pair.second)) for pair in report.flagged()}
    assert flagged == copies  # precision 1 and recall 1 on this class (figures in docs/similarity.md)


def test_the_release_code_is_boilerplate(synthetic):
    """The untouched stub shares only the release's given code with everybody: similarity 0."""
    _, _, report = synthetic
    stub_pairs = [pair for pair in report.pairs if "stub" in (pair.first, pair.second)]
    assert stub_pairs and max(pair.similarity for pair in stub_pairs) == 0


def test_the_kits_own_code_is_boilerplate():
    """Two students who both paste the kit's own loss code are not each other's copies."""
    import inspect

    import ganlab_kit.torch_gan.losses as losses

    pasted = inspect.getsource(losses.discriminator_loss) + "\n" + inspect.getsource(losses._bce)
    own_a = "def helper(values):\n    total = 0\n    for v in values:\n        total += v * v\n    return total\n"
    own_b = "class Thing:\n    def __init__(self):\n        self.items = {k: [] for k in range(4)}\n"
    students = [Student("a", {"cell": pasted + "\n" + own_a}), Student("b", {"cell": pasted + "\n" + own_b})]
    without_kit = compare_class(students, with_kit=False).pairs[0]
    with_kit = compare_class(students).pairs[0]
    assert without_kit.similarity >= THRESHOLD > with_kit.similarity


@pytest.mark.parametrize("seed", ["1", "2"])
def test_the_kits_own_code_is_boilerplate_in_every_process(seed):
    """Does the kit's code stay boilerplate in a fresh process whatever its hash seed (copydetect
    hashes with hash(); a disk cache of another process's hashes matched nothing, and the pasted
    kit code then flagged two honest students once in CI)?"""
    import os
    import subprocess
    import sys

    code = "import test_similarity as t; t.test_the_kits_own_code_is_boilerplate(); print('ok')"
    environment = {**os.environ, "PYTHONHASHSEED": seed,
                   "PYTHONPATH": os.pathsep.join([os.path.dirname(__file__), os.environ.get("PYTHONPATH", "")])}
    result = subprocess.run([sys.executable, "-c", code], env=environment, capture_output=True,
                            text=True, timeout=300)
    assert result.stdout.strip() == "ok", result.stderr[-2000:]


def _png(path, pixels, text):
    from PIL import Image, PngImagePlugin

    info = PngImagePlugin.PngInfo()
    info.add_text("ganlab", text)
    Image.fromarray(pixels).save(path, pnginfo=info)


def test_shared_files_are_found(tmp_path):
    rng = np.random.default_rng(0)
    folders = {name: tmp_path / name for name in ("ann", "bob", "cy")}
    for folder in folders.values():
        folder.mkdir()
    pixels = rng.integers(0, 255, (28, 28), dtype=np.uint8)
    _png(folders["ann"] / "snap.png", pixels, '{"run": 1}')
    _png(folders["bob"] / "snap.png", pixels, '{"run": 2, "forged": true}')       # same pixels
    _png(folders["cy"] / "snap.png", rng.integers(0, 255, (28, 28), dtype=np.uint8), '{"run": 1}')
    weights = {"w": torch.randn(64, 32), "b": torch.randn(64)}
    torch.save(weights, folders["ann"] / "generator.pt")
    torch.save({k: v + 1e-3 * torch.randn_like(v) for k, v in weights.items()}, folders["bob"] / "generator.pt")
    torch.save({k: torch.randn_like(v) for k, v in weights.items()}, folders["cy"] / "generator.pt")
    for name in ("ann", "cy"):
        (folders[name] / "log.jsonl").write_text('{"a": 1, "b": 2}\n')
    students = [Student(name, {}, {p.name: p for p in folder.iterdir()}) for name, folder in folders.items()]
    pairs = {(pair.first, pair.second): pair for pair in compare_class(students).pairs}
    assert sorted(pairs["ann", "bob"].shared_files) == ["generator.pt (near-identical values)",
                                                        "snap.png (identical pixels)"]
    assert pairs["ann", "cy"].shared_files == ["log.jsonl (identical bytes)"]
    assert pairs["bob", "cy"].shared_files == [] and not pairs["bob", "cy"].flagged
    assert pairs["ann", "bob"].flagged and pairs["ann", "cy"].flagged


def _course(tmp_path, answers_by_student):
    """A course folder as nbgrader leaves it: release/ and submitted/<student>/pytorch_gan/."""
    from ganlab_kit.grading.notebook import student_copy

    release, source = release_and_source()
    (tmp_path / "release" / "pytorch_gan").mkdir(parents=True)
    nbformat.write(release, tmp_path / "release" / "pytorch_gan" / "pytorch_gan.ipynb")
    for student, answers in answers_by_student.items():
        folder = tmp_path / "submitted" / student / "pytorch_gan"
        folder.mkdir(parents=True)
        nbformat.write(student_copy(release, source, answers), folder / "pytorch_gan.ipynb")
        (folder / "timestamp.txt").write_text("2026-12-07 10:00:00")
    return tmp_path


def test_ganlab_similarity_writes_the_page_and_the_csv(synthetic, tmp_path, capsys):
    from ganlab_kit.cli import main
    from similarity_class import rename

    students = {st.name: st.cells for st in synthetic[0] if st.name in ("honest_2", "honest_3", "reference")}
    students["copycat"] = {cell: rename(code, {}) for cell, code in students["honest_2"].items()}
    course = _course(tmp_path / "course", students)
    assert main(["similarity", "pytorch_gan", "--course-dir", str(course)]) == 0
    out = capsys.readouterr().out
    assert "1 pair(s) flagged" in out
    rows = list(csv.DictReader(io.StringIO((course / "reports" / "pytorch_gan" / "similarity.csv").read_text())))
    assert {rows[0]["first"], rows[0]["second"]} == {"copycat", "honest_2"} and rows[0]["flagged"] == "1"
    assert all(row["flagged"] == "0" for row in rows[1:])
    page = (course / "reports" / "pytorch_gan" / "similarity.html").read_text()
    assert "<mark>" in page and "copycat" in page and "it changes no grade" in page


def test_ganlab_similarity_names_a_missing_course(tmp_path, capsys):
    from ganlab_kit.cli import main

    assert main(["similarity", "pytorch_gan", "--course-dir", str(tmp_path)]) == 2
    assert "no submissions of pytorch_gan" in capsys.readouterr().err
