"""Issue 22: answers and weights that come from the kit earn nothing, honest work keeps its points.

The checks run in process on the PyTorch lab's answer cells (no nbgrader): the same
NotebookServer answers them as in a sandboxed kernel, so the call tracing is the same.
"""
import functools

import numpy as np
import pytest
import torch

from ganlab_kit.grading import provenance
from ganlab_kit.grading.provenance import (KIT_ANSWERS, KIT_WEIGHTS_THRESHOLD, CallWatch,
                                           shipped_weights_match)
from ganlab_kit.grading.remote import InProcessConnection, NotebookServer, RemoteNamespace
from ganlab_kit.grading.notebook import read_notebook
from ganlab_kit.grading.submissions import Edit
from lab_checks import grade_all, namespace_with, source_notebook

ASSETS = provenance._ASSETS

# ---------------------------------------------------------------- the tracer itself


def _notebook(namespace, watch):
    server = NotebookServer(namespace)
    connection = InProcessConnection(server)
    nb = RemoteNamespace(connection, ".")
    connection.request({"op": "watch", "paths": list(watch)}, [])
    return server, nb


def _hits(server):
    return list(server._watch.hits)


LOSS = "ganlab_kit.torch_gan.losses:discriminator_loss"
D_REAL, D_FAKE = torch.full((4, 1), 0.7), torch.full((4, 1), 0.2)


def _spellings():
    import ganlab_kit.torch_gan.losses as L
    from ganlab_kit.torch_gan import losses as kit_losses
    from ganlab_kit.torch_gan.losses import discriminator_loss as aliased

    def wrapper(d_real, d_fake):
        return L.discriminator_loss(d_real, d_fake)

    def module_attribute(d_real, d_fake):
        return kit_losses.discriminator_loss(d_real, d_fake) * 1.0

    return {
        "direct import": aliased,
        "alias in a wrapper": wrapper,
        "module attribute": module_attribute,
        "functools.partial": functools.partial(L.discriminator_loss, loss="non_saturating"),
        "lambda": lambda d_real, d_fake: L.discriminator_loss(d_real, d_fake),
    }


@pytest.mark.parametrize("spelling", sorted(_spellings()))
def test_every_spelling_of_delegation_is_seen(spelling):
    server, nb = _notebook({"discriminator_loss": _spellings()[spelling]}, [LOSS])
    nb.discriminator_loss(D_REAL, D_FAKE)
    assert _hits(server) == [LOSS.replace(":", ".")]


def test_own_code_and_the_checks_own_kit_calls_are_not_delegation():
    def discriminator_loss(d_real, d_fake):
        bce = torch.nn.BCELoss()
        return bce(d_real, torch.ones_like(d_real)) + bce(d_fake, torch.zeros_like(d_fake))

    server, nb = _notebook({"discriminator_loss": discriminator_loss}, [LOSS])
    mine = nb.discriminator_loss(D_REAL, D_FAKE)
    kit = nb.ref(LOSS)(D_REAL, D_FAKE)          # the checks compare with the kit's answer
    assert nb.new(LOSS, D_REAL, D_FAKE) == pytest.approx(float(kit))
    assert float(mine) == pytest.approx(float(kit), rel=1e-5)
    assert _hits(server) == []


def test_the_checks_handle_on_the_same_kit_function_does_not_hide_the_students():
    """The checks fetch the kit's reference first (nb.ref); the notebook's name is that very function."""
    from ganlab_kit.torch_gan.losses import discriminator_loss

    server, nb = _notebook({"discriminator_loss": discriminator_loss}, [LOSS])
    nb.ref(LOSS)(D_REAL, D_FAKE)
    assert _hits(server) == []
    nb.discriminator_loss(D_REAL, D_FAKE)
    assert _hits(server) == [LOSS.replace(":", ".")]


def test_a_call_made_by_other_kit_code_is_allowed():
    """The kit's discriminator_loss calls the kit's _bce: only the student's own call counts."""
    import ganlab_kit.torch_gan.losses as L

    def uses_the_kit(d_real, d_fake):
        return L.discriminator_loss(d_real, d_fake)

    server, nb = _notebook({"f": uses_the_kit}, ["ganlab_kit.torch_gan.losses:_bce"])
    nb.f(D_REAL, D_FAKE)
    assert _hits(server) == []
    server, nb = _notebook({"f": uses_the_kit}, ["ganlab_kit.torch_gan.losses:_bce", LOSS])
    nb.f(D_REAL, D_FAKE)
    assert _hits(server) == [LOSS.replace(":", ".")]


def test_kit_pieces_outside_the_parts_list_stay_allowed():
    """A generator of the student's own that uses the kit's Reshape layer and its noise helper
    (handed out by the notebook for other cells) is the student's work."""
    from torch import nn

    from ganlab_kit.torch_gan.models import Reshape, sample_noise

    class Generator(nn.Module):
        def __init__(self, latent_dim=100):
            super().__init__()
            self.net = nn.Sequential(nn.Linear(latent_dim, 784), nn.Tanh(), Reshape(1, 28, 28))

        def forward(self, z):
            return self.net(z)

    server, nb = _notebook({"Generator": Generator, "sample_noise": sample_noise},
                           KIT_ANSWERS["pytorch_gan/generator"])
    generator = nb.Generator()
    assert tuple(generator(torch.zeros(2, 100)).shape) == (2, 1, 28, 28)
    nb.sample_noise(3)
    assert _hits(server) == []


def test_a_subclass_of_the_kits_model_is_seen():
    from ganlab_kit.torch_gan import MLPGenerator

    class Generator(MLPGenerator):
        pass

    server, nb = _notebook({"Generator": Generator}, KIT_ANSWERS["pytorch_gan/generator"])
    nb.Generator()
    assert "ganlab_kit.torch_gan.models.MLPGenerator" in _hits(server)


def test_the_tracer_leaves_a_running_tracer_in_place():
    import sys

    seen = []

    def outer(frame, event, arg):
        seen.append(frame.f_code.co_name)
        return None

    watch = CallWatch([LOSS])
    previous = sys.gettrace()
    sys.settrace(outer)
    try:
        with watch:
            import ganlab_kit.torch_gan.losses as L
            (lambda: L.discriminator_loss(D_REAL, D_FAKE))()
        assert sys.gettrace() is outer
    finally:
        sys.settrace(previous)
    assert "discriminator_loss" in seen and watch.hits == [LOSS.replace(":", ".")]


def test_every_listed_kit_answer_imports():
    """A renamed kit function would silently stop being watched."""
    missing = []
    for part, paths in KIT_ANSWERS.items():
        for path in paths:
            if path.startswith("ganlab_kit.keras_gan"):
                continue  # imports TensorFlow (slow); the Keras labs' demo tests cover these
            if not CallWatch([path]).names:
                missing.append(f"{part}: {path}")
    assert missing == []


# ---------------------------------------------------------------- the PyTorch lab, graded
PARTS = ["noise", "reshape", "discriminator_loss", "generator_loss"]

#: quiet bugs in the four parts (each loses some of its part's points)
BUGS = (
    Edit("noise_answer", "return torch.randn(batch_size, latent_dim)",
         "return torch.rand(batch_size, latent_dim) * 2 - 1"),
    Edit("reshape_answer", "math.prod(in_shape) == math.prod(out_shape)",
         "len(in_shape) == len(out_shape)"),
    Edit("discriminator_loss_answer", "return real_loss + fake_loss", "return real_loss"),
    Edit("generator_loss_answer", "torch.ones_like(d_fake))", "torch.zeros_like(d_fake))"),
)

#: the same four answers, each replaced by a call into the kit (four spellings)
DELEGATED = (
    Edit("noise_answer", "return torch.randn(batch_size, latent_dim)",
         "from ganlab_kit.torch_gan.models import sample_noise as kit_noise\n"
         "    return kit_noise(batch_size, latent_dim)"),
    Edit("reshape_answer", "def can_reshape(in_shape, out_shape):",
         "from ganlab_kit.torch_gan.layer_spec import can_reshape\n"
         "def _my_draft(in_shape, out_shape):"),
    Edit("discriminator_loss_answer", "def discriminator_loss(d_real, d_fake):",
         "import functools\nimport ganlab_kit.torch_gan.losses as L\n"
         "discriminator_loss = functools.partial(L.discriminator_loss, loss='non_saturating')\n"
         "def _my_draft(d_real, d_fake):"),
    Edit("generator_loss_answer", "def generator_loss(d_fake):",
         "import ganlab_kit.torch_gan.losses as L\n"
         "generator_loss = lambda d_fake: L.generator_loss(d_fake)\n"
         "def _my_draft(d_fake):"),
)


@pytest.fixture(scope="module")
def pytorch_source():
    return read_notebook(source_notebook("pytorch_gan"))


def test_kit_answers_score_no_more_than_the_bugs_and_say_why(pytorch_source, tmp_path):
    honest = grade_all("pytorch_gan", namespace_with(pytorch_source), PARTS, tmp_path)
    buggy = grade_all("pytorch_gan", namespace_with(pytorch_source, BUGS), PARTS, tmp_path)
    delegated = grade_all("pytorch_gan", namespace_with(pytorch_source, DELEGATED), PARTS, tmp_path)
    assert all(result.passed for result in honest.values())
    for part in PARTS:
        assert buggy[part].score < buggy[part].max_score, part       # the bugs are real
        assert delegated[part].score == 0, part
        assert all("kit's own reference implementation" in check.feedback
                   for check in delegated[part].checks), part
    assert sum(r.score for r in delegated.values()) <= sum(r.score for r in buggy.values())


# ---------------------------------------------------------------- weights from the kit
def _mlp_state():
    from ganlab_kit.grading.safe_load import load_tensors

    return load_tensors(ASSETS / "reference_mlp_generator.pt")


def test_the_shipped_generators_are_recognised_in_every_form(tmp_path):
    state = _mlp_state()
    as_float32 = {k: v.float() for k, v in state.items()}
    torch.save(as_float32, tmp_path / "generator.pt")
    generator = torch.Generator().manual_seed(1)
    noisy = {k: v + 0.05 * v.std() * torch.randn(v.shape, generator=generator)
             if v.is_floating_point() and v.numel() > 1 else v for k, v in as_float32.items()}
    for form in (state, tmp_path / "generator.pt", noisy):
        match = shipped_weights_match(form)
        assert match is not None and match[0] == "reference_mlp_generator.pt"
        assert match[1] <= KIT_WEIGHTS_THRESHOLD
    keras = shipped_weights_match(ASSETS / "reference_keras_generator.npz")
    assert keras is not None and keras[1] == 0


def test_an_independent_generator_is_not_the_kits():
    from ganlab_kit.torch_gan import MLPGenerator

    torch.manual_seed(123)
    fresh = MLPGenerator()
    assert shipped_weights_match(fresh) is None
    assert shipped_weights_match([np.zeros((3, 3))]) is None  # another architecture


def test_the_shipped_weights_earn_no_quality_points(pytorch_source, tmp_path, monkeypatch):
    """The issue's case: the untouched release notebook plus the kit's reference_mlp_generator.pt
    converted to float32, handed in as generator.pt."""
    from lab_checks import release_namespace

    torch.save({k: v.float() for k, v in _mlp_state().items()}, tmp_path / "generator.pt")
    namespace = release_namespace(pytorch_source)
    allowed = grade_all("pytorch_gan", namespace, ["quality"], tmp_path)["quality"]
    assert allowed.score == allowed.max_score > 0  # the demo course allows the kit's weights
    monkeypatch.delenv(provenance.ALLOW_KIT_WEIGHTS_ENV, raising=False)
    result = grade_all("pytorch_gan", namespace, ["quality"], tmp_path)["quality"]
    assert result.score == 0
    assert all("reference_mlp_generator.pt" in check.feedback for check in result.checks)


def test_a_shipped_failure_modes_run_is_recognised(tmp_path, monkeypatch):
    import json

    monkeypatch.delenv(provenance.ALLOW_KIT_WEIGHTS_ENV, raising=False)
    shipped = np.load(ASSETS / "failure_modes" / "collapsed_samples.npy")
    history = json.loads((ASSETS / "failure_modes" / "collapsed_history.json").read_text())
    rng = np.random.default_rng(0)
    for name in ("collapse", "rerun"):  # a copy, and an honest rerun of the seeded run
        np.save(tmp_path / f"{name}_samples.npy", np.clip(shipped + 0.01 * rng.standard_normal(shipped.shape), -1, 1))
    (tmp_path / "collapse_history.json").write_text(json.dumps(history, indent=1))
    (tmp_path / "rerun_history.json").write_text(json.dumps({**history, "seconds": history["seconds"] + 37}))
    np.save(tmp_path / "overpower_samples.npy", rng.uniform(-1, 1, shipped.shape).astype(np.float32))
    found = provenance.kit_files_in("failure_modes/runs", tmp_path)
    assert [(name, source) for name, source, _ in found] == [("collapse_samples.npy", "collapsed_samples.npy")]


def test_delegation_is_seen_through_the_checker_process(pytorch_source, tmp_path, monkeypatch):
    """The same over the socket to a separate checker process (what a grade cell and the
    autograder's kernel do): the trace runs in the notebook's process, only names come back."""
    from ganlab_kit.grading.checker import _LOCAL, check_in_subprocess
    from lab_checks import AUTOGRADER

    monkeypatch.setenv("GANLAB_AUTOGRADER", str(AUTOGRADER))
    try:
        delegated = check_in_subprocess("pytorch_gan/reshape", namespace_with(pytorch_source, DELEGATED), tmp_path)
        honest = check_in_subprocess("pytorch_gan/reshape", namespace_with(pytorch_source), tmp_path)
    finally:
        for checker in _LOCAL.values():
            checker.close()
        _LOCAL.clear()
    assert delegated.score == 0 and "layer_spec.can_reshape" in delegated.checks[0].feedback
    assert honest.passed


def test_the_playground_reference_log_is_recognised(tmp_path, monkeypatch):
    """The kit's reference log handed in (reformatted) loses the log's parts; an edited one is
    the student's business (the evidence checks judge it)."""
    import json

    from lab_checks import AUTOGRADER

    monkeypatch.delenv(provenance.ALLOW_KIT_WEIGHTS_ENV, raising=False)
    reference = AUTOGRADER / "playground" / "reference_log" / "playground_log.jsonl"
    records = [json.loads(line) for line in reference.read_text().splitlines() if line.strip()]
    (tmp_path / "playground_log.jsonl").write_text("\n".join(json.dumps(r, indent=None, sort_keys=True)
                                                             for r in records) + "\n")
    found = provenance.kit_files_in("playground/log", tmp_path, AUTOGRADER / "playground")
    assert [name for name, _, _ in found] == ["playground_log.jsonl"]
    records[0]["time"] = "2026-12-07T10:00:00"
    (tmp_path / "playground_log.jsonl").write_text("\n".join(json.dumps(r) for r in records) + "\n")
    assert provenance.kit_files_in("playground/log", tmp_path, AUTOGRADER / "playground") == []


@pytest.mark.keras
def test_the_keras_labs_shipped_weights_are_recognised_as_handed_in(tmp_path):
    from ganlab_kit.keras_gan.lab import write_reference_generator

    path = write_reference_generator(tmp_path / "generator.weights.h5")
    assert shipped_weights_match(path) == ("reference_keras_generator.npz", 0.0)


@pytest.mark.keras
def test_keras_lab_pieces_and_detectors_from_the_kit_are_seen():
    from ganlab_kit.keras_gan import failure, lab

    missing = [path for paths in KIT_ANSWERS.values() for path in paths
               if path.startswith("ganlab_kit.keras_gan") and not CallWatch([path]).names]
    assert missing == []

    def create_generator():          # a wrapper around the kit's lab generator
        return lab.build_lab_generator()

    server, nb = _notebook({"create_generator": create_generator}, KIT_ANSWERS["keras_gan/generator"])
    nb.create_generator()
    assert _hits(server) == ["ganlab_kit.keras_gan.lab.build_lab_generator"]

    history = {"d_acc": [0.99] * 300, "d_loss": [0.01] * 300, "g_loss": [5.0] * 300}
    server, nb = _notebook({"discriminator_overpowers": failure.discriminator_overpowers},
                           KIT_ANSWERS["failure_modes/overpowering_detector"])
    nb.discriminator_overpowers(history)
    assert _hits(server) == ["ganlab_kit.keras_gan.failure.discriminator_overpowers"]

    def mode_collapsed(images_or_labels, max_classes=3, min_share=0.05):  # own code using kit data helpers
        counts = np.bincount(np.asarray(images_or_labels), minlength=10) / len(images_or_labels)
        return int((counts >= min_share).sum()) <= max_classes

    server, nb = _notebook({"mode_collapsed": mode_collapsed}, KIT_ANSWERS["failure_modes/collapse_detector"])
    assert nb.mode_collapsed([1] * 50 + [2] * 50) is True
    assert _hits(server) == []
