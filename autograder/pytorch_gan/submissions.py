"""Demo students of the PyTorch GAN lab: the reference, the stub and typical mistakes.

Each mistake lists the checks that must catch it. A mistake costs points only in its
own part, because the checks of the other parts use the kit's reference pieces.
"""
from ganlab_kit.grading.submissions import ALL_CHECKS, Edit, Submission

SUBMISSIONS = [
    Submission(
        name="reference",
        description="the reference solution, with the kit's trained generator.pt",
    ),
    Submission(
        name="stub",
        description="the release notebook handed in untouched, without generator.pt",
        stub=True,
        generator=None,
        expected_failures=ALL_CHECKS,
    ),
    Submission(
        name="wrong_target_loss",
        description="generator_loss uses target 0 (the fakes' label) instead of 1",
        edits=(Edit("generator_loss_answer", "nn.BCELoss()(d_fake, torch.ones_like(d_fake))",
                    "nn.BCELoss()(d_fake, torch.zeros_like(d_fake))"),),
        expected_failures={"generator_loss": frozenset(
            {"test_matches_reference", "test_direction", "test_non_saturating"})},
    ),
    Submission(
        name="no_zero_grad",
        description="train_discriminator never calls d_optimizer.zero_grad()",
        edits=(Edit("train_discriminator_answer", "    d_optimizer.zero_grad()\n", ""),),
        expected_failures={"train_discriminator": frozenset({"test_clears_old_gradients"})},
    ),
    Submission(
        name="relu_discriminator",
        description="the Discriminator's hidden layers use ReLU instead of LeakyReLU(0.2)",
        edits=tuple(Edit("discriminator_answer", f"{layer}\n            nn.LeakyReLU(0.2),",
                         f"{layer}\n            nn.ReLU(),")
                    for layer in ("nn.Linear(28 * 28, 1024),     # (B, 1024)",
                                  "nn.Linear(1024, 512),         # (B, 512)",
                                  "nn.Linear(512, 256),          # (B, 256)")),
        expected_failures={"discriminator": frozenset({"test_architecture"})},
    ),
    Submission(
        name="narrow_discriminator",
        description="the Discriminator's hidden layers are 512, 256 and 128 units wide",
        edits=(Edit("discriminator_answer", "nn.Linear(256, 1),", "nn.Linear(128, 1),"),
               Edit("discriminator_answer", "nn.Linear(512, 256),", "nn.Linear(256, 128),"),
               Edit("discriminator_answer", "nn.Linear(1024, 512),", "nn.Linear(512, 256),"),
               Edit("discriminator_answer", "nn.Linear(28 * 28, 1024),", "nn.Linear(28 * 28, 512),")),
        expected_failures={"discriminator": frozenset({"test_architecture"})},
    ),
    Submission(
        name="ndim_reshape",
        description="can_reshape compares the number of axes instead of the number of values",
        edits=(Edit("reshape_answer", "math.prod(in_shape) == math.prod(out_shape)",
                    "len(in_shape) == len(out_shape)"),),
        expected_failures={"reshape": frozenset({"test_hint_cases", "test_general_cases"})},
    ),
    Submission(
        name="no_tanh",
        description="the Generator has no Tanh at the end",
        edits=(Edit("generator_answer",
                    "            nn.Tanh(),                    # pixels in [-1, 1], like the real images\n",
                    ""),),
        expected_failures={"generator": frozenset({"test_output_range"})},
    ),
]
