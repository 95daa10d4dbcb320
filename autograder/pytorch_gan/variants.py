"""Real-world and other-style answers of the PyTorch GAN lab, both ways.

``VALID``: correct answers written the way public PyTorch MNIST GAN code writes them (layers in
attributes of their own, functional activations, F.binary_cross_entropy, one label size, ...),
adapted only to the lab's names; each must keep every point and pass the quick checks.
``BUGS``: mistakes found in public code or typical of it, including bugs that show only across
calls (reused noise, a fixed batch of fakes); each must lose points in its own part and only there.

Each variant replaces whole answer cells (``answer(cell, text)``). The repositories named in
the comments are where the style (or the bug) was seen; every line here is written for this lab.
Used by tests/test_lab_pytorch_gan.py::test_real_world_variants.
"""

from dataclasses import dataclass, field
from pathlib import Path
from typing import Dict, FrozenSet, Tuple

from ganlab_kit.grading.submissions import Edit

SOURCE = Path(__file__).resolve().parents[2] / "assignments" / "source" / "pytorch_gan" / "pytorch_gan.ipynb"


@dataclass(frozen=True)
class Variant:
    name: str
    origin: str                      # where the style or the bug was seen
    answers: Dict[str, str]          # answer cell id -> its whole new text
    # part -> checks that must fail (bugs); empty for a valid variant
    loses: Dict[str, FrozenSet[str]] = field(default_factory=dict)

    def edits(self, source) -> Tuple[Edit, ...]:
        from ganlab_kit.grading.notebook import find_cell, strip_hidden_tests

        return tuple(Edit(cell, strip_hidden_tests(find_cell(source, cell).source), text)
                     for cell, text in self.answers.items())


# ----------------------------------------------------------------------------- valid answers
HIDDEN_BLOCKS_G = '''class Generator(nn.Module):
    def __init__(self, latent_dim=LATENT_DIM):
        super().__init__()
        self.latent_dim = latent_dim
        self.hidden0 = nn.Sequential(nn.Linear(latent_dim, 256), nn.LeakyReLU(0.2))
        self.hidden1 = nn.Sequential(nn.Linear(256, 512), nn.LeakyReLU(0.2))
        self.hidden2 = nn.Sequential(nn.Linear(512, 1024), nn.LeakyReLU(0.2))
        self.out = nn.Sequential(nn.Linear(1024, 784), nn.Tanh())

    def forward(self, x):
        x = self.hidden0(x)
        x = self.hidden1(x)
        x = self.hidden2(x)
        return self.out(x).view(-1, 1, 28, 28)
'''

HIDDEN_BLOCKS_D = '''class Discriminator(nn.Module):
    def __init__(self):
        super().__init__()
        self.hidden0 = nn.Sequential(nn.Linear(784, 1024), nn.LeakyReLU(0.2), nn.Dropout(0.3))
        self.hidden1 = nn.Sequential(nn.Linear(1024, 512), nn.LeakyReLU(0.2), nn.Dropout(0.3))
        self.hidden2 = nn.Sequential(nn.Linear(512, 256), nn.LeakyReLU(0.2), nn.Dropout(0.3))
        self.out = nn.Sequential(nn.Linear(256, 1), nn.Sigmoid())

    def forward(self, x):
        x = x.view(-1, 784)
        x = self.hidden0(x)
        x = self.hidden1(x)
        x = self.hidden2(x)
        return self.out(x)
'''

FUNCTIONAL_G = '''import torch.nn.functional as F


class Generator(nn.Module):
    def __init__(self, latent_dim=LATENT_DIM):
        super().__init__()
        self.latent_dim = latent_dim
        self.fc1 = nn.Linear(latent_dim, 256)
        self.fc2 = nn.Linear(256, 512)
        self.fc3 = nn.Linear(512, 1024)
        self.fc4 = nn.Linear(1024, 28 * 28)

    def forward(self, z):
        z = F.leaky_relu(self.fc1(z), 0.2)
        z = F.leaky_relu(self.fc2(z), negative_slope=0.2)
        z = F.leaky_relu(self.fc3(z), 0.2)
        return torch.tanh(self.fc4(z)).view(z.shape[0], 1, 28, 28)
'''

FUNCTIONAL_D = '''import torch.nn.functional as F


class Discriminator(nn.Module):
    def __init__(self):
        super().__init__()
        self.fc1 = nn.Linear(28 * 28, 1024)
        self.fc2 = nn.Linear(1024, 512)
        self.fc3 = nn.Linear(512, 256)
        self.fc4 = nn.Linear(256, 1)

    def forward(self, x):
        x = x.view(-1, 28 * 28)
        x = torch.nn.functional.leaky_relu(self.fc1(x), 0.2)
        x = F.leaky_relu(self.fc2(x), 0.2)
        x = F.leaky_relu(self.fc3(x), 0.2)
        return torch.sigmoid(self.fc4(x))
'''

# assigns the output layer first: registration order differs from the forward order only
# where names are the kit's own (the loader pairs by name then)
MAIN_G = '''class Generator(nn.Module):
    def __init__(self, latent_dim=LATENT_DIM):
        super().__init__()
        self.latent_dim = latent_dim
        self.main = nn.Sequential(
            nn.Linear(latent_dim, 256), nn.LeakyReLU(0.2, inplace=True),
            nn.Linear(256, 512), nn.LeakyReLU(0.2, inplace=True),
            nn.Linear(512, 1024), nn.LeakyReLU(0.2, inplace=True),
            nn.Linear(1024, 784), nn.Tanh(),
        )

    def forward(self, x):
        return self.main(x).view(-1, 1, 28, 28)
'''

ONE_SIZE_LOSS = '''def discriminator_loss(d_real, d_fake):
    batch_size = d_real.size(0)
    real_labels = torch.ones(batch_size, 1)
    fake_labels = torch.zeros(batch_size, 1)
    real_loss = nn.functional.binary_cross_entropy(d_real, real_labels)
    fake_loss = nn.functional.binary_cross_entropy(d_fake, fake_labels)
    return real_loss + fake_loss
'''

LOG_LOSSES = '''def discriminator_loss(d_real, d_fake):
    return -torch.mean(torch.log(d_real)) - torch.mean(torch.log(1 - d_fake))
'''

LOG_G_LOSS = '''def generator_loss(d_fake):
    return -torch.log(d_fake).mean()
'''

SPLIT_BACKWARD_STEP = '''def train_discriminator(discriminator, d_optimizer, real_images, fake_images):
    n = real_images.size(0)
    discriminator.zero_grad()
    prediction_real = discriminator(real_images)
    error_real = nn.BCELoss()(prediction_real, torch.ones(n, 1))
    error_real.backward()
    prediction_fake = discriminator(fake_images.detach())
    error_fake = nn.BCELoss()(prediction_fake, torch.zeros(n, 1))
    error_fake.backward()
    d_optimizer.step()
    return (error_real + error_fake).item()
'''

LATE_ZERO_GRAD_G_STEP = '''def train_generator(generator, discriminator, g_optimizer, batch_size, latent_dim=LATENT_DIM):
    noise = sample_noise(batch_size, latent_dim)
    fake_data = generator(noise)
    prediction = discriminator(fake_data)
    g_optimizer.zero_grad()
    error = generator_loss(prediction)
    error.backward()
    g_optimizer.step()
    return float(error)
'''

NORMAL_NOISE = '''def sample_noise(batch_size, latent_dim=LATENT_DIM):
    return torch.normal(0.0, 1.0, size=(batch_size, latent_dim))
'''

OPTIM_MODULE = '''from torch import optim


def make_optimizers(generator, discriminator):
    beta1 = 0.5
    g_opt = optim.Adam(generator.parameters(), lr=0.001, betas=(beta1, 0.999))
    d_opt = optim.Adam(discriminator.parameters(), lr=0.0002, betas=(beta1, 0.999))
    return g_opt, d_opt
'''

VALID = [
    # diegoalejogm/gans (Vanilla GAN PyTorch): hidden0..hidden2 and out blocks, dropout in D
    Variant("hidden_blocks", "diegoalejogm/gans", {"generator_answer": HIDDEN_BLOCKS_G,
                                                   "discriminator_answer": HIDDEN_BLOCKS_D}),
    # martinyanev94/generative-ai-projects, Lesson 17: fc1..fc4 with torch.tanh / leaky_relu in forward
    Variant("functional_activations", "martinyanev94/generative-ai-projects",
            {"generator_answer": FUNCTIONAL_G, "discriminator_answer": FUNCTIONAL_D}),
    # debuggercafe vanilla GAN (seen in several forks): self.main, in-place LeakyReLU
    Variant("main_sequential", "debuggercafe vanilla-gan-pytorch", {"generator_answer": MAIN_G}),
    # diegoalejogm/gans: labels built from one batch size (the lab trains with equal batches)
    Variant("one_size_labels", "diegoalejogm/gans", {"discriminator_loss_answer": ONE_SIZE_LOSS}),
    Variant("log_losses", "textbook formula", {"discriminator_loss_answer": LOG_LOSSES,
                                               "generator_loss_answer": LOG_G_LOSS}),
    # diegoalejogm/gans train_discriminator: two backward passes, net.zero_grad()
    Variant("split_backward", "diegoalejogm/gans", {"train_discriminator_answer": SPLIT_BACKWARD_STEP}),
    Variant("late_zero_grad", "pytorch tutorials style", {"train_generator_answer": LATE_ZERO_GRAD_G_STEP}),
    Variant("normal_noise", "torch.normal", {"noise_answer": NORMAL_NOISE}),
    Variant("optim_module", "pytorch/examples dcgan (beta1 variable)", {"optimizers_answer": OPTIM_MODULE}),
]

# ----------------------------------------------------------------------------- bugs
RELU_G = FUNCTIONAL_G.replace("F.leaky_relu(self.fc1(z), 0.2)", "torch.relu(self.fc1(z))").replace(
    "F.leaky_relu(self.fc2(z), negative_slope=0.2)", "torch.relu(self.fc2(z))").replace(
    "F.leaky_relu(self.fc3(z), 0.2)", "torch.relu(self.fc3(z))")

# martinyanev94/generative-ai-projects' D forward skips fc3
SKIPPED_LAYER_D = FUNCTIONAL_D.replace("        x = F.leaky_relu(self.fc3(x), 0.2)\n", "")

DEFAULT_SLOPE_D = FUNCTIONAL_D.replace("F.leaky_relu(self.fc2(x), 0.2)", "F.leaky_relu(self.fc2(x))")

# PacktPublishing GAN cookbook: sigmoid output (pixels in [0, 1])
SIGMOID_G = FUNCTIONAL_G.replace("torch.tanh(self.fc4(z))", "torch.sigmoid(self.fc4(z))")

SQUEEZED_D = FUNCTIONAL_D.replace("return torch.sigmoid(self.fc4(x))", "return torch.sigmoid(self.fc4(x)).view(-1)")

MINIMAX_G_LOSS = '''def generator_loss(d_fake):
    return torch.log(1 - d_fake).mean()
'''

SWAPPED_LABELS = ONE_SIZE_LOSS.replace("(d_real, real_labels)", "(d_real, fake_labels)").replace(
    "(d_fake, fake_labels)", "(d_fake, real_labels)")

# noise drawn once, when the cell runs: every call returns the same z (across calls)
CACHED_NOISE = '''_NOISE = torch.randn(1024, 256)


def sample_noise(batch_size, latent_dim=LATENT_DIM):
    return _NOISE[:batch_size, :latent_dim]
'''

# G's step trains on one fixed batch of noise (the preview noise), whatever batch_size asks
FIXED_NOISE_G_STEP = '''FIXED_Z = sample_noise(16)


def train_generator(generator, discriminator, g_optimizer, batch_size, latent_dim=LATENT_DIM):
    g_optimizer.zero_grad()
    loss = generator_loss(discriminator(generator(FIXED_Z)))
    loss.backward()
    g_optimizer.step()
    return loss.item()
'''

NO_DETACH_STEP = SPLIT_BACKWARD_STEP.replace("discriminator(fake_images.detach())", "discriminator(fake_images)")

TENSOR_RETURN_STEP = SPLIT_BACKWARD_STEP.replace("return (error_real + error_fake).item()",
                                                 "return error_real + error_fake")

ADAMW = OPTIM_MODULE.replace("optim.Adam(", "optim.AdamW(")

DEFAULT_BETAS = '''def make_optimizers(generator, discriminator):
    return (torch.optim.Adam(generator.parameters(), lr=1e-3),
            torch.optim.Adam(discriminator.parameters(), lr=2e-4))
'''

ONE_OPTIMIZER = '''def make_optimizers(generator, discriminator):
    both = torch.optim.Adam(list(generator.parameters()) + list(discriminator.parameters()),
                            lr=2e-4, betas=(0.5, 0.999))
    return both, both
'''

BUGS = [
    Variant("relu_generator", "firdavsee/exem, Starry-Wing/GAN-MNIST (ReLU in G)", {"generator_answer": RELU_G},
            {"generator": frozenset({"test_architecture"})}),
    Variant("skipped_layer", "martinyanev94/generative-ai-projects (fc3 never called)",
            {"discriminator_answer": SKIPPED_LAYER_D},
            {"discriminator": frozenset({"test_output_shape", "test_output_range", "test_architecture"})}),
    Variant("default_slope", "F.leaky_relu without its slope (0.01)", {"discriminator_answer": DEFAULT_SLOPE_D},
            {"discriminator": frozenset({"test_architecture"})}),
    Variant("sigmoid_output", "PacktPublishing GAN cookbook (sigmoid pixels)", {"generator_answer": SIGMOID_G},
            {"generator": frozenset({"test_output_range"})}),
    Variant("squeezed_scores", "D(x).view(-1), common in BCE code", {"discriminator_answer": SQUEEZED_D},
            {"discriminator": frozenset({"test_output_shape"})}),
    Variant("minimax_generator_loss", "the original minimax loss", {"generator_loss_answer": MINIMAX_G_LOSS},
            {"generator_loss": frozenset({"test_matches_reference", "test_non_saturating"})}),
    Variant("swapped_labels", "targets swapped", {"discriminator_loss_answer": SWAPPED_LABELS},
            {"discriminator_loss": frozenset({"test_matches_reference", "test_direction"})}),
    Variant("cached_noise", "noise drawn once (across calls)", {"noise_answer": CACHED_NOISE},
            {"noise": frozenset({"test_fresh_and_reproducible"})}),
    Variant("fixed_noise_generator_step", "the preview noise reused for every G step (across steps)",
            {"train_generator_answer": FIXED_NOISE_G_STEP},
            {"train_generator": frozenset({"test_batch_and_latent_size"})}),
    Variant("no_detach", "diegoalejogm/gans without .detach()", {"train_discriminator_answer": NO_DETACH_STEP},
            {"train_discriminator": frozenset({"test_no_gradient_into_generator"})}),
    Variant("tensor_return", "returns the loss tensor", {"train_discriminator_answer": TENSOR_RETURN_STEP},
            {"train_discriminator": frozenset({"test_returns_loss"})}),
    Variant("adamw", "AdamW (a subclass of Adam, weight decay 0.01)", {"optimizers_answer": ADAMW},
            {"optimizers": frozenset({"test_adam"})}),
    Variant("default_betas", "Adam with default betas", {"optimizers_answer": DEFAULT_BETAS},
            {"optimizers": frozenset({"test_settings"})}),
    Variant("one_optimizer", "one optimizer object shared by both networks", {"optimizers_answer": ONE_OPTIMIZER},
            {"optimizers": frozenset({"test_each_on_its_own_network", "test_settings"})}),
]
