"""Scores for generated MNIST digits (and Fashion-MNIST clothes), computed with small CNNs
shipped with the kit.

Quick use::

    from ganlab_kit.scoring import score_generator
    print(score_generator(generator, n=1000, seed=0))

The public API (kept stable for the autograder and the widgets):

* :func:`load_classifier` -> the PyTorch classifier (cached, eval mode, CPU);
* :func:`classify` -> predicted digits and their confidences;
* :func:`score_images` / :func:`score_generator` -> :class:`SampleScores`;
* :func:`class_histogram` -> share of samples per digit (cheap; mode-collapse alarms);
* :func:`hand_label_agreement` -> how often the classifier agrees with hand labels.

Importing this package loads PyTorch only; the Keras copy of the classifier lives in
:mod:`ganlab_kit.scoring.keras_classifier` and imports Keras when called.
"""
from .classifier import (CLASSIFIER_FILES, CLASSIFIER_KERAS, CLASSIFIER_RECORD,
                         CLASSIFIER_WEIGHTS, MNISTClassifier, as_image_batch, classifier_dataset,
                         classifier_record, classify, load_classifier)
from .metrics import (CONFIDENCE_THRESHOLD, COVERAGE_SHARE, FASHION_QUALITY_BAR, QUALITY_BAR,
                      QUALITY_BARS, QualityBar, quality_bar,
                      ReferenceStatistics, SampleScores, class_histogram, feature_statistics,
                      frechet_distance, generate_images, hand_label_agreement, inception_score,
                      reference_statistics, score_generator, score_images)

__all__ = [
    "load_classifier", "classify", "score_images", "score_generator", "class_histogram",
    "hand_label_agreement", "SampleScores", "QualityBar", "QUALITY_BAR",
    "CONFIDENCE_THRESHOLD", "COVERAGE_SHARE", "MNISTClassifier", "as_image_batch",
    "classifier_record", "generate_images", "inception_score", "frechet_distance",
    "feature_statistics", "reference_statistics", "ReferenceStatistics",
    "CLASSIFIER_WEIGHTS", "CLASSIFIER_KERAS", "CLASSIFIER_RECORD", "CLASSIFIER_FILES",
    "classifier_dataset", "FASHION_QUALITY_BAR", "QUALITY_BARS", "quality_bar",
]
