"""Real-world DCGAN code, adapted only to the lab's names, through the DCGAN lab's hidden checks.

Each entry is written in the style of a public PyTorch implementation (named in its comment) and
keeps the lab's function and class names and the table's layers. Valid variants must keep every
point of the parts they touch; bugs (the kind of slip those implementations make when moved into
this lab) must lose points in their own part. One test prints "bugs caught / valid kept".
"""
import pytest

from ganlab_kit.grading.notebook import find_cell, read_notebook, strip_hidden_tests
from ganlab_kit.grading.submissions import Edit
from lab_checks import grade_all, namespace_with, quick_check_failures, quick_checks, source_notebook

ASSIGNMENT = "dcgan"
SOURCE = read_notebook(source_notebook(ASSIGNMENT))


def whole(cell_id, code):
    """An edit that replaces the whole answer cell ``cell_id`` by ``code``."""
    return Edit(cell_id, strip_hidden_tests(find_cell(SOURCE, cell_id).source), code)


# pytorch/examples dcgan/main.py: one nn.Sequential called main, in-place ReLU / LeakyReLU, `input` as the argument
EXAMPLES_GENERATOR = '''class Generator(nn.Module):
    def __init__(self, latent_dim=LATENT_DIM, image_shape=(1, 28, 28), width=32):
        super(Generator, self).__init__()
        self.latent_dim = latent_dim
        nc, side = image_shape[0], image_shape[1] // 4
        self.main = nn.Sequential(
            nn.Linear(latent_dim, width * 2 * side * side, bias=False),
            nn.Unflatten(1, (width * 2, side, side)),
            nn.BatchNorm2d(width * 2),
            nn.ReLU(True),
            # state size. (width*2) x s x s
            nn.ConvTranspose2d(width * 2, width, 4, 2, 1, bias=False),
            nn.BatchNorm2d(width),
            nn.ReLU(True),
            # state size. width x 2s x 2s
            nn.Conv2d(width, width, 3, 1, 1, bias=False),
            nn.BatchNorm2d(width),
            nn.ReLU(True),
            nn.ConvTranspose2d(width, nc, 4, 2, 1),
            nn.Tanh()
            # state size. nc x 4s x 4s
        )

    def forward(self, input):
        return self.main(input)
'''
EXAMPLES_DISCRIMINATOR = '''class Discriminator(nn.Module):
    def __init__(self, image_shape=(1, 28, 28), width=16, hidden=256):
        super(Discriminator, self).__init__()
        nc, side = image_shape[0], image_shape[1] // 4
        self.main = nn.Sequential(
            # input is nc x 4s x 4s
            nn.Conv2d(nc, width, 4, 2, 1),
            nn.LeakyReLU(0.2, inplace=True),
            nn.Conv2d(width, width * 2, 4, 2, 1, bias=False),
            nn.BatchNorm2d(width * 2),
            nn.LeakyReLU(0.2, inplace=True),
            nn.Flatten(),
            nn.Linear(width * 2 * side * side, hidden),
            nn.LeakyReLU(0.2, inplace=True),
            nn.Linear(hidden, 1),
        )

    def forward(self, input):
        output = self.main(input)
        return output.view(-1, 1)
'''
# znxlwm/pytorch-MNIST-CelebA-GAN-DCGAN pytorch_MNIST_DCGAN.py: one attribute per layer, activations as
# functions in forward (F.relu, F.leaky_relu(x, 0.2), torch.tanh), flattening with view
ZNXLWM_GENERATOR = '''import torch.nn.functional as F


class Generator(nn.Module):
    def __init__(self, latent_dim=LATENT_DIM, image_shape=(1, 28, 28), width=32):
        super(Generator, self).__init__()
        self.latent_dim, self.d, self.side = latent_dim, width, image_shape[1] // 4
        self.fc = nn.Linear(latent_dim, 2 * width * self.side ** 2, bias=False)
        self.fc_bn = nn.BatchNorm2d(2 * width)
        self.deconv1 = nn.ConvTranspose2d(2 * width, width, 4, 2, 1, bias=False)
        self.deconv1_bn = nn.BatchNorm2d(width)
        self.conv2 = nn.Conv2d(width, width, 3, 1, 1, bias=False)
        self.conv2_bn = nn.BatchNorm2d(width)
        self.deconv3 = nn.ConvTranspose2d(width, image_shape[0], 4, 2, 1)

    def forward(self, input):
        x = self.fc(input).view(-1, 2 * self.d, self.side, self.side)
        x = F.relu(self.fc_bn(x))
        x = F.relu(self.deconv1_bn(self.deconv1(x)))
        x = F.relu(self.conv2_bn(self.conv2(x)))
        return torch.tanh(self.deconv3(x))
'''
ZNXLWM_DISCRIMINATOR = '''import torch.nn.functional as F


class Discriminator(nn.Module):
    def __init__(self, image_shape=(1, 28, 28), width=16, hidden=256):
        super(Discriminator, self).__init__()
        self.features = 2 * width * (image_shape[1] // 4) ** 2
        self.conv1 = nn.Conv2d(image_shape[0], width, 4, 2, 1)
        self.conv2 = nn.Conv2d(width, width * 2, 4, 2, 1, bias=False)
        self.conv2_bn = nn.BatchNorm2d(width * 2)
        self.fc1 = nn.Linear(self.features, hidden)
        self.fc2 = nn.Linear(hidden, 1)

    def forward(self, input):
        x = F.leaky_relu(self.conv1(input), 0.2)
        x = F.leaky_relu(self.conv2_bn(self.conv2(x)), 0.2)
        x = F.leaky_relu(self.fc1(x.view(-1, self.features)), 0.2)
        return self.fc2(x)
'''
# soumith/ganhacks tricks as often written: in-place uniform_ draws, torch.bernoulli masks, torch.full labels
GANHACKS_LABELS = '''def flipped_targets(batch_size):
    return torch.full((batch_size, 1), 0.0), torch.full((batch_size, 1), 1.0)


def soft_targets(batch_size):
    return torch.empty(batch_size, 1).uniform_(0.0, 0.1), torch.empty(batch_size, 1).uniform_(0.9, 1.0)


def swap_some(real_targets, fake_targets, probability=0.05):
    flip = torch.bernoulli(torch.full_like(real_targets, probability)).bool()
    new_real, new_fake = real_targets.clone(), fake_targets.clone()
    new_real[flip], new_fake[flip] = fake_targets[flip], real_targets[flip]
    return new_real, new_fake


def generator_targets(batch_size):
    return torch.full((batch_size, 1), 0.0)
'''
# pytorch/examples dcgan/main.py optimizers, imported as optim, lr and beta1 as variables
EXAMPLES_OPTIMIZERS = '''from torch import optim


def make_optimizers(generator, discriminator):
    beta1 = 0.5
    optimizerG = optim.Adam(generator.parameters(), lr=0.001, betas=(beta1, 0.999))
    optimizerD = optim.Adam(discriminator.parameters(), lr=0.0002, betas=(beta1, 0.999))
    return optimizerG, optimizerD
'''
# distill.pub checkerboard article's counting, with NumPy: add one per tap, slice by slice
NUMPY_COVERAGE = '''import numpy as np


def tap_coverage(kernel_size, stride, length=8):
    counts = np.zeros((length - 1) * stride + kernel_size, dtype=np.int64)
    for i in range(length):
        counts[i * stride:i * stride + kernel_size] += 1
    return [int(c) for c in counts]
'''

#: name -> (parts it must keep in full, edits)
VALID = {
    "examples_sequential_main": (("generator", "discriminator"), (
        whole("generator_answer", EXAMPLES_GENERATOR), whole("discriminator_answer", EXAMPLES_DISCRIMINATOR))),
    "znxlwm_functional_activations": (("generator", "discriminator"), (
        whole("generator_answer", ZNXLWM_GENERATOR), whole("discriminator_answer", ZNXLWM_DISCRIMINATOR))),
    "ganhacks_in_place_draws": (("labels",), (whole("labels_answer", GANHACKS_LABELS),)),
    "uniform_in_place_noise": (("noise",), (whole("noise_answer", '''def sample_uniform_noise(batch_size, latent_dim=TRICKS_LATENT_DIM):
    return torch.empty(batch_size, latent_dim).uniform_(-1, 1)
'''),)),
    "examples_optimizers": (("optimizers",), (whole("optimizers_answer", EXAMPLES_OPTIMIZERS),)),
    "adamw_without_decay": (("optimizers",), (Edit(
        "optimizers_answer", "g_optimizer = torch.optim.Adam(generator.parameters(), lr=1e-3, betas=(0.5, 0.999))",
        "g_optimizer = torch.optim.AdamW(generator.parameters(), lr=1e-3, betas=(0.5, 0.999), weight_decay=0.0)"),)),
    "numpy_coverage": (("coverage",), (whole("coverage_answer", NUMPY_COVERAGE),)),
}

#: name -> (part that must lose points, edits)
BUGS = {
    # pytorch/examples' D ends with nn.Sigmoid (it trains with BCELoss); this lab's loss takes logits
    "examples_sigmoid_output": ("discriminator", (whole("discriminator_answer", EXAMPLES_DISCRIMINATOR.replace(
        "            nn.Linear(hidden, 1),\n", "            nn.Linear(hidden, 1),\n            nn.Sigmoid(),\n")),)),
    # pytorch/examples' D returns output.view(-1, 1).squeeze(1): one score per image, shape (B,)
    "examples_squeezed_output": ("discriminator", (whole("discriminator_answer", EXAMPLES_DISCRIMINATOR.replace(
        "return output.view(-1, 1)", "return output.view(-1, 1).squeeze(1)")),)),
    # pytorch/examples' first D convolution has bias=False; the table's first one keeps its bias
    "examples_first_conv_without_bias": ("discriminator", (whole("discriminator_answer", EXAMPLES_DISCRIMINATOR.replace(
        "nn.Conv2d(nc, width, 4, 2, 1),", "nn.Conv2d(nc, width, 4, 2, 1, bias=False),")),)),
    # znxlwm's MNIST D uses F.leaky_relu(x, 0.2) but a copied line with F.relu slips in
    "znxlwm_relu_in_forward": ("discriminator", (whole("discriminator_answer", ZNXLWM_DISCRIMINATOR.replace(
        "x = F.leaky_relu(self.fc1(x.view(-1, self.features)), 0.2)", "x = F.relu(self.fc1(x.view(-1, self.features)))")),)),
    # znxlwm's G applies Tanh through F.tanh on a layer with no BatchNorm, but here the last ReLU is kept too
    "znxlwm_relu_before_tanh": ("generator", (whole("generator_answer", ZNXLWM_GENERATOR.replace(
        "return torch.tanh(self.deconv3(x))", "return torch.tanh(F.relu(self.deconv3(x)))")),)),
    # upsample-then-convolve (the checkerboard fix of the distill article) in place of the table's layers
    "distill_resize_convolution": ("generator", (whole("generator_answer", EXAMPLES_GENERATOR.replace(
        "nn.ConvTranspose2d(width * 2, width, 4, 2, 1, bias=False),",
        "nn.Upsample(scale_factor=2), nn.Conv2d(width * 2, width, 3, 1, 1, bias=False),")),)),
    # pytorch/examples draws Gaussian noise (torch.randn); the lab asks for U[-1, 1]
    "examples_gaussian_noise": ("noise", (whole("noise_answer", '''def sample_uniform_noise(batch_size, latent_dim=TRICKS_LATENT_DIM):
    return torch.randn(batch_size, latent_dim)
'''),)),
    # pytorch/examples uses one --lr (0.0002) for both optimizers
    "examples_one_learning_rate": ("optimizers", (whole("optimizers_answer", EXAMPLES_OPTIMIZERS.replace(
        "lr=0.001", "lr=0.0002")),)),
    # pytorch/examples' optimizers with Adam's default betas (beta1 = 0.9 where the flag is left out)
    "examples_default_betas": ("optimizers", (whole("optimizers_answer", EXAMPLES_OPTIMIZERS.replace(
        "beta1 = 0.5", "beta1 = 0.9")),)),
    # ganhacks-style soft labels as (B,) vectors, the shape of pytorch/examples' label tensors
    "ganhacks_vector_labels": ("labels", (whole("labels_answer", GANHACKS_LABELS.replace(
        "torch.empty(batch_size, 1).uniform_(0.0, 0.1), torch.empty(batch_size, 1).uniform_(0.9, 1.0)",
        "torch.empty(batch_size).uniform_(0.0, 0.1), torch.empty(batch_size).uniform_(0.9, 1.0)")),)),
    # the swap done in place on the caller's tensors (no clone), as many training loops do
    "ganhacks_swap_in_place": ("labels", (whole("labels_answer", GANHACKS_LABELS.replace(
        "new_real, new_fake = real_targets.clone(), fake_targets.clone()",
        "new_real, new_fake = real_targets, fake_targets").replace(
        "new_real[flip], new_fake[flip] = fake_targets[flip], real_targets[flip]",
        "new_real[flip], new_fake[flip] = fake_targets[flip].clone(), real_targets[flip].clone()")),)),
    # np.convolve-style counting that forgets the last kernel's tail
    "numpy_coverage_short": ("coverage", (whole("coverage_answer", NUMPY_COVERAGE.replace(
        "np.zeros((length - 1) * stride + kernel_size", "np.zeros(length * stride")),)),
}


@pytest.fixture(scope="module")
def graded():
    """name -> part -> PartResult, every variant and bug graded on the parts it touches."""
    results = {}
    for name, (parts, edits) in VALID.items():
        results[name] = grade_all(ASSIGNMENT, namespace_with(SOURCE, edits), parts)
    for name, (part, edits) in BUGS.items():
        results[name] = grade_all(ASSIGNMENT, namespace_with(SOURCE, edits), (part,))
    return results


def test_real_world_code_both_ways(graded, capsys):
    """Does every real-world valid variant keep every point of its parts, and every real-world bug lose
    points in its own part? Prints bugs caught / valid kept."""
    kept = {name for name in VALID if all(result.failed_checks == () for result in graded[name].values())}
    caught = {name for name, (part, _) in BUGS.items() if graded[name][part].failed_checks}
    with capsys.disabled():
        print(f"\nDCGAN real-world code: bugs caught {len(caught)} / {len(BUGS)}, valid kept {len(kept)} / {len(VALID)}")
    lost = {name: {part: [(c.name, c.feedback) for c in r.checks if not c.passed] for part, r in graded[name].items()}
            for name in set(VALID) - kept}
    assert lost == {}
    assert set(BUGS) - caught == set()


def test_real_world_valid_code_passes_the_quick_checks():
    """Does no quick check raise a false alarm on the real-world valid variants?"""
    quick = quick_checks(SOURCE, ASSIGNMENT)
    for grade_id in ("quality_checks", "fashion_quality_checks"):
        quick.pop(grade_id)
    for name, (_, edits) in VALID.items():
        assert quick_check_failures(quick, namespace_with(SOURCE, edits)) == {}, name
