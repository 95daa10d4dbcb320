"""Demo students of the 2-D GAN lab: the reference, the stub and typical mistakes.

The lab hands in only the notebook (no weights, no files), so every demo student is the
reference answer with a few edits.
"""
from ganlab_kit.grading.submissions import ALL_CHECKS, Edit, Submission

_HEATMAP_RETURN = "return torch.sigmoid(logits).reshape(len(ys), len(xs))"
_POINTS = "torch.stack([grid_x.reshape(-1), grid_y.reshape(-1)], dim=1)"
_G_LOSS = "g_loss = generator_loss(discriminator(points), loss, from_logits=True)"

SUBMISSIONS = [
    Submission(
        name="reference",
        description="the reference solution",
        generator=None,
    ),
    Submission(
        name="stub",
        description="the release notebook handed in untouched",
        stub=True,
        generator=None,
        expected_failures=ALL_CHECKS,
    ),
    Submission(
        name="logit_heatmap",
        description="the heat map shows D's logits instead of probabilities (no sigmoid)",
        edits=(Edit("heatmap_answer", _HEATMAP_RETURN, "return logits.reshape(len(ys), len(xs))"),),
        generator=None,
        expected_failures={"heatmap": frozenset({"test_probabilities", "test_matches_discriminator"})},
    ),
    Submission(
        name="swapped_axes",
        description="the grid's axes swapped: heat[i, j] is D at (ys[i], xs[j])",
        edits=(Edit("heatmap_answer", _POINTS,
                    "torch.stack([grid_y.reshape(-1), grid_x.reshape(-1)], dim=1)"),),
        generator=None,
        expected_failures={"heatmap": frozenset({"test_matches_discriminator"})},
    ),
    Submission(
        name="discriminator_loss_arrows",
        description="arrows of D's loss on the fakes (labelled 0) instead of G's loss",
        edits=(Edit("gradients_answer", _G_LOSS,
                    "g_loss = torch.nn.functional.binary_cross_entropy_with_logits(\n"
                    "        discriminator(points), torch.zeros(len(points), 1))"),),
        generator=None,
        expected_failures={"gradients": frozenset({"test_matches_autograd", "test_points_downhill",
                                                   "test_follows_loss_choice"})},
    ),
    Submission(
        name="flipped_sign",
        description="returns minus the gradient (the arrow) instead of the gradient",
        edits=(Edit("gradients_answer", "    return gradient", "    return -gradient"),),
        generator=None,
        expected_failures={"gradients": frozenset({"test_matches_autograd", "test_points_downhill"})},
    ),
    Submission(
        name="ignores_loss",
        description="always the non-saturating loss, whatever loss is chosen",
        edits=(Edit("gradients_answer", _G_LOSS,
                    'g_loss = generator_loss(discriminator(points), "non_saturating", from_logits=True)'),),
        generator=None,
        expected_failures={"gradients": frozenset({"test_matches_autograd", "test_follows_loss_choice"})},
    ),
]
