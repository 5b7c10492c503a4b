"""Tests for ebtheory.data: file formats and their corruptions, loaders, preprocessing, nested subsets."""

from __future__ import annotations

import gzip
import pickle
import tracemalloc
from pathlib import Path

import numpy as np
import pytest
import torch
from hypothesis import given
from hypothesis import strategies as st
from hypothesis.extra import numpy as hnp

from ebtheory.data import (
    DataFileError,
    Dataset,
    find_fashion_mnist_dir,
    flatten_unit_sphere,
    load_cifar10,
    load_dataset,
    load_digits,
    load_fashion_mnist,
    load_mnist_idx,
    nested_subset_indices,
    nested_subset_order,
    one_hot,
    read_cifar_batch,
    read_idx,
    synthetic_teacher,
    write_idx,
)
from ebtheory.data.formats import read_file_bytes

DEBIAN_FASHION_MNIST = Path("/usr/share/datasets/fashion-mnist")


# --- helpers that write small, valid files ----------------------------------------------------


def write_fake_mnist(directory: Path, n_train=7, n_test=5, size=(4, 3), gz=True, dotted=False, seed=0):
    """Write the four IDX files; returns the arrays written."""
    rng = np.random.default_rng(seed)
    directory.mkdir(parents=True, exist_ok=True)
    arrays = {
        ("train", "images"): rng.integers(0, 256, (n_train, *size), dtype=np.uint8),
        ("train", "labels"): rng.integers(0, 10, n_train, dtype=np.uint8),
        ("t10k", "images"): rng.integers(0, 256, (n_test, *size), dtype=np.uint8),
        ("t10k", "labels"): rng.integers(0, 10, n_test, dtype=np.uint8),
    }
    for (split, kind), array in arrays.items():
        idx = "idx3" if kind == "images" else "idx1"
        name = f"{split}-{kind}{'.' if dotted else '-'}{idx}-ubyte" + (".gz" if gz else "")
        write_idx(directory / name, array, gzip=gz)
    return arrays


def cifar_batch(n: int, seed: int) -> dict:
    rng = np.random.default_rng(seed)
    return {b"data": rng.integers(0, 256, (n, 3072), dtype=np.uint8), b"labels": rng.integers(0, 10, n).tolist()}


def write_pickle(path: Path, obj: object) -> Path:
    path.write_bytes(pickle.dumps(obj))
    return path


def write_fake_cifar(directory: Path, per_batch=3) -> dict[str, dict]:
    directory.mkdir(parents=True, exist_ok=True)
    names = [f"data_batch_{i}" for i in range(1, 6)] + ["test_batch"]
    batches = {name: cifar_batch(per_batch, seed) for seed, name in enumerate(names)}
    for name, batch in batches.items():
        write_pickle(directory / name, batch)
    return batches


def assert_names_file(error: pytest.ExceptionInfo, path: Path, fragment: str) -> None:
    message = str(error.value)
    assert str(path) in message, message
    assert fragment in message, message


# --- IDX format -------------------------------------------------------------------------------

IDX_DTYPES = [np.uint8, np.int8, np.int16, np.int32, np.float32, np.float64]


@given(
    array=st.sampled_from(IDX_DTYPES).flatmap(
        lambda dtype: hnp.arrays(dtype, hnp.array_shapes(min_dims=1, max_dims=4, min_side=0, max_side=5))
    ),
    gz=st.booleans(),
)
def test_idx_round_trip(tmp_path_factory, array, gz):
    path = tmp_path_factory.mktemp("idx") / "a.idx"
    write_idx(path, array, gzip=gz)
    assert path.read_bytes().startswith(b"\x1f\x8b") == gz
    back = read_idx(path)
    assert back.dtype == array.dtype.newbyteorder("=") and back.shape == array.shape
    np.testing.assert_array_equal(back, array)


def test_idx_header_is_big_endian_as_specified(tmp_path):
    path = write_idx(tmp_path / "x", np.array([[1, 258]], dtype=np.int16))
    assert path.read_bytes() == bytes([0, 0, 0x0B, 2, 0, 0, 0, 1, 0, 0, 0, 2, 0, 1, 1, 2])


def test_write_idx_infers_gzip_from_suffix_and_rejects_bad_dtype(tmp_path):
    assert write_idx(tmp_path / "a.gz", np.zeros(3, np.uint8)).read_bytes()[:2] == b"\x1f\x8b"
    assert write_idx(tmp_path / "a", np.zeros(3, np.uint8)).read_bytes()[:2] == b"\0\0"
    with pytest.raises(ValueError, match="int64"):
        write_idx(tmp_path / "b", np.zeros(3, np.int64))


VALID_IDX = bytes([0, 0, 0x08, 2, 0, 0, 0, 2, 0, 0, 0, 3]) + bytes(range(6))


@pytest.mark.parametrize(
    ("content", "fragment"),
    [
        (b"\x00\x00", "truncated IDX header"),
        (bytes([8, 3]) + VALID_IDX[2:], "wrong IDX magic"),
        (VALID_IDX[:2] + bytes([0x07]) + VALID_IDX[3:], "unknown IDX type code 0x07"),
        (bytes([0, 0, 8, 0]), "0 dimensions"),
        (VALID_IDX[:9], "truncated IDX header"),
        (VALID_IDX[:-1], "truncated: header shape (2, 3)"),
        (VALID_IDX + b"\0", "trailing bytes"),
        (gzip.compress(VALID_IDX)[:-12], "gzip"),
        (gzip.compress(VALID_IDX[:-2]), "truncated"),
    ],
)
def test_corrupt_idx_names_file_and_problem(tmp_path, content, fragment):
    path = tmp_path / "bad-idx3-ubyte"
    path.write_bytes(content)
    with pytest.raises(DataFileError) as error:
        read_idx(path)
    assert isinstance(error.value, ValueError)
    assert_names_file(error, path, fragment)


def test_valid_idx_bytes_read(tmp_path):
    (tmp_path / "ok").write_bytes(VALID_IDX)
    np.testing.assert_array_equal(read_idx(tmp_path / "ok"), np.arange(6, dtype=np.uint8).reshape(2, 3))


def test_missing_idx_file(tmp_path):
    with pytest.raises(FileNotFoundError, match=str(tmp_path / "nope")):
        read_idx(tmp_path / "nope")


def _gzip_bomb(path: Path, head: bytes, zeros: int) -> Path:
    """`head` followed by `zeros` zero bytes, gzipped in a stream (a ~1000x smaller file)."""
    with gzip.open(path, "wb", compresslevel=9) as out:
        out.write(head)
        chunk = bytes(1 << 20)
        for start in range(0, zeros, len(chunk)):
            out.write(chunk[: min(len(chunk), zeros - start)])
    return path


def _peak_python_bytes(read, path: Path) -> int:
    tracemalloc.start()
    try:
        with pytest.raises(DataFileError) as error:
            read(path)
        return tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
        assert str(path) in str(error.value)


BOMB_BYTES = 64 * 2**20


def test_gzip_bomb_with_a_small_valid_header_fails_fast_in_bounded_memory(tmp_path):
    bomb = _gzip_bomb(tmp_path / "train-images-idx3-ubyte.gz", VALID_IDX, BOMB_BYTES)
    assert bomb.stat().st_size < BOMB_BYTES // 500
    peak = _peak_python_bytes(read_idx, bomb)
    assert peak < 4 * 2**20, f"reading a {BOMB_BYTES}-byte bomb took {peak} bytes"
    with pytest.raises(DataFileError, match="trailing bytes"):
        read_idx(bomb)


def test_gzip_bomb_of_zeros_fails_at_its_header(tmp_path):
    bomb = _gzip_bomb(tmp_path / "t10k-labels-idx1-ubyte.gz", b"", BOMB_BYTES)
    assert _peak_python_bytes(read_idx, bomb) < 2**20
    with pytest.raises(DataFileError, match="unknown IDX type code 0x00"):
        read_idx(bomb)


def test_idx_header_announcing_too_much_is_refused_before_reading(tmp_path):
    huge = bytes([0, 0, 0x08, 3]) + np.array([60000, 28, 28], dtype=">u4").tobytes()
    bomb = _gzip_bomb(tmp_path / "x.gz", huge, 2**20)
    with pytest.raises(DataFileError, match="announces 47040000 data bytes, more than 1000000"):
        read_idx(bomb, max_bytes=10**6)
    enormous = bytes([0, 0, 0x0E, 3]) + np.array([2**32 - 1] * 3, dtype=">u4").tobytes()
    (tmp_path / "y").write_bytes(enormous)
    with pytest.raises(DataFileError, match="more than"):
        read_idx(tmp_path / "y")


def test_cifar_gzip_bomb_is_capped(tmp_path):
    bomb = _gzip_bomb(tmp_path / "data_batch_1", b"", BOMB_BYTES)
    tracemalloc.start()
    try:
        with pytest.raises(DataFileError, match="holds more than 1048576 bytes"):
            read_file_bytes(bomb, max_bytes=2**20)
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    assert peak < 8 * 2**20
    assert read_file_bytes(write_idx(tmp_path / "ok.gz", np.arange(6, dtype=np.uint8))) == VALID_IDX[:2] + bytes(
        [8, 1, 0, 0, 0, 6]
    ) + bytes(range(6))


# --- MNIST-format loader ----------------------------------------------------------------------


@pytest.mark.parametrize(("gz", "dotted"), [(True, False), (False, False), (True, True), (False, True)])
def test_load_mnist_idx_values_and_layout(tmp_path, gz, dotted):
    arrays = write_fake_mnist(tmp_path, gz=gz, dotted=dotted)
    data = load_mnist_idx(tmp_path)
    assert data.input_shape == (1, 4, 3) and data.num_classes == 10 and data.name == "mnist"
    assert data.X_train.dtype == torch.float32 and data.y_train.dtype == torch.int64
    expected = arrays[("train", "images")].astype(np.float64)[:, None] / 255
    np.testing.assert_allclose(data.X_train.numpy(), expected, rtol=1e-6)
    np.testing.assert_array_equal(data.y_test.numpy(), arrays[("t10k", "labels")])
    assert 0.0 <= float(data.X_test.min()) and float(data.X_test.max()) <= 1.0


@pytest.mark.parametrize("sub", ["mnist", "MNIST/raw"])
def test_load_mnist_idx_finds_common_subfolders(tmp_path, sub):
    write_fake_mnist(tmp_path / sub)
    assert load_mnist_idx(tmp_path).n_train == 7


def _rewrite(directory: Path, name: str, array: np.ndarray) -> Path:
    return write_idx(directory / name, array, gzip=True)


@pytest.mark.parametrize(
    ("name", "array", "fragment"),
    [
        ("train-labels-idx1-ubyte.gz", np.zeros(6, np.uint8), "holds 6 labels but"),
        ("train-images-idx3-ubyte.gz", np.zeros((7, 12), np.uint8), "shape (n, H, W)"),
        ("train-images-idx3-ubyte.gz", np.zeros((7, 4, 3), np.float32), "must be uint8"),
        ("train-labels-idx1-ubyte.gz", np.zeros((7, 1), np.uint8), "shape (n,)"),
        ("t10k-labels-idx1-ubyte.gz", np.full(5, 10, np.uint8), "labels must lie in [0, 9]"),
        ("t10k-images-idx3-ubyte.gz", np.zeros((5, 3, 4), np.uint8), "differs from the training"),
    ],
)
def test_load_mnist_idx_rejects_inconsistent_files(tmp_path, name, array, fragment):
    write_fake_mnist(tmp_path)
    path = _rewrite(tmp_path, name, array)
    with pytest.raises(DataFileError) as error:
        load_mnist_idx(tmp_path)
    assert_names_file(error, path, fragment)


def test_load_mnist_idx_missing_lists_places(tmp_path):
    write_fake_mnist(tmp_path)
    (tmp_path / "t10k-labels-idx1-ubyte.gz").unlink()
    with pytest.raises(FileNotFoundError) as error:
        load_mnist_idx(tmp_path)
    for place in (tmp_path, tmp_path / "mnist", tmp_path / "MNIST" / "raw"):
        assert str(place) in str(error.value)


# --- finding Fashion-MNIST --------------------------------------------------------------------


def test_find_fashion_mnist_dir_search_order(tmp_path):
    for name in ("arg", "env/fashion-mnist", "system"):
        write_fake_mnist(tmp_path / name)
    env = {"EBTHEORY_DATA_DIR": str(tmp_path / "env")}
    system = [str(tmp_path / "empty"), str(tmp_path / "system")]
    assert find_fashion_mnist_dir(tmp_path / "arg", environ=env, system_dirs=system) == tmp_path / "arg"
    assert find_fashion_mnist_dir(None, environ=env, system_dirs=system) == tmp_path / "env" / "fashion-mnist"
    assert find_fashion_mnist_dir(None, environ={}, system_dirs=system) == tmp_path / "system"


def test_explicit_data_dir_without_files_fails_instead_of_falling_back(tmp_path):
    write_fake_mnist(tmp_path / "system")
    with pytest.raises(FileNotFoundError) as error:
        find_fashion_mnist_dir(tmp_path / "empty", environ={}, system_dirs=[str(tmp_path / "system")])
    assert str(tmp_path / "empty") in str(error.value) and str(tmp_path / "system") not in str(error.value)


def test_find_fashion_mnist_dir_error_names_every_place(tmp_path):
    env = {"EBTHEORY_DATA_DIR": str(tmp_path / "env")}
    system = [str(tmp_path / "s1"), str(tmp_path / "s2")]
    with pytest.raises(FileNotFoundError) as error:
        find_fashion_mnist_dir(None, environ=env, system_dirs=system)
    for place in ("env", "env/fashion-mnist", "env/FashionMNIST/raw", "s1", "s2"):
        assert str(tmp_path / place) in str(error.value)


def test_load_fashion_mnist_from_folder(tmp_path):
    write_fake_mnist(tmp_path, n_train=4, n_test=2, size=(28, 28))
    data = load_fashion_mnist(tmp_path)
    assert data.name == "fashion-mnist" and data.input_shape == (1, 28, 28) and data.n_test == 2


@pytest.mark.skipif(
    not DEBIAN_FASHION_MNIST.is_dir(), reason=f"{DEBIAN_FASHION_MNIST} absent (apt dataset-fashion-mnist)"
)
def test_debian_fashion_mnist_loads():
    data = load_fashion_mnist(environ={})
    assert (data.n_train, data.n_test, data.input_shape) == (60000, 10000, (1, 28, 28))
    assert torch.bincount(data.y_train, minlength=10).tolist() == [6000] * 10
    assert torch.bincount(data.y_test, minlength=10).tolist() == [1000] * 10
    assert float(data.X_train.min()) == 0.0 and float(data.X_train.max()) == 1.0


# --- CIFAR-10 ---------------------------------------------------------------------------------


@pytest.mark.parametrize("inside", [True, False])
def test_load_cifar10_layout_and_order(tmp_path, inside):
    batches = write_fake_cifar(tmp_path / "cifar-10-batches-py" if inside else tmp_path)
    data = load_cifar10(tmp_path)
    assert (data.n_train, data.n_test, data.input_shape) == (15, 3, (3, 32, 32))
    # Image 4 of the training set is image 1 of data_batch_2; pixel (c, r, col) is entry c*1024 + r*32 + col.
    raw = batches["data_batch_2"][b"data"][1]
    for c, r, col in [(0, 0, 0), (1, 5, 7), (2, 31, 31)]:
        assert float(data.X_train[4, c, r, col]) == pytest.approx(raw[c * 1024 + r * 32 + col] / 255)
    expected_labels = sum((batches[f"data_batch_{i}"][b"labels"] for i in range(1, 6)), [])
    assert data.y_train.tolist() == expected_labels
    assert data.y_test.tolist() == batches["test_batch"][b"labels"]


class _Exploit:
    """Unpickles into a call of a global; harmless here, but a hostile file would name os.system."""

    def __reduce__(self):
        return (str, ("called",))


def _good() -> dict:
    return cifar_batch(2, 0)


@pytest.mark.parametrize(
    ("content", "fragment"),
    [
        (b"this is not a pickle", "not a readable pickle"),
        (pickle.dumps(_good())[:-20], "not a readable pickle"),
        (pickle.dumps([1, 2]), "expected a dict"),
        (pickle.dumps({b"data": _good()[b"data"], b"fine_labels": [0, 1]}), "b'labels'"),
        (pickle.dumps({**_good(), b"data": _good()[b"data"][:, :100]}), "shape (n, 3072)"),
        (pickle.dumps({**_good(), b"data": _good()[b"data"].astype(np.int32)}), "must be uint8"),
        (pickle.dumps({**_good(), b"labels": [0, 1, 2]}), "holds 2 images"),
        (pickle.dumps({**_good(), b"labels": [0, 10]}), "labels must lie in [0, 9]"),
        (pickle.dumps({**_good(), b"labels": ["a", "b"]}), "not a list of integers"),
        (pickle.dumps({b"x": _Exploit()}), "refusing to load global"),
    ],
)
def test_corrupt_cifar_batch_names_file_and_problem(tmp_path, content, fragment):
    path = tmp_path / "data_batch_1"
    path.write_bytes(content)
    with pytest.raises(DataFileError) as error:
        read_cifar_batch(path)
    assert_names_file(error, path, fragment)


def test_cifar_gzipped_batch_reads(tmp_path):
    batch = _good()
    (tmp_path / "b").write_bytes(gzip.compress(pickle.dumps(batch)))
    images, labels = read_cifar_batch(tmp_path / "b")
    np.testing.assert_array_equal(images.reshape(2, -1), batch[b"data"])


def test_load_cifar10_missing_batches(tmp_path):
    with pytest.raises(FileNotFoundError, match="cifar-10-batches-py"):
        load_cifar10(tmp_path)
    write_fake_cifar(tmp_path)
    (tmp_path / "data_batch_4").unlink()
    with pytest.raises(FileNotFoundError, match="data_batch_4"):
        load_cifar10(tmp_path)


# --- digits, synthetic, by name ---------------------------------------------------------------


def test_digits_split_is_seeded_and_complete():
    from sklearn.datasets import load_digits as sklearn_digits

    a, b, c = load_digits(seed=0), load_digits(seed=0), load_digits(seed=1)
    assert (a.n_train + a.n_test, a.input_shape, a.num_classes) == (1797, (1, 8, 8), 10)
    assert torch.equal(a.X_train, b.X_train) and torch.equal(a.y_test, b.y_test)
    assert not torch.equal(a.X_train, c.X_train)
    rows = np.concatenate([a.X_train.reshape(-1, 64).numpy(), a.X_test.reshape(-1, 64).numpy()]) * 16
    full = sklearn_digits().data
    np.testing.assert_array_equal(np.unique(rows, axis=0), np.unique(full, axis=0))
    assert float(rows.max()) == 16.0


def test_digits_on_unit_sphere():
    X = flatten_unit_sphere(load_digits(seed=3).X_train)
    assert X.shape == (1347, 64) and X.dtype == torch.float32
    torch.testing.assert_close(X.norm(dim=1), torch.ones(1347), atol=1e-6, rtol=0)


def test_synthetic_teacher_properties():
    data = synthetic_teacher(n_train=300, n_test=50, d=8, num_classes=4, seed=5)
    again = synthetic_teacher(n_train=300, n_test=50, d=8, num_classes=4, seed=5)
    other = synthetic_teacher(n_train=300, n_test=50, d=8, num_classes=4, seed=6)
    assert torch.equal(data.X_train, again.X_train) and torch.equal(data.Y_test, again.Y_test)
    assert not torch.equal(data.X_train, other.X_train)
    torch.testing.assert_close(data.X_train.norm(dim=1), torch.ones(300), atol=1e-6, rtol=0)
    assert torch.equal(data.y_train, data.Y_train.argmax(dim=1)) and data.Y_train.shape == (300, 4)


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_synthetic_teacher_bias_centres_outputs(seed):
    """The output bias b is the sample mean, so no class wins by its offset alone."""
    data = synthetic_teacher(n_train=1500, n_test=500, d=64, num_classes=10, seed=seed)
    Y = torch.cat([data.Y_train, data.Y_test])
    torch.testing.assert_close(Y.mean(dim=0), torch.zeros(10), atol=1e-5, rtol=0)
    assert int(torch.bincount(data.y_train, minlength=10).min()) >= 1500 // 40


def test_synthetic_teacher_is_a_function_of_x():
    """Noise adds N(0, noise^2) to Y and leaves X alone; the noiseless targets vary smoothly with x."""
    data = synthetic_teacher(n_train=200, n_test=0, d=5, num_classes=3, seed=0)
    noisy = synthetic_teacher(n_train=200, n_test=0, d=5, num_classes=3, seed=0, noise=0.5)
    torch.testing.assert_close(noisy.X_train, data.X_train)
    assert float((noisy.Y_train - data.Y_train).std()) == pytest.approx(0.5, rel=0.2)
    # A ReLU teacher is Lipschitz: the closest pairs of inputs have close targets.
    distance = torch.cdist(data.X_train, data.X_train) + 10 * torch.eye(200)
    i = torch.arange(200)
    j = distance.argmin(dim=1)
    target_gap = (data.Y_train[i] - data.Y_train[j]).norm(dim=1)
    far_gap = (data.Y_train[i] - data.Y_train[torch.roll(i, 1)]).norm(dim=1)
    assert float(target_gap.mean()) < 0.7 * float(far_gap.mean())


@pytest.mark.parametrize(
    ("kwargs", "fragment"),
    [
        ({"d": 1}, "d must be"),
        ({"num_classes": 1}, "num_classes must"),
        ({"n_train": 0}, "n_train"),
        ({"noise": -1.0}, "noise"),
    ],
)
def test_synthetic_teacher_rejects_bad_arguments(kwargs, fragment):
    args = {"n_train": 5, "n_test": 5, "d": 3, "num_classes": 2, "seed": 0, **kwargs}
    with pytest.raises(ValueError, match=fragment):
        synthetic_teacher(**args)


def test_load_dataset_by_name(tmp_path):
    write_fake_mnist(tmp_path / "mnist")
    write_fake_cifar(tmp_path / "cifar-10-batches-py")
    assert load_dataset("digits", seed=2).name == "digits"
    assert load_dataset("synthetic", seed=1).input_shape == (64,)
    assert load_dataset("mnist", data_dir=tmp_path).name == "mnist"
    assert load_dataset("cifar10", environ={"EBTHEORY_DATA_DIR": str(tmp_path)}).n_train == 15
    write_fake_mnist(tmp_path / "fashion-mnist")
    assert load_dataset("fashion-mnist", data_dir=tmp_path).name == "fashion-mnist"
    with pytest.raises(ValueError, match="name must be one of digits"):
        load_dataset("imagenet")
    with pytest.raises(ValueError, match="data_dir"):
        load_dataset("mnist", environ={})


def test_dataset_validates_and_subsets():
    data = synthetic_teacher(n_train=10, n_test=2, d=3, num_classes=2, seed=0)
    with pytest.raises(ValueError, match="y_train must lie in"):
        Dataset("x", data.X_train, data.y_train + 5, data.X_test, data.y_test, 2, (3,))
    with pytest.raises(ValueError, match="X_test must be float32"):
        Dataset("x", data.X_train, data.y_train, data.X_test.double(), data.y_test, 2, (3,))
    small = data.with_train_subset(torch.tensor([3, 1]))
    assert torch.equal(small.X_train, data.X_train[[3, 1]]) and torch.equal(small.Y_train, data.Y_train[[3, 1]])


# --- preprocessing ----------------------------------------------------------------------------


@given(
    X=hnp.arrays(
        np.float64,
        st.tuples(st.integers(1, 6), st.integers(1, 3), st.integers(1, 3)),
        elements=st.floats(-1e3, 1e3).filter(lambda v: v == 0 or abs(v) > 1e-3),
    )
)
def test_flatten_unit_sphere_projects_each_row(X):
    flat = X.reshape(X.shape[0], -1)
    norms = np.linalg.norm(flat, axis=1)
    if (norms == 0).any():
        with pytest.raises(ValueError, match=f"first indices \\[{int(np.argmax(norms == 0))}"):
            flatten_unit_sphere(X)
        return
    out = flatten_unit_sphere(X)
    assert out.dtype == torch.float32 and out.shape == flat.shape
    np.testing.assert_allclose(out.numpy(), flat / norms[:, None], atol=1e-6)


def test_flatten_unit_sphere_names_bad_rows():
    X = torch.ones(4, 3)
    X[2] = 0
    with pytest.raises(ValueError, match=r"zero rows \(first indices \[2\]\)"):
        flatten_unit_sphere(X)
    X[2, 0] = float("nan")
    with pytest.raises(ValueError, match=r"non-finite values in rows \[2\]"):
        flatten_unit_sphere(X)


@given(labels=st.lists(st.integers(0, 6), min_size=0, max_size=30), extra=st.integers(0, 3))
def test_one_hot_matches_loop(labels, extra):
    num_classes = max(labels, default=0) + 1 + extra
    Y = one_hot(torch.tensor(labels, dtype=torch.int64), num_classes)
    expected = np.zeros((len(labels), num_classes), np.float32)
    for i, label in enumerate(labels):
        expected[i, label] = 1
    assert Y.dtype == torch.float32
    np.testing.assert_array_equal(Y.numpy(), expected)


def test_one_hot_rejects_out_of_range():
    with pytest.raises(ValueError, match=r"\[0, 2\].*got range \[0, 3\]"):
        one_hot(torch.tensor([0, 3]), 3)
    with pytest.raises(ValueError, match="integer class labels"):
        one_hot(torch.tensor([0.0, 1.0]), 3)


labels_strategy = st.lists(st.integers(0, 4), min_size=1, max_size=60)


@given(labels=labels_strategy, seed=st.integers(0, 2**32 - 1), balanced=st.booleans(), data=st.data())
def test_nested_subsets_are_prefixes(labels, seed, balanced, data):
    n = len(labels)
    m1 = data.draw(st.integers(1, n))
    m2 = data.draw(st.integers(m1, n))
    small = nested_subset_indices(labels, m1, seed, balanced)
    large = nested_subset_indices(labels, m2, seed, balanced)
    assert small.dtype == torch.int64 and small.shape == (m1,)
    assert set(small.tolist()) <= set(large.tolist())
    assert torch.equal(small, large[:m1])
    full = nested_subset_order(labels, seed, balanced)
    assert sorted(full.tolist()) == list(range(n))


@given(labels=labels_strategy, seed=st.integers(0, 2**32 - 1))
def test_balanced_prefixes_are_as_balanced_as_possible(labels, seed):
    labels_np = np.asarray(labels)
    totals = np.bincount(labels_np, minlength=5)
    order = nested_subset_order(labels_np, seed, balanced=True).numpy()
    counts = np.zeros(5, np.int64)
    for index in order:
        counts[labels_np[index]] += 1
        # A class short of the leader must be exhausted, and no class leads another by two.
        live = counts < totals
        assert counts.max() - counts[live].min(initial=counts.max()) <= 1


def test_nested_subsets_deterministic_and_seeded():
    labels = np.arange(200) % 3
    a = nested_subset_indices(labels, 50, seed=7)
    assert torch.equal(a, nested_subset_indices(labels, 50, seed=7))
    assert not torch.equal(a, nested_subset_indices(labels, 50, seed=8))
    assert not torch.equal(a, torch.arange(50))
    b = nested_subset_indices(labels, 30, seed=7, balanced=True)
    assert np.bincount(labels[b.numpy()]).tolist() == [10, 10, 10]


@pytest.mark.parametrize("m", [0, 11, -1, 2.5, True])
def test_nested_subsets_reject_m_out_of_range(m):
    with pytest.raises(ValueError, match=r"m must be an integer in \[1, 10\].*got m="):
        nested_subset_indices(np.zeros(10, np.int64), m, seed=0)
