"""Hidden checks: the quality of the submitted fashion_generator.pt (clothes), judged by the kit's Fashion-MNIST classifier.

The thresholds sit below the worst of five seeds of the notebook's own training cell
(quality_calibration.json, from calibrate_quality.py), so a correct solution trained as the
notebook says passes whatever its seed; noise, blobs or a few kinds of clothing only do not.
"""
import pytest

FILE, DATASET, WHAT = "fashion_generator.pt", "fashion-mnist", "Fashion-MNIST"
MIN_INCEPTION_SCORE = 6.0        # worst of five calibration seeds: 6.61
MIN_COVERAGE = 9                 # kinds holding at least 3 % of the samples; worst seed: 10
MIN_CONFIDENT_RATE = 0.45        # share the classifier is >= 90 % sure of; worst seed: 0.554
MIN_COVERAGE_FOR_CONFIDENCE = 5  # below this the confident share is no evidence of quality


@pytest.mark.points(1)
def test_checkpoint_loads(submitted_scores):
    """Does fashion_generator.pt exist next to the notebook and hold the lab's Generator weights?"""
    submitted_scores(FILE, DATASET, WHAT)


@pytest.mark.points(1)
def test_inception_score(submitted_scores):
    """Are the clothes recognisable and varied (inception score of 1,000 samples high enough)?"""
    scores = submitted_scores(FILE, DATASET, WHAT)
    assert scores.inception_score >= MIN_INCEPTION_SCORE, (
        f"the classifier's inception score of your clothes is {scores.inception_score:.2f}; the notebook's "
        f"training reaches at least {MIN_INCEPTION_SCORE}. Let the training cell run until it reports the bar.")


@pytest.mark.points(1)
def test_coverage(submitted_scores):
    """Does the generator draw (nearly) all ten kinds of clothing, not only a few (mode collapse)?"""
    scores = submitted_scores(FILE, DATASET, WHAT)
    assert scores.coverage >= MIN_COVERAGE, (
        f"only {scores.coverage} of 10 kinds of clothing make up at least 3 % of your samples (covered: "
        f"{list(scores.covered_classes)}); the notebook's training covers at least {MIN_COVERAGE}. "
        "Drawing few kinds is mode collapse.")


@pytest.mark.points(1)
def test_confident_rate(submitted_scores):
    """Does the classifier recognise enough samples with confidence (top probability >= 0.9)?"""
    scores = submitted_scores(FILE, DATASET, WHAT)
    assert scores.coverage >= MIN_COVERAGE_FOR_CONFIDENCE, (
        f"the classifier puts nearly all your samples in {list(scores.covered_classes)}; its confidence says "
        "little about images that are all alike. Train until the generator draws different clothes.")
    assert scores.confident_rate >= MIN_CONFIDENT_RATE, (
        f"the classifier is sure about {scores.confident_rate:.0%} of your samples; the notebook's training "
        f"reaches {MIN_CONFIDENT_RATE:.0%}. Blurry or shapeless clothes lower this share.")
