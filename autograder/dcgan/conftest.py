"""Shared helpers of the DCGAN lab's hidden checks.

Every object a student's function receives is built in the notebook's process
(``nb.new``); what comes back is plain data. Expected values come from the kit's
reference code, run here in the checks' process.
"""
import pytest
import torch

from ganlab_kit.grading.safe_load import load_by_order, load_tensors
from ganlab_kit.scoring import generate_images, score_images
from ganlab_kit.torch_gan import DCGANDiscriminator, DCGANGenerator

PROBES = "ganlab_kit.grading.probes"
LATENT_DIM = 8
IMAGE_SHAPES = ((1, 28, 28), (3, 32, 32))


@pytest.fixture
def reference_generator():
    """``reference_generator(image_shape)``: the kit's twin of the lab's Generator (8-d noise,
    width 32, refining 3x3 layer), built here in the checks' process."""
    return lambda image_shape=(1, 28, 28): DCGANGenerator(latent_dim=LATENT_DIM, image_shape=image_shape,
                                                          width=32, refine=True)


@pytest.fixture
def reference_discriminator():
    """``reference_discriminator(image_shape)``: the kit's twin of the lab's Discriminator
    (width 16, 256 hidden units, one logit)."""
    return lambda image_shape=(1, 28, 28): DCGANDiscriminator(image_shape=image_shape, width=16, hidden=256,
                                                              output_activation=None)


@pytest.fixture
def forward_layers(nb):
    """``forward_layers(module, *inputs)``: the leaf layers one forward pass ran, in order, each
    described (type, kernel_size, stride, ...) with its ``output_shape``."""
    return lambda module, *inputs: nb.new(f"{PROBES}:forward_layers", module, *inputs)


@pytest.fixture
def leaf_layers(nb):
    """``leaf_layers(module)``: descriptions of a notebook module's leaf layers, in order."""
    return lambda module: nb.new(f"{PROBES}:leaf_layers", module)


def _weights(state):
    """The floating-point entries of a state_dict (weights, biases, BatchNorm statistics), in
    order; integer counters such as ``num_batches_tracked`` play no part in a forward pass."""
    return {name: value for name, value in state.items() if value.is_floating_point()}


def _shapes_of(state):
    return [tuple(value.shape) for value in _weights(state).values()]


def _with_reference_weights(remote_module, reference):
    """Load the reference's weights into the notebook's module: by name where both hold the same
    names with the same shapes (whatever order the attributes were assigned in), else by order
    and shape (other names, same layers). False when neither pairs every weight."""
    student_state = _weights(remote_module.state_dict())
    reference_state = _weights(reference.state_dict())
    if set(student_state) == set(reference_state) and all(
            tuple(student_state[name].shape) == tuple(value.shape) for name, value in reference_state.items()):
        remote_module.load_state_dict(dict(reference_state), strict=False)
        return True
    if _shapes_of(student_state) != _shapes_of(reference_state):
        return False
    remote_module.load_state_dict({name: value for name, value in
                                   zip(student_state.keys(), reference_state.values())}, strict=False)
    return True


def _first_difference(student_state, reference_state):
    """Words for the first weight whose shape differs from the reference's (by position)."""
    given, wanted = _shapes_of(student_state), _shapes_of(reference_state)
    for index, (mine, theirs) in enumerate(zip(given, wanted)):
        if mine != theirs:
            return f"weight number {index + 1} has shape {mine} where the table's layers need {theirs}"
    return f"there are {len(given)} weight tensors where the table's layers have {len(wanted)}"


def _layer_difference(given, wanted):
    """Words for the first leaf layer (described by probes.leaf_layers) whose type or LeakyReLU slope
    differs from the reference's, or None when the layers agree."""
    for index, (mine, theirs) in enumerate(zip(given, wanted)):
        if mine["type"] != theirs["type"]:
            return (f"layer number {index + 1} is an nn.{mine['type']} where the table's network has an "
                    f"nn.{theirs['type']}")
        if mine.get("negative_slope") != theirs.get("negative_slope"):
            return (f"layer number {index + 1} is a LeakyReLU with slope {mine.get('negative_slope')} where the "
                    f"table's has {theirs.get('negative_slope')}")
    if len(given) != len(wanted):
        return f"there are {len(given)} layers where the table's network has {len(wanted)}"
    return None


@pytest.fixture
def layer_difference(leaf_layers):
    """``layer_difference(remote_module, reference)``: words for the first leaf layer whose type or
    slope differs from the reference module's, or None."""
    from ganlab_kit.grading.probes import leaf_layers as local_leaf_layers

    return lambda remote, reference: _layer_difference(leaf_layers(remote), local_leaf_layers(reference))


@pytest.fixture
def first_difference():
    """``first_difference(student_state, reference_state)``: which weight's shape differs, in words."""
    return _first_difference


@pytest.fixture
def with_reference_weights():
    """``with_reference_weights(remote_module, reference)``: load the kit module's weights into the
    notebook's module by name when the names match, else by order and shape (names may differ);
    False when the layouts differ."""
    return _with_reference_weights


QUALITY_SAMPLES = 1000   # images scored
QUALITY_SEED = 0         # noise seed: the same submission always gets the same score


def _load_submitted_generator(path, what):
    assert path.is_file(), (
        f"there is no {path.name} next to the notebook: run the {what} training cell (it saves the "
        f"averaged generator there) and hand in {path.name} with the notebook.")
    generator = DCGANGenerator(latent_dim=LATENT_DIM, width=32, refine=True)
    try:
        load_by_order(generator, load_tensors(path))
    except Exception as error:  # a student's file: report, do not crash
        raise AssertionError(
            f"{path.name} does not hold the lab's Generator weights (the table of part 3); fit_to_bar "
            f"saves them in the training cell. ({error})") from None
    return generator.eval()


@pytest.fixture(scope="module")
def submitted_scores(nb):
    """``submitted_scores(filename, dataset, what)``: the scores of a submitted generator file,
    read with a safe loader into the kit's twin of the lab's Generator (no student code runs),
    1,000 samples from noise seed 0, scored by ``dataset``'s classifier; loading errors raise
    AssertionError with feedback. Cached per file for the module."""
    cache = {}

    def score(filename, dataset, what):
        if filename not in cache:
            try:
                generator = _load_submitted_generator(nb.path(filename), what)
                images = generate_images(generator, n=QUALITY_SAMPLES, seed=QUALITY_SEED)
                cache[filename] = score_images(images.clamp(-1.0, 1.0), reference=None, dataset=dataset)
            except AssertionError as error:
                cache[filename] = error
        if isinstance(cache[filename], AssertionError):
            raise AssertionError(str(cache[filename])) from None
        return cache[filename]

    return score
