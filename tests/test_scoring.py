"""Tests of ganlab_kit.scoring: the shipped classifier, the scores, and their CLI."""
from __future__ import annotations

import json
import os
import subprocess
import sys
import textwrap

import numpy as np
import pytest
import torch

from ganlab_kit.cli import main
from ganlab_kit.data import load_mnist
from ganlab_kit.scoring import (CLASSIFIER_KERAS, QUALITY_BAR, SampleScores, as_image_batch,
                                class_histogram, classifier_record, classify, frechet_distance,
                                hand_label_agreement, inception_score, load_classifier,
                                score_generator, score_images)
from ganlab_kit.torch_gan import MLPGenerator


@pytest.fixture(scope="module")
def heldout():
    return load_mnist(split="test")


@pytest.fixture(scope="module")
def heldout_scores(heldout):
    return score_images(heldout.images)


def test_load_classifier_is_cached_frozen_and_on_cpu():
    """Does load_classifier return one cached CPU model in eval mode with frozen weights?"""
    model = load_classifier()
    assert model is load_classifier()
    assert not model.training
    assert all(p.device.type == "cpu" and not p.requires_grad for p in model.parameters())
    assert model(torch.zeros(2, 1, 28, 28)).shape == (2, 10)


def test_heldout_accuracy_is_high_and_matches_the_record(heldout):
    """Is the classifier accurate on held-out digits, exactly as its JSON record claims?"""
    labels, confidences = classify(heldout.images)
    accuracy = float(np.mean(labels == heldout.labels.numpy()))
    assert accuracy >= 0.95
    assert accuracy == pytest.approx(classifier_record()["heldout_accuracy"], abs=1e-3)
    assert labels.dtype == np.int64 and confidences.dtype == np.float32
    assert np.all((confidences > 0.1) & (confidences <= 1.0))


def test_every_accepted_layout_gives_the_same_labels(heldout):
    """Do (N,1,28,28), (N,28,28,1), (N,28,28), (N,784) tensors and arrays classify alike?"""
    images = heldout.images[:50]
    expected, _ = classify(images)
    layouts = [images.numpy(), images.permute(0, 2, 3, 1), images.permute(0, 2, 3, 1).numpy(),
               images[:, 0], images.reshape(50, 784).numpy()]
    for layout in layouts:
        labels, _ = classify(layout)
        np.testing.assert_array_equal(labels, expected)


@pytest.mark.parametrize("shape, fragment", [
    ((5, 3, 28, 28), "(5, 3, 28, 28)"),
    ((5, 32, 32), "(5, 32, 32)"),
    ((784,), "images[None]"),
    ((0, 784), "empty"),
])
def test_bad_shapes_are_refused_with_a_clear_message(shape, fragment):
    """Is a wrongly shaped batch refused with a message naming its shape and the fix?"""
    with pytest.raises(ValueError) as error:
        as_image_batch(torch.zeros(shape))
    assert fragment in str(error.value)


def test_pixel_range_is_checked():
    """Are 0..255 pixels refused and [0, 1] images flagged, while [-1, 1] pass quietly?"""
    with pytest.raises(ValueError, match="images / 127.5 - 1"):
        classify(np.full((2, 784), 255.0))
    with pytest.warns(UserWarning, match="images \\* 2 - 1"):
        classify(np.full((2, 784), 0.5))
    with pytest.raises(ValueError, match="NaN"):
        classify(np.full((2, 784), np.nan))


def test_real_digits_score_high(heldout_scores):
    """Do real held-out digits reach the quality bar with balanced classes?"""
    scores = heldout_scores
    assert scores.inception_score > 9.0
    assert scores.coverage == 10
    assert scores.kl_to_uniform < 0.05
    assert scores.confident_rate > 0.9
    assert scores.meets(QUALITY_BAR)
    assert scores.reference_inception_score == pytest.approx(scores.inception_score, rel=1e-6)


def test_one_repeated_digit_scores_low(heldout, heldout_scores):
    """Does a collapsed generator (one digit repeated) get IS 1, coverage 1 and maximal KL?"""
    seven = heldout.subset([7]).images[:1].repeat(500, 1, 1, 1)
    scores = score_images(seven)
    assert scores.inception_score == pytest.approx(1.0, abs=1e-3)
    assert scores.coverage == 1 and scores.covered_classes == (7,)
    assert scores.kl_to_uniform == pytest.approx(np.log(10), abs=1e-6)
    assert scores.frechet_distance > 10 * heldout_scores.frechet_distance + 1
    assert not scores.meets()


def test_noise_scores_worse_than_real_digits(heldout_scores):
    """Does uniform noise score a lower IS and a higher Frechet distance than real digits?"""
    noise = torch.rand(500, 1, 28, 28, generator=torch.Generator().manual_seed(0)) * 2 - 1
    scores = score_images(noise)
    assert scores.inception_score < heldout_scores.inception_score - 5
    assert scores.frechet_distance > 100 * max(heldout_scores.frechet_distance, 1.0)
    assert scores.coverage < 10 and not scores.meets()


def test_frechet_distance_of_other_real_digits_is_small():
    """Are unseen real training digits much closer to the held-out digits than blurred ones?"""
    real = load_mnist(split="train").images[::4]  # 1,000 digits, 100 per class
    blurred = torch.nn.functional.avg_pool2d(real, 5, stride=1, padding=2)
    near = score_images(real).frechet_distance
    far = score_images(blurred).frechet_distance
    assert near < far / 5


def test_frechet_distance_matches_scipy_sqrtm():
    """Does frechet_distance agree with the textbook formula computed with scipy's sqrtm?"""
    linalg = pytest.importorskip("scipy.linalg")
    rng = np.random.default_rng(0)
    a, b = rng.normal(size=(200, 6)), rng.normal(1.0, 2.0, size=(300, 6)) @ rng.normal(size=(6, 6))
    mean_a, cov_a, mean_b, cov_b = a.mean(0), np.cov(a.T), b.mean(0), np.cov(b.T)
    expected = (np.sum((mean_a - mean_b) ** 2) + np.trace(cov_a + cov_b)
                - 2 * np.trace(linalg.sqrtm(cov_a @ cov_b).real))
    assert frechet_distance(mean_a, cov_a, mean_b, cov_b) == pytest.approx(expected, rel=1e-6)
    assert frechet_distance(mean_a, cov_a, mean_a, cov_a) == pytest.approx(0.0, abs=1e-8)


def test_inception_score_of_known_probabilities():
    """Is the IS 1 for identical predictions, 10 for ten certain classes, and exp(KL) between?"""
    assert inception_score(np.full((20, 10), 0.1)) == pytest.approx(1.0)
    assert inception_score(np.eye(10)) == pytest.approx(10.0, rel=1e-6)
    two = np.array([[0.5, 0.5] + [0.0] * 8, [1.0, 0.0] + [0.0] * 8])
    marginal = two.mean(0)
    kl = [np.sum(p[p > 0] * np.log(p[p > 0] / marginal[p > 0])) for p in two]
    assert inception_score(two) == pytest.approx(np.exp(np.mean(kl)))


def test_hand_label_accuracy(heldout):
    """Does hand-label accuracy reward correct labels, punish wrong ones, and check lengths?"""
    images, truth = heldout.images[::100], heldout.labels[::100].numpy()  # 10 digits
    assert hand_label_agreement(images, truth) >= 0.9
    assert hand_label_agreement(images, (truth + 1) % 10) <= 0.1
    assert hand_label_agreement(images, np.eye(10)[truth]) == hand_label_agreement(images, truth)
    scores = score_images(images, hand_labels=list(truth))
    assert scores.hand_label_accuracy == hand_label_agreement(images, truth)
    assert "hand-label accuracy" in str(scores)
    with pytest.raises(ValueError, match="9 hand labels for 10 images"):
        hand_label_agreement(images, truth[:9])
    with pytest.raises(ValueError, match="0-9"):
        hand_label_agreement(images, truth + 10)


def test_class_histogram_matches_classify(heldout):
    """Is class_histogram the normalised count of classify's labels?"""
    images = heldout.images[:300]
    labels, _ = classify(images)
    shares = class_histogram(images)
    assert shares.shape == (10,) and shares.sum() == pytest.approx(1.0)
    np.testing.assert_array_equal(class_histogram(images, normalize=False),
                                  np.bincount(labels, minlength=10))


def test_score_generator_is_deterministic_and_leaves_the_generator_as_it_was():
    """Does score_generator give equal results per seed, differ across seeds, keep train mode?"""
    torch.manual_seed(0)
    generator = MLPGenerator().train()
    first = score_generator(generator, n=200, seed=3)
    again = score_generator(generator, n=200, seed=3)
    other = score_generator(generator, n=200, seed=4)
    np.testing.assert_array_equal(first.labels, again.labels)
    np.testing.assert_allclose(first.confidences, again.confidences)
    assert not np.allclose(first.confidences, other.confidences)
    assert generator.training
    assert all(p.grad is None for p in generator.parameters())


def test_score_generator_accepts_a_keras_style_callable(heldout):
    """Can a plain callable taking numpy noise and returning (N, 784) arrays be scored?"""
    bank = heldout.images.reshape(-1, 784).numpy()

    def lookup_generator(noise: np.ndarray) -> np.ndarray:  # noise (B, 100) -> (B, 784)
        index = (np.abs(noise[:, 0]) * 1e4).astype(int) % len(bank)
        return bank[index]

    scores = score_generator(lookup_generator, n=400, seed=0, latent_dim=100)
    assert scores.n == 400 and scores.coverage == 10


def test_summary_html_and_dict_show_the_figures(heldout_scores):
    """Do str, _repr_html_ and to_dict all carry the scores, with JSON-ready values?"""
    scores = heldout_scores
    text = str(scores)
    assert f"{scores.inception_score:.2f}" in text and "10/10" in text and "meets the bar" in text
    page = scores._repr_html_()
    assert "<table>" in page and f"{scores.inception_score:.2f}" in page
    data = json.loads(json.dumps(scores.to_dict(per_sample=True)))
    assert data["coverage"] == 10 and len(data["labels"]) == scores.n
    assert isinstance(scores, SampleScores)


def test_classifier_info_command(capsys):
    """Does `ganlab classifier info` print the architecture, data and held-out accuracy?"""
    assert main(["classifier", "info"]) == 0
    out = capsys.readouterr().out
    record = classifier_record()
    assert "Conv3x3" in out and record["training_data"] in out
    assert f"{record['heldout_accuracy']:.2%}" in out and "inception score" in out


@pytest.mark.parametrize("wrapped", [False, True])
def test_score_command_on_a_saved_generator(tmp_path, capsys, wrapped):
    """Does `ganlab score` read a bare state_dict and a kit checkpoint and print the scores?"""
    torch.manual_seed(0)
    state = MLPGenerator().state_dict()
    path = tmp_path / "generator.pt"
    torch.save({"generator": state, "step": 0} if wrapped else state, path)
    assert main(["score", str(path), "--n", "200", "--json"]) == 0
    data = json.loads(capsys.readouterr().out)
    assert data["n"] == 200 and 1.0 <= data["inception_score"] <= 10.0


def test_score_command_reports_a_missing_checkpoint(tmp_path, capsys):
    """Does `ganlab score` on a missing file fail with a message instead of a traceback?"""
    assert main(["score", str(tmp_path / "nothing.pt")]) == 1
    assert "no checkpoint" in capsys.readouterr().err


# --------------------------------------------------------------------------- Keras copy

_KERAS_SCRIPT = textwrap.dedent("""
    import sys, json
    import numpy as np
    {block_tensorflow}
    from ganlab_kit.data import load_mnist
    from ganlab_kit.scoring import classify
    from ganlab_kit.scoring.keras_classifier import load_keras_classifier
    model = load_keras_classifier()
    test = load_mnist(split="test")
    keras_labels = np.asarray(model.predict(test.numpy(channels_last=True), verbose=0)).argmax(1)
    torch_labels, _ = classify(test.images)
    print(json.dumps({{"agreement": float(np.mean(keras_labels == torch_labels)),
                       "tensorflow": sys.modules.get("tensorflow") is not None}}))
""")


def _run_keras(backend: str, block_tensorflow: bool) -> dict:
    script = _KERAS_SCRIPT.format(
        block_tensorflow="sys.modules['tensorflow'] = None" if block_tensorflow else "")
    env = {**os.environ, "KERAS_BACKEND": backend, "TF_CPP_MIN_LOG_LEVEL": "3"}
    done = subprocess.run([sys.executable, "-c", script], env=env, capture_output=True,
                          text=True, timeout=180)
    assert done.returncode == 0, done.stderr[-3000:]
    return json.loads(done.stdout.strip().splitlines()[-1])


@pytest.mark.keras
def test_keras_h5_agrees_with_the_torch_weights(heldout):
    """Does mnist_classifier.h5, read by keras.models.load_model, predict like the torch weights?"""
    from ganlab_kit.scoring.keras_classifier import load_keras_classifier

    assert CLASSIFIER_KERAS.stat().st_size < 1_000_000
    model = load_keras_classifier()
    probabilities = np.asarray(model.predict(heldout.numpy(channels_last=True), verbose=0))
    torch_labels, _ = classify(heldout.images)
    assert probabilities.shape == (len(heldout), 10)
    assert np.mean(probabilities.argmax(1) == torch_labels) >= 0.99


@pytest.mark.keras
@pytest.mark.slow  # a fresh interpreter importing torch and Keras: ~10 s alone, more when shared
def test_keras_h5_loads_on_the_torch_backend_without_tensorflow():
    """Can a PyTorch-only user read the .h5 with KERAS_BACKEND=torch and TensorFlow absent?"""
    result = _run_keras("torch", block_tensorflow=True)
    assert result["agreement"] >= 0.99 and result["tensorflow"] is False


def test_missing_keras_gives_a_clear_error(monkeypatch):
    """Without Keras, does loading the .h5 say what to install and point to the torch weights?"""
    from ganlab_kit.scoring import keras_classifier

    monkeypatch.setitem(sys.modules, "keras", None)
    with pytest.raises(keras_classifier.KerasUnavailableError, match="load_classifier"):
        keras_classifier.load_keras_classifier()
