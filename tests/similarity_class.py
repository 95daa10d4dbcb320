"""A synthetic class of the PyTorch lab for the similarity report (issue 22).

Who is in it, and which pairs are copies (the ground truth):

* the lab's demo students (``autograder/pytorch_gan/submissions.py``): the reference answers
  with one mistake each, so every two of them share one origin (a copy family);
* four honest students written independently from the same release (below, each in its own
  style), which copy nobody;
* copies of honest student ``honest_1``: variables renamed, functions reordered (cells in
  another order, statements of the bodies kept), comments changed and code reformatted, and
  all three at once; each is a copy of ``honest_1`` and of the other copies.

:func:`synthetic_class` returns the students (as :class:`~ganlab_kit.grading.similarity.Student`)
and the set of copy pairs; :func:`scaled_class` grows it to any size for timing.
"""
import io
import keyword
import re
import tokenize
from pathlib import Path

import nbformat

from ganlab_kit.grading.notebook import nbgrader_metadata, read_notebook, solution_text
from ganlab_kit.grading.similarity import Student, answer_cells, given_code
from ganlab_kit.grading.submissions import load_submissions

REPO = Path(__file__).resolve().parents[1]
LAB = "pytorch_gan"
STUB_MARK = "# YOUR CODE HERE\nraise NotImplementedError()"

# Each honest student's bodies per answer cell (one string per "YOUR CODE HERE" region, in order).
HONEST = {
    "honest_1": {
        "noise_answer": ["z = torch.normal(mean=0.0, std=1.0, size=(batch_size, latent_dim))\nreturn z"],
        "generator_answer": [
            "self.fc1 = nn.Linear(latent_dim, 256)\nself.fc2 = nn.Linear(256, 512)\n"
            "self.fc3 = nn.Linear(512, 1024)\nself.out = nn.Linear(1024, 784)",
            "h = F.leaky_relu(self.fc1(z), negative_slope=0.2)\nh = F.leaky_relu(self.fc2(h), negative_slope=0.2)\n"
            "h = F.leaky_relu(self.fc3(h), negative_slope=0.2)\nimg = torch.tanh(self.out(h))\n"
            "return img.reshape(z.size(0), 1, 28, 28)"],
        "reshape_answer": ["total_in = 1\nfor d in in_shape:\n    total_in *= d\ntotal_out = 1\n"
                           "for d in out_shape:\n    total_out *= d\nreturn total_in == total_out"],
        "reshape_constants": ["RESHAPE_600_TO_20_20_2 = 20 * 20 * 2 == 600\nRESHAPE_800_TO_20_10_4 = 20 * 10 * 4 == 800\n"
                              "GENERATOR_LAST_FC_UNITS = 28 * 28 * 1"],
        "discriminator_answer": [
            "self.fc1 = nn.Linear(784, 1024)\nself.fc2 = nn.Linear(1024, 512)\n"
            "self.fc3 = nn.Linear(512, 256)\nself.fc4 = nn.Linear(256, 1)",
            "x = x.flatten(start_dim=1)\nx = F.leaky_relu(self.fc1(x), 0.2)\nx = F.leaky_relu(self.fc2(x), 0.2)\n"
            "x = F.leaky_relu(self.fc3(x), 0.2)\nreturn torch.sigmoid(self.fc4(x))"],
        "optimizers_answer": ["opt_g = optim.Adam(generator.parameters(), lr=0.001, betas=(0.5, 0.999))\n"
                              "opt_d = optim.Adam(discriminator.parameters(), lr=0.0002, betas=(0.5, 0.999))\n"
                              "return opt_g, opt_d"],
        "discriminator_loss_answer": ["ones = torch.ones(d_real.shape)\nzeros = torch.zeros(d_fake.shape)\n"
                                      "return F.binary_cross_entropy(d_real, ones) + F.binary_cross_entropy(d_fake, zeros)"],
        "generator_loss_answer": ["target = torch.ones(d_fake.shape)\nreturn F.binary_cross_entropy(d_fake, target)"],
        "train_discriminator_answer": [
            "discriminator.zero_grad()\nout_real = discriminator(real_images)\n"
            "out_fake = discriminator(fake_images.detach())\nd_loss = discriminator_loss(out_real, out_fake)\n"
            "d_loss.backward()\nd_optimizer.step()\nreturn float(d_loss)"],
        "train_generator_answer": [
            "z = sample_noise(batch_size, latent_dim)\ngenerated = generator(z)\n"
            "g_loss = generator_loss(discriminator(generated))\ng_optimizer.zero_grad()\n"
            "g_loss.backward()\ng_optimizer.step()\nreturn float(g_loss)"],
    },
    "honest_2": {
        "noise_answer": ["noise = torch.randn((batch_size, latent_dim), dtype=torch.float32)\nreturn noise"],
        "generator_answer": [
            "layers = []\nwidths = [latent_dim, 256, 512, 1024]\nfor a, b in zip(widths[:-1], widths[1:]):\n"
            "    layers += [nn.Linear(a, b), nn.LeakyReLU(negative_slope=0.2)]\n"
            "layers += [nn.Linear(1024, 28 * 28), nn.Tanh()]\nself.model = nn.Sequential(*layers)",
            "out = self.model(z)\nreturn out.view(out.size(0), 1, 28, 28)"],
        "reshape_answer": ["import numpy as np\nreturn int(np.prod(in_shape)) == int(np.prod(out_shape))"],
        "reshape_constants": ["RESHAPE_600_TO_20_20_2 = False\nRESHAPE_800_TO_20_10_4 = True\nGENERATOR_LAST_FC_UNITS = 784"],
        "discriminator_answer": [
            "sizes = [28 * 28, 1024, 512, 256]\nblocks = []\nfor i in range(3):\n"
            "    blocks.append(nn.Linear(sizes[i], sizes[i + 1]))\n    blocks.append(nn.LeakyReLU(0.2))\n"
            "blocks.append(nn.Linear(256, 1))\nblocks.append(nn.Sigmoid())\nself.model = nn.Sequential(*blocks)",
            "batch = x.size(0)\nreturn self.model(x.reshape(batch, 784))"],
        "optimizers_answer": ["betas = (0.5, 0.999)\nreturn (torch.optim.Adam(generator.parameters(), 1e-3, betas),\n"
                              "        torch.optim.Adam(discriminator.parameters(), 2e-4, betas))"],
        "discriminator_loss_answer": ["criterion = nn.BCELoss()\nloss_on_real = criterion(d_real, torch.full_like(d_real, 1.0))\n"
                                      "loss_on_fake = criterion(d_fake, torch.full_like(d_fake, 0.0))\n"
                                      "total = loss_on_real + loss_on_fake\nreturn total"],
        "generator_loss_answer": ["criterion = nn.BCELoss()\nwanted = torch.full_like(d_fake, 1.0)\nreturn criterion(d_fake, wanted)"],
        "train_discriminator_answer": [
            "for p in discriminator.parameters():\n    p.grad = None\n"
            "loss = discriminator_loss(discriminator(real_images), discriminator(fake_images.detach()))\n"
            "loss.backward()\nd_optimizer.step()\nreturn loss.detach().item()"],
        "train_generator_answer": [
            "g_optimizer.zero_grad(set_to_none=True)\nfakes = generator(sample_noise(batch_size, latent_dim))\n"
            "prediction = discriminator(fakes)\nloss = generator_loss(prediction)\nloss.backward()\n"
            "g_optimizer.step()\nreturn loss.detach().item()"],
    },
    "honest_3": {
        "noise_answer": ["return torch.empty(batch_size, latent_dim).normal_()"],
        "generator_answer": [
            "self.hidden = nn.ModuleList([nn.Linear(latent_dim, 256), nn.Linear(256, 512), nn.Linear(512, 1024)])\n"
            "self.act = nn.LeakyReLU(0.2)\nself.to_pixels = nn.Linear(1024, 784)",
            "for layer in self.hidden:\n    z = self.act(layer(z))\n"
            "return torch.tanh(self.to_pixels(z)).unflatten(1, (1, 28, 28))"],
        "reshape_answer": ["from functools import reduce\nfrom operator import mul\n"
                           "size = lambda shape: reduce(mul, shape, 1)\nreturn size(in_shape) == size(out_shape)"],
        "reshape_constants": ["GENERATOR_LAST_FC_UNITS = 784\nRESHAPE_800_TO_20_10_4 = True\nRESHAPE_600_TO_20_20_2 = False"],
        "discriminator_answer": [
            "self.layers = nn.ModuleList([nn.Linear(784, 1024), nn.Linear(1024, 512), nn.Linear(512, 256)])\n"
            "self.act = nn.LeakyReLU(0.2)\nself.head = nn.Linear(256, 1)",
            "x = torch.flatten(x, 1)\nfor layer in self.layers:\n    x = self.act(layer(x))\n"
            "return torch.sigmoid(self.head(x))"],
        "optimizers_answer": ["settings = dict(betas=(0.5, 0.999))\n"
                              "g = torch.optim.Adam(params=generator.parameters(), lr=1e-3, **settings)\n"
                              "d = torch.optim.Adam(params=discriminator.parameters(), lr=2e-4, **settings)\nreturn g, d"],
        "discriminator_loss_answer": ["eps = 0.0\nreal_term = -torch.log(d_real.clamp_min(1e-12)).mean()\n"
                                      "fake_term = -torch.log((1 - d_fake).clamp_min(1e-12)).mean()\nreturn real_term + fake_term + eps"],
        "generator_loss_answer": ["return -torch.log(d_fake.clamp_min(1e-12)).mean()"],
        "train_discriminator_answer": [
            "scores = discriminator(torch.cat([real_images, fake_images.detach()]))\n"
            "n = real_images.shape[0]\nloss = discriminator_loss(scores[:n], scores[n:])\n"
            "d_optimizer.zero_grad()\nloss.backward()\nd_optimizer.step()\nreturn loss.item()"],
        "train_generator_answer": [
            "noise = sample_noise(batch_size, latent_dim)\nfor p in discriminator.parameters():\n"
            "    p.requires_grad_(False)\nloss = generator_loss(discriminator(generator(noise)))\n"
            "g_optimizer.zero_grad()\nloss.backward()\ng_optimizer.step()\nfor p in discriminator.parameters():\n"
            "    p.requires_grad_(True)\nreturn loss.item()"],
    },
    "honest_4": {
        "noise_answer": ["shape = (batch_size, latent_dim)\nsample = torch.randn(*shape)\nreturn sample.float()"],
        "generator_answer": [
            "def block(n_in, n_out):\n    return [nn.Linear(n_in, n_out), nn.LeakyReLU(0.2, inplace=True)]\n"
            "self.main = nn.Sequential(*block(latent_dim, 256), *block(256, 512), *block(512, 1024),\n"
            "                          nn.Linear(1024, 784), nn.Tanh())",
            "images = self.main(z)\nreturn images.view(-1, 1, 28, 28)"],
        "reshape_answer": ["if len(in_shape) == 0 or len(out_shape) == 0:\n    return list(in_shape) == list(out_shape)\n"
                           "return torch.Size(in_shape).numel() == torch.Size(out_shape).numel()"],
        "reshape_constants": ["RESHAPE_600_TO_20_20_2 = (600 == 800)\nRESHAPE_800_TO_20_10_4 = (800 == 800)\n"
                              "GENERATOR_LAST_FC_UNITS = int(28 * 28)"],
        "discriminator_answer": [
            "def block(n_in, n_out):\n    return [nn.Linear(n_in, n_out), nn.LeakyReLU(0.2, inplace=True)]\n"
            "self.main = nn.Sequential(nn.Flatten(), *block(784, 1024), *block(1024, 512), *block(512, 256),\n"
            "                          nn.Linear(256, 1), nn.Sigmoid())",
            "return self.main(x)"],
        "optimizers_answer": ["g_opt = torch.optim.Adam(generator.parameters(), lr=0.001, betas=[0.5, 0.999])\n"
                              "d_opt = torch.optim.Adam(discriminator.parameters(), lr=0.0002, betas=[0.5, 0.999])\n"
                              "return g_opt, d_opt"],
        "discriminator_loss_answer": ["real_labels = torch.ones_like(d_real)\nfake_labels = torch.zeros_like(d_fake)\n"
                                      "return (F.binary_cross_entropy(d_real, real_labels, reduction='mean')\n"
                                      "        + F.binary_cross_entropy(d_fake, fake_labels, reduction='mean'))"],
        "generator_loss_answer": ["labels = torch.ones_like(d_fake)\nreturn F.binary_cross_entropy(d_fake, labels, reduction='mean')"],
        "train_discriminator_answer": [
            "d_optimizer.zero_grad()\nwith torch.no_grad():\n    fakes = fake_images.clone()\n"
            "real_out, fake_out = discriminator(real_images), discriminator(fakes)\n"
            "err = discriminator_loss(real_out, fake_out)\nerr.backward()\nd_optimizer.step()\nreturn err.item()"],
        "train_generator_answer": [
            "g_optimizer.zero_grad()\nz = sample_noise(batch_size, latent_dim)\nerr = generator_loss(discriminator(generator(z)))\n"
            "err.backward()\ng_optimizer.step()\nreturn err.item()"],
    },
}


def _indent_like(body, stub_line):
    indent = stub_line[:len(stub_line) - len(stub_line.lstrip())]
    return "\n".join(indent + line if line else line for line in body.splitlines())


def _fill(stub, bodies):
    """The release cell with each "YOUR CODE HERE" region replaced by the next body."""
    lines = stub.splitlines()
    out, index, skip = [], 0, False
    for line in lines:
        if skip:
            skip = False
            continue
        if line.strip() == "# YOUR CODE HERE" and index < len(bodies):
            out.append(_indent_like(bodies[index], line))
            index += 1
            skip = True  # the raise NotImplementedError() line
            continue
        out.append(line)
    return "\n".join(out)


def release_and_source():
    """(release notebook, source notebook) of the lab, the release made as nbgrader makes it."""
    from nbgrader.preprocessors import ClearSolutions

    source = read_notebook(REPO / "assignments" / "source" / LAB / f"{LAB}.ipynb")
    release, _ = ClearSolutions().preprocess(nbformat.from_dict(source), {})
    return release, source


def rename(code, mapping=None):
    """Rename every name the code defines (arguments, locals, attributes it sets) to v0, v1, ..."""
    import builtins

    keep = set(dir(builtins)) | set(keyword.kwlist) | {"self", "torch", "nn", "F", "optim", "math",
                                                         "np", "super", "forward", "__init__"}
    defined = set(re.findall(r"\b(?:def|class)\s+\w+\s*\(([^)]*)\)", code))
    names = set()
    for group in defined:
        names |= {part.split("=")[0].strip().lstrip("*") for part in group.split(",") if part.strip()}
    names |= set(re.findall(r"^\s*([A-Za-z_]\w*)\s*(?:\+)?=(?!=)", code, re.M))
    names |= set(re.findall(r"self\.([A-Za-z_]\w*)\s*=", code))
    names |= set(re.findall(r"\bfor\s+([A-Za-z_]\w*)\s+in\b", code))
    names -= keep
    mapping = dict(mapping or {})
    for name in sorted(names):
        mapping.setdefault(name, f"renamed_{len(mapping)}")
    out = []
    tokens = list(tokenize.generate_tokens(io.StringIO(code).readline))
    for token in tokens:
        if token.type == tokenize.NAME and token.string in mapping:
            token = token._replace(string=mapping[token.string])
        out.append(token)
    return tokenize.untokenize(out)


def recomment(code):
    """Comments dropped, new ones added, blank lines and spacing changed (a reformat)."""
    lines = []
    for line in code.splitlines():
        stripped = re.sub(r"\s+#.*$", "", line) if '"' not in line and "'" not in line else line
        if stripped.strip().startswith("#"):
            continue
        stripped = stripped.replace(", ", ",").replace(" = ", "=")
        lines.append(stripped)
        if stripped.rstrip().endswith(":") and not stripped.strip().startswith(("class", "def")):
            indent = len(stripped) - len(stripped.lstrip()) + 4
            lines.append(" " * indent + "# my own loop / branch")
    return "\n".join(lines) + "\n# handed in on time, checked twice\n"


def synthetic_class():
    """(students, copy pairs as frozensets, the release's given code)."""
    release, source = release_and_source()
    stubs = answer_cells(release)
    students = []
    reference = {cell: solution_text(_cell(source, cell)) for cell in stubs}
    demo = []
    for submission in load_submissions(REPO / "autograder" / LAB):
        if submission.stub:
            students.append(Student(submission.name, dict(stubs)))
            continue
        cells = dict(reference)
        for edit in submission.edits:
            cells[edit.cell] = edit.apply(cells[edit.cell])
        students.append(Student(submission.name, cells))
        demo.append(submission.name)
    for name, bodies in HONEST.items():
        students.append(Student(name, {cell: _fill(stub, bodies.get(cell, [])) for cell, stub in stubs.items()}))
    original = next(student for student in students if student.name == "honest_1")
    mapping = {}
    renamed = {cell: rename(code, mapping) for cell, code in original.cells.items()}
    reordered = dict(reversed(list(original.cells.items())))
    commented = {cell: recomment(code) for cell, code in original.cells.items()}
    everything = dict(reversed([(cell, recomment(code)) for cell, code in renamed.items()]))
    copies = {"copy_renamed": renamed, "copy_reordered": reordered, "copy_recommented": commented,
              "copy_all_three": everything}
    students += [Student(name, cells) for name, cells in copies.items()]
    family_demo = set(demo)
    family_copy = {"honest_1", *copies}
    pairs = set()
    for family in (family_demo, family_copy):
        pairs |= {frozenset((a, b)) for a in family for b in family if a < b}
    return students, pairs, given_code(release)


def _cell(notebook, grade_id):
    for cell in notebook.cells:
        if nbgrader_metadata(cell).get("grade_id") == grade_id:
            return cell
    raise KeyError(grade_id)


def scaled_class(size):
    """``size`` students: the synthetic class repeated, each repeat's honest students renamed
    apart (so copies stay within their repeat) -- for timing only."""
    students, _, given = synthetic_class()
    grown = []
    round_ = 0
    while len(grown) < size:
        for student in students:
            cells = student.cells if round_ == 0 else {cell: rename(code, {}) for cell, code in student.cells.items()}
            grown.append(Student(f"{student.name}_{round_}", cells))
            if len(grown) == size:
                break
        round_ += 1
    return grown, given
