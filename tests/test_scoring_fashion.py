"""The shipped Fashion-MNIST classifier and how scoring picks the classifier of a data set."""
import json
from pathlib import Path

import numpy as np
import pytest
import torch

from ganlab_kit.data import ImageDataset, load_dataset
from ganlab_kit.scoring import (FASHION_QUALITY_BAR, QUALITY_BAR, classifier_dataset,
                                classifier_record, load_classifier, quality_bar, score_generator,
                                score_images)
from ganlab_kit.scoring.classifier import FASHION_CLASSIFIER_WEIGHTS, predict

FASHION_INSTALLED = Path("/usr/share/datasets/fashion-mnist").is_dir()
needs_fashion = pytest.mark.skipif(not FASHION_INSTALLED,
                                   reason="Debian's dataset-fashion-mnist is not installed (.ci/run installs it)")


class Blocks(torch.nn.Module):
    """A stand-in generator: noise (B, 8) -> bright rectangles of varying size (B, 1, 28, 28)."""

    latent_dim = 8

    def forward(self, z):
        images = -torch.ones(len(z), 1, 28, 28)
        for index, row in enumerate(z):
            half = 4 + int(8 * torch.sigmoid(row[0]))
            images[index, 0, 14 - half:14 + half, 8:20] = 1.0
        return images


@pytest.mark.parametrize("name, key", [(None, "mnist"), ("mnist", "mnist"), ("mnist-offline", "mnist"),
                                       ("mnist-offline:test", "mnist"), ("fashion-mnist", "fashion-mnist"),
                                       ("fashion-mnist:train", "fashion-mnist")])
def test_data_set_names_map_to_a_classifier(name, key):
    """Does every way of naming a data set pick the right shipped classifier?"""
    assert classifier_dataset(name) == key


def test_cifar_has_no_classifier():
    """Is scoring CIFAR-10 a clear error instead of a digit classifier's nonsense?"""
    with pytest.raises(ValueError, match="no classifier for 'cifar10'"):
        classifier_dataset("cifar10")


def test_fashion_classifier_is_its_own_network():
    """Is the clothes classifier a separate, cached set of weights, not the digit one?"""
    fashion, digits = load_classifier(dataset="fashion-mnist"), load_classifier()
    assert fashion is load_classifier(FASHION_CLASSIFIER_WEIGHTS) and fashion is not digits
    assert not torch.equal(fashion.head.weight, digits.head.weight)


def test_score_generator_picks_the_classifier_of_the_data_set():
    """Does score_generator(dataset=...) score with that data set's classifier and bar, while the
    default still scores digits exactly as before?"""
    generator = Blocks()
    default = score_generator(generator, n=200, seed=3, reference=None)
    digits = score_images(generator(torch.randn(200, 8, generator=torch.Generator().manual_seed(3))),
                          reference=None, classifier=load_classifier())
    np.testing.assert_array_equal(default.labels, digits.labels)
    assert default.dataset == "mnist" and default.bar is QUALITY_BAR
    fashion = score_generator(generator, n=200, seed=3, reference=None, dataset="fashion-mnist")
    probabilities, _ = predict(generator(torch.randn(200, 8, generator=torch.Generator().manual_seed(3))),
                               load_classifier(dataset="fashion-mnist"))
    np.testing.assert_array_equal(fashion.labels, probabilities.argmax(1).numpy())
    assert fashion.dataset == "fashion-mnist" and fashion.bar is FASHION_QUALITY_BAR
    assert quality_bar("fashion-mnist:train") is FASHION_QUALITY_BAR and quality_bar() is QUALITY_BAR
    by_dataset = score_generator(generator, n=200, seed=3, reference=None,
                                 dataset=ImageDataset(torch.zeros(1, 1, 28, 28), torch.zeros(1, dtype=torch.int64),
                                                      "fashion-mnist:train"))
    np.testing.assert_array_equal(by_dataset.labels, fashion.labels)
    assert "trouser" in str(fashion) and fashion.to_dict()["dataset"] == "fashion-mnist"


def test_meets_uses_the_data_sets_bar():
    """Does a score that clears the clothes bar but not the digits bar count as met only for clothes?"""
    generator = Blocks()
    scores = score_generator(generator, n=100, seed=0, reference=None, dataset="fashion-mnist")
    from dataclasses import replace

    good_clothes = replace(scores, inception_score=FASHION_QUALITY_BAR.inception_score + 0.1,
                           coverage=10, confident_rate=FASHION_QUALITY_BAR.confident_rate + 0.01)
    assert good_clothes.meets() and not good_clothes.meets(QUALITY_BAR)
    assert not replace(good_clothes, dataset="mnist").meets()


@needs_fashion
def test_fashion_classifier_accuracy_matches_its_record():
    """Does the shipped clothes classifier reach the held-out accuracy its record states (>= 88 %)?"""
    record = classifier_record(dataset="fashion-mnist")
    test = load_dataset("fashion-mnist", split="test", allow_download=False)
    probabilities, _ = predict(test.images, load_classifier(dataset="fashion-mnist"))
    accuracy = float((probabilities.argmax(1) == test.labels).float().mean())
    assert accuracy == pytest.approx(record["heldout_accuracy"], abs=1e-3)
    assert accuracy >= 0.88
    confident = float((probabilities.max(1).values >= 0.9).float().mean())
    assert confident == pytest.approx(record["heldout_confident_rate"], abs=1e-3)


@needs_fashion
def test_real_clothes_clear_the_clothes_bar():
    """Do 1,000 real test images clear the bar set for generated clothes (the bar is not above reality)?"""
    test = load_dataset("fashion-mnist", split="test", allow_download=False)
    scores = score_images(test.images[:1000], reference=None, dataset="fashion-mnist")
    assert scores.meets(), scores.bar.failures(scores)


def test_classifier_info_lists_both_classifiers(capsys):
    """Does `ganlab classifier info` show the clothes classifier with its held-out accuracy?"""
    from ganlab_kit.cli import main

    assert main(["classifier", "info"]) == 0
    output = capsys.readouterr().out
    record = json.loads(Path(FASHION_CLASSIFIER_WEIGHTS).with_suffix(".json").read_text())
    assert "MNIST classifier" in output and "Fashion-MNIST classifier" in output
    assert f"{record['heldout_accuracy']:.2%} on fashion-mnist:test (10000 images)" in output
