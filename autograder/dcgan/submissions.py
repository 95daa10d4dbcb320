"""Demo students of the DCGAN lab: the reference, the stub and typical mistakes.

Each mistake lists the checks that must catch it. A mistake costs points only in its own
part: the other parts' checks use the kit's reference pieces, and the quality checks score
the handed-in generator files, which every demo student hands in as trained by the reference.
"""
from ganlab_kit.grading.submissions import ALL_CHECKS, Edit, Submission

SUBMISSIONS = [
    Submission(
        name="reference",
        description="the reference solution, with the kit's trained generator.pt and fashion_generator.pt",
    ),
    Submission(
        name="stub",
        description="the release notebook handed in untouched, without generator files",
        stub=True,
        generator=None,
        expected_failures=ALL_CHECKS,
    ),
    Submission(
        name="kernel3_everywhere",
        description="every transposed convolution has kernel 3 / stride 2 (output_padding=1 keeps 28x28)",
        edits=(Edit("generator_answer", "nn.ConvTranspose2d(2 * width, width, 4, stride=2, padding=1, bias=False)",
                    "nn.ConvTranspose2d(2 * width, width, 3, stride=2, padding=1, output_padding=1, bias=False)"),
               Edit("generator_answer", "nn.ConvTranspose2d(width, channels, 4, stride=2, padding=1)",
                    "nn.ConvTranspose2d(width, channels, 3, stride=2, padding=1, output_padding=1)")),
        expected_failures={"generator": frozenset({"test_even_overlap", "test_matches_reference"})},
    ),
    Submission(
        name="soft_labels_wrong_side",
        description="soft_targets draws real targets from [0.9, 1.0] and fakes from [0.0, 0.1] (not flipped)",
        edits=(Edit("labels_answer", "real_targets = 0.1 * torch.rand(batch_size, 1)         # U[0.0, 0.1]",
                    "real_targets = 0.9 + 0.1 * torch.rand(batch_size, 1)"),
               Edit("labels_answer", "fake_targets = 0.9 + 0.1 * torch.rand(batch_size, 1)   # U[0.9, 1.0]",
                    "fake_targets = 0.1 * torch.rand(batch_size, 1)")),
        expected_failures={"labels": frozenset({"test_soft_target_ranges", "test_soft_targets_are_uniform"})},
    ),
    Submission(
        name="generator_targets_swapped",
        description="the occasional label swap is applied to the generator's targets too",
        edits=(Edit("labels_answer", "return torch.zeros(batch_size, 1)  # the real label, for every fake",
                    "return swap_some(torch.zeros(batch_size, 1), torch.ones(batch_size, 1))[0]"),),
        expected_failures={"labels": frozenset({"test_generator_targets"})},
    ),
    Submission(
        name="conv2d_instead_of_transposed",
        description="the generator's first upsampling layer is an nn.Conv2d, which shrinks 7x7 to 3x3",
        edits=(Edit("generator_answer", "nn.ConvTranspose2d(2 * width, width, 4, stride=2, padding=1, bias=False)",
                    "nn.Conv2d(2 * width, width, 4, stride=2, padding=1, bias=False)"),),
        expected_failures={"generator": frozenset({"test_output_shape", "test_upsampling_path",
                                                   "test_matches_reference"})},
    ),
    Submission(
        name="output_27x27",
        description="the last transposed convolution has kernel 3 and no output padding: 28x28 becomes 27x27",
        edits=(Edit("generator_answer", "nn.ConvTranspose2d(width, channels, 4, stride=2, padding=1)",
                    "nn.ConvTranspose2d(width, channels, 3, stride=2, padding=1)"),),
        expected_failures={"generator": frozenset({"test_output_shape", "test_upsampling_path", "test_even_overlap",
                                                   "test_matches_reference"})},
    ),
    Submission(
        name="sgd_optimizers",
        description="make_optimizers uses plain SGD for both networks",
        edits=(Edit("optimizers_answer", "g_optimizer = torch.optim.Adam(generator.parameters(), lr=1e-3, betas=(0.5, 0.999))",
                    "g_optimizer = torch.optim.SGD(generator.parameters(), lr=1e-3)"),
               Edit("optimizers_answer", "d_optimizer = torch.optim.Adam(discriminator.parameters(), lr=2e-4, betas=(0.5, 0.999))",
                    "d_optimizer = torch.optim.SGD(discriminator.parameters(), lr=2e-4)")),
        expected_failures={"optimizers": frozenset({"test_adam", "test_settings"})},
    ),
    Submission(
        name="relu_discriminator",
        description="the discriminator uses ReLU instead of LeakyReLU(0.2)",
        edits=(Edit("discriminator_answer", "nn.Conv2d(channels, width, 4, stride=2, padding=1),                 # (B, w, 2s, 2s)\n            nn.LeakyReLU(0.2),",
                    "nn.Conv2d(channels, width, 4, stride=2, padding=1),                 # (B, w, 2s, 2s)\n            nn.ReLU(),"),),
        expected_failures={"discriminator": frozenset({"test_leaky_relu", "test_matches_reference"})},
    ),
    Submission(
        name="uneven_tiling_claim",
        description="tap_coverage makes its output one stride too long; TILES_EVENLY calls kernel 3 / stride 2 even",
        edits=(Edit("coverage_answer", "counts = [0] * ((length - 1) * stride + kernel_size)",
                    "counts = [0] * (length * stride + kernel_size)"),
               Edit("tiling_answer", "(3, 2): False", "(3, 2): True")),
        expected_failures={"coverage": frozenset({"test_small_cases", "test_default_length", "test_many_cases",
                                                  "test_tiles_evenly_claim"})},
    ),
]


def reference_files(destination):
    """{filename: path} of the generator files the reference student hands in, written under
    ``destination`` as fit_to_bar saves them (float32 state_dicts of the lab's Generator): the
    kit's reference DCGAN for digits and the lab's reference Fashion-MNIST generator."""
    from pathlib import Path

    import torch

    from ganlab_kit.torch_gan import load_generator
    from ganlab_kit.torch_gan.recipes import REFERENCE_CHECKPOINTS, generator_for_state

    assets = Path(REFERENCE_CHECKPOINTS["dcgan"]).parent
    folder = Path(destination)
    folder.mkdir(parents=True, exist_ok=True)
    files = {}
    for filename, asset in (("generator.pt", REFERENCE_CHECKPOINTS["dcgan"]),
                            ("fashion_generator.pt", assets / "reference_fashion_dcgan_generator.pt")):
        state = torch.load(asset, map_location="cpu", weights_only=True)
        generator = load_generator(generator_for_state(state, "dcgan"), asset)
        torch.save(generator.state_dict(), folder / filename)
        files[filename] = folder / filename
    return files
