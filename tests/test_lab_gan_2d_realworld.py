"""Real-world 2-D GAN code, adapted only to the lab's names, through the 2-D lab's hidden checks.

Each entry is written in the style of public PyTorch toy-GAN code (named in its comment):
valid variants must keep every point; bugs must lose points in their own part. One test prints
"bugs caught / valid kept".
"""
from ganlab_kit.grading.notebook import find_cell, read_notebook, strip_hidden_tests
from ganlab_kit.grading.submissions import Edit
from lab_checks import grade_all, namespace_with, quick_check_failures, quick_checks, source_notebook

ASSIGNMENT = "gan_2d"
SOURCE = read_notebook(source_notebook(ASSIGNMENT))
PARTS = ("heatmap", "gradients")


def whole(cell_id, code):
    """An edit that replaces the whole answer cell ``cell_id`` by ``code``."""
    return Edit(cell_id, strip_hidden_tests(find_cell(SOURCE, cell_id).source), code)


# the decision-boundary plots of 2-D toy GAN notebooks (e.g. poloclub/ganlab's heat map, and the
# sklearn-style contour plots of PyTorch toy GANs): np.meshgrid, a float32 batch, D's sigmoid as NumPy
NUMPY_MESHGRID_HEATMAP = '''import numpy as np


def discriminator_heatmap(discriminator, xs, ys):
    xx, yy = np.meshgrid(np.asarray(xs), np.asarray(ys))            # (len(ys), len(xs)) each
    grid = torch.from_numpy(np.c_[xx.ravel(), yy.ravel()]).float()
    with torch.no_grad():
        probabilities = torch.sigmoid(discriminator(grid)).numpy()
    return probabilities.reshape(xx.shape)
'''
# the gradient fields of 2-D GAN visualisations written with functional losses: F.logsigmoid / softplus,
# points.grad after backward, a dictionary of losses
FUNCTIONAL_GRADIENTS = '''import torch.nn.functional as F


def fake_point_gradients(discriminator, fake_points, loss="non_saturating"):
    points = fake_points.detach().clone()
    points.requires_grad = True
    logits = discriminator(points)
    losses = {
        "non_saturating": lambda: -F.logsigmoid(logits).mean(),        # -log D(G(z))
        "minimax": lambda: -F.softplus(logits).mean(),                 # log(1 - D(G(z)))
        "least_squares": lambda: ((torch.sigmoid(logits) - 1) ** 2).mean(),
    }
    losses[loss]().backward()
    return points.grad
'''
# the BCE-with-targets form of the GAN tutorials (ones for G's non-saturating target, zeros for minimax)
BCE_GRADIENTS = '''def fake_point_gradients(discriminator, fake_points, loss="non_saturating"):
    criterion = torch.nn.BCEWithLogitsLoss()
    points = fake_points.detach().requires_grad_()
    logits = discriminator(points)
    if loss == "non_saturating":
        g_loss = criterion(logits, torch.ones_like(logits))
    elif loss == "minimax":
        g_loss = -criterion(logits, torch.zeros_like(logits))
    else:
        g_loss = torch.nn.MSELoss()(torch.sigmoid(logits), torch.ones_like(logits))
    return torch.autograd.grad(g_loss, points)[0]
'''

VALID = {
    "numpy_meshgrid_heatmap": whole("heatmap_answer", NUMPY_MESHGRID_HEATMAP),
    "functional_gradients": whole("gradients_answer", FUNCTIONAL_GRADIENTS),
    "bce_with_targets_gradients": whole("gradients_answer", BCE_GRADIENTS),
}

#: name -> (part that must lose points, edit)
BUGS = {
    # meshgrid with indexing="ij" (torch's old default) reshaped as if it were "xy"
    "meshgrid_ij_order": ("heatmap", whole("heatmap_answer", NUMPY_MESHGRID_HEATMAP.replace(
        "np.meshgrid(np.asarray(xs), np.asarray(ys))", "np.meshgrid(np.asarray(xs), np.asarray(ys), indexing='ij')").replace(
        "reshape(xx.shape)", "reshape(len(ys), len(xs))"))),
    # the raw decision values of the contour plots (no sigmoid)
    "contour_of_logits": ("heatmap", whole("heatmap_answer", NUMPY_MESHGRID_HEATMAP.replace(
        "torch.sigmoid(discriminator(grid)).numpy()", "discriminator(grid).numpy()"))),
    # F.logsigmoid without the minus: the non-saturating loss's sign lost
    "logsigmoid_sign_lost": ("gradients", whole("gradients_answer", FUNCTIONAL_GRADIENTS.replace(
        '"non_saturating": lambda: -F.logsigmoid(logits).mean()', '"non_saturating": lambda: F.logsigmoid(logits).mean()'))),
    # the minimax loss as softplus without the minus (D's loss on the fakes)
    "softplus_sign_lost": ("gradients", whole("gradients_answer", FUNCTIONAL_GRADIENTS.replace(
        '"minimax": lambda: -F.softplus(logits).mean()', '"minimax": lambda: F.softplus(logits).mean()'))),
    # .sum() in place of .mean(): a batch-size factor
    "summed_loss": ("gradients", whole("gradients_answer", FUNCTIONAL_GRADIENTS.replace(
        "-F.logsigmoid(logits).mean()", "-F.logsigmoid(logits).sum()"))),
    # BCELoss on D's logits with a sigmoid first, then BCEWithLogits: the sigmoid twice
    "bce_on_probabilities": ("gradients", whole("gradients_answer", BCE_GRADIENTS.replace(
        "logits = discriminator(points)", "logits = torch.sigmoid(discriminator(points))"))),
}


def test_real_world_code_both_ways(capsys):
    """Does every real-world valid variant keep every point, and every real-world bug lose points in
    its own part? Prints bugs caught / valid kept."""
    lost = {}
    for name, edit in VALID.items():
        results = grade_all(ASSIGNMENT, namespace_with(SOURCE, (edit,)), PARTS)
        failed = {part: result.failed_checks for part, result in results.items() if result.failed_checks}
        if failed:
            lost[name] = failed
    missed = [name for name, (part, edit) in BUGS.items()
              if not grade_all(ASSIGNMENT, namespace_with(SOURCE, (edit,)), (part,))[part].failed_checks]
    with capsys.disabled():
        print(f"\n2-D GAN real-world code: bugs caught {len(BUGS) - len(missed)} / {len(BUGS)}, "
              f"valid kept {len(VALID) - len(lost)} / {len(VALID)}")
    assert lost == {} and missed == []


def test_real_world_valid_code_passes_the_quick_checks():
    """Does no quick check raise a false alarm on the real-world valid variants?"""
    quick = quick_checks(SOURCE, ASSIGNMENT)
    for name, edit in VALID.items():
        assert quick_check_failures(quick, namespace_with(SOURCE, (edit,))) == {}, name
