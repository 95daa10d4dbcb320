"""Hidden checks: the quality of the submitted generator.pt (digits), judged by the kit's digit classifier.

The thresholds sit below the worst of five seeds of the notebook's own training cell
(quality_calibration.json, from calibrate_quality.py), so a correct solution trained as the
notebook says passes whatever its seed; noise, blobs or a few digits only do not.
"""
import pytest

FILE, DATASET, WHAT = "generator.pt", "mnist", "DCGAN (digits)"
MIN_INCEPTION_SCORE = 7.5        # worst of five calibration seeds: 8.08
MIN_COVERAGE = 9                 # digits holding at least 3 % of the samples; worst seed: 10
MIN_CONFIDENT_RATE = 0.7         # share the classifier is >= 90 % sure of; worst seed: 0.793
MIN_COVERAGE_FOR_CONFIDENCE = 5  # below this the confident share is no evidence of quality


@pytest.mark.points(1)
def test_checkpoint_loads(submitted_scores):
    """Does generator.pt exist next to the notebook and hold the lab's Generator weights?"""
    submitted_scores(FILE, DATASET, WHAT)


@pytest.mark.points(1)
def test_inception_score(submitted_scores):
    """Are the digits recognisable and varied (inception score of 1,000 samples high enough)?"""
    scores = submitted_scores(FILE, DATASET, WHAT)
    assert scores.inception_score >= MIN_INCEPTION_SCORE, (
        f"the classifier's inception score of your digits is {scores.inception_score:.2f}; the notebook's "
        f"training reaches at least {MIN_INCEPTION_SCORE}. Let the training cell run until it reports the bar.")


@pytest.mark.points(1)
def test_coverage(submitted_scores):
    """Does the generator draw (nearly) all ten digits, not only a few (mode collapse)?"""
    scores = submitted_scores(FILE, DATASET, WHAT)
    assert scores.coverage >= MIN_COVERAGE, (
        f"only {scores.coverage} of 10 digits make up at least 3 % of your samples (covered: "
        f"{list(scores.covered_classes)}); the notebook's training covers at least {MIN_COVERAGE}. "
        "Drawing few digits is mode collapse.")


@pytest.mark.points(1)
def test_confident_rate(submitted_scores):
    """Does the classifier recognise enough samples with confidence (top probability >= 0.9)?"""
    scores = submitted_scores(FILE, DATASET, WHAT)
    assert scores.coverage >= MIN_COVERAGE_FOR_CONFIDENCE, (
        f"the classifier puts nearly all your samples in {list(scores.covered_classes)}; its confidence says "
        "little about images that are all alike. Train until the generator draws different digits.")
    assert scores.confident_rate >= MIN_CONFIDENT_RATE, (
        f"the classifier is sure about {scores.confident_rate:.0%} of your samples; the notebook's training "
        f"reaches {MIN_CONFIDENT_RATE:.0%}. Blurry or broken digits lower this share.")
