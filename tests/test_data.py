"""chainrule.data: mini-batches, the digits, and MNIST-style IDX files (never from the network)."""

import gzip
import hashlib
import re
import shutil
import urllib.error
from pathlib import Path

import numpy as np
import pytest

import chainrule as cr
from chainrule import _random, data, nn
from chainrule.data import DataLoader

SHARED = Path(__file__).resolve().parents[2] / "shared" / "data"


def _readme_md5(dataset):
    text = (SHARED / "README.md").read_text()
    section = text.split(f"`{dataset}/`")[1].split("## ")[0]
    return dict(re.findall(r"\| (\S+\.gz) \| \d+ \| ([0-9a-f]{32}) \|", section))


# --------------------------------------------------------------------------- DataLoader

def test_loader_without_shuffle_yields_consecutive_slices_and_a_short_last_batch():
    X = np.arange(20).reshape(10, 2)
    y = np.arange(10)
    batches = list(DataLoader(X, y, batch_size=4))
    assert [len(b[1]) for b in batches] == [4, 4, 2]
    assert all(isinstance(b, tuple) and len(b) == 2 for b in batches)
    np.testing.assert_array_equal(np.concatenate([b[0] for b in batches]), X)
    np.testing.assert_array_equal(np.concatenate([b[1] for b in batches]), y)
    assert len(DataLoader(X, y, batch_size=4)) == 3


def test_drop_last_skips_the_short_batch_and_len_counts_it_out():
    loader = DataLoader(np.arange(10), batch_size=4, drop_last=True)
    assert len(loader) == 2
    assert [len(b[0]) for b in loader] == [4, 4]


def test_shuffled_pass_is_a_permutation_that_keeps_rows_and_labels_together():
    X = np.arange(30).reshape(15, 2)
    y = np.arange(15)
    batches = list(DataLoader(X, y, batch_size=4, shuffle=True, seed=1))
    xb = np.concatenate([b[0] for b in batches])
    yb = np.concatenate([b[1] for b in batches])
    assert sorted(yb.tolist()) == list(range(15))
    np.testing.assert_array_equal(xb, X[yb])
    assert not np.array_equal(yb, y)


def test_same_seed_gives_same_orders_and_passes_differ():
    def orders(seed):
        loader = DataLoader(np.arange(50), batch_size=50, shuffle=True, seed=seed)
        return [next(iter(loader))[0] for _ in range(3)]
    a, b, c = orders(7), orders(7), orders(8)
    for x, z in zip(a, b, strict=True):
        np.testing.assert_array_equal(x, z)
    assert not np.array_equal(a[0], a[1])
    assert not np.array_equal(a[0], c[0])


def test_state_dict_makes_a_new_loader_continue_with_the_same_orders():
    first = DataLoader(np.arange(40), batch_size=8, shuffle=True, seed=3)
    list(first)
    state = first.state_dict()
    expected = [np.concatenate([b[0] for b in first]) for _ in range(2)]
    second = DataLoader(np.arange(40), batch_size=8, shuffle=True, seed=99)
    second.load_state_dict(state)
    got = [np.concatenate([b[0] for b in second]) for _ in range(2)]
    for e, g in zip(expected, got, strict=True):
        np.testing.assert_array_equal(e, g)


_STATE = DataLoader(np.arange(4), batch_size=2, shuffle=True, seed=0).state_dict()


@pytest.mark.parametrize("state, error, got", [
    (None, TypeError, "got None"),
    ([_STATE], TypeError, "got list"),
    ({}, ValueError, r"got a dict with the keys \[\]"),
    ({"generator": _STATE["rng"]}, ValueError, r"got a dict with the keys \['generator'\]"),
    ({"rng": None}, ValueError, "got None under 'rng'"),
    (_STATE["rng"], ValueError, r"got a dict with the keys \['bit_generator', .*it looks like a bit "
                                r"generator's state itself: pass \{'rng': state\}"),
])
def test_load_state_dict_of_a_state_of_another_form_says_what_it_expected_and_got(state, error, got):
    loader = DataLoader(np.arange(40), batch_size=8, shuffle=True, seed=3)
    before = loader.state_dict()
    expected = (r"expected the dict that DataLoader\.state_dict\(\) returns, "
                r"\{'rng': <its bit generator's state>\}")
    with pytest.raises(error, match=r"^DataLoader\.load_state_dict: " + expected + ", " + got):
        loader.load_state_dict(state)
    assert loader.state_dict() == before


@pytest.mark.parametrize("bit_generator, missing", [(np.random.PCG64, "inc"), (np.random.MT19937, "pos")])
def test_an_incomplete_generator_state_is_refused_by_name_and_changes_nothing(bit_generator, missing):
    loader = DataLoader(np.arange(40), batch_size=8, shuffle=True, seed=np.random.Generator(bit_generator(3)))
    before = loader.state_dict()
    other = np.random.Generator(bit_generator(4)).bit_generator.state
    del other["state"][missing]                        # MT19937 reads its key before it misses pos
    with pytest.raises(ValueError, match=rf"^DataLoader\.load_state_dict: state\['rng'\] is not a complete "
                                         rf"{bit_generator.__name__} state \(KeyError: '{missing}'\)"):
        loader.load_state_dict({"rng": other})
    after = loader.state_dict()["rng"]["state"]
    assert all(np.array_equal(after[k], v) for k, v in before["rng"]["state"].items())


def test_a_generator_state_with_an_out_of_range_value_is_refused_and_changes_nothing():
    seed = np.random.Generator(np.random.MT19937(3))
    loader = DataLoader(np.arange(40), batch_size=8, shuffle=True, seed=seed)
    before = loader.state_dict()
    other = np.random.Generator(np.random.MT19937(4)).bit_generator.state
    other["state"]["pos"] = 1 << 70         # NumPy 2.4: OverflowError after taking the key; 2.5: ValueError
    with pytest.raises(ValueError, match=r"is not a complete MT19937 state \((OverflowError|ValueError)"):
        loader.load_state_dict({"rng": other})
    after = loader.state_dict()["rng"]["state"]
    assert all(np.array_equal(after[k], v) for k, v in before["rng"]["state"].items())


@pytest.mark.parametrize("kwargs, arrays, match", [
    ({"batch_size": 0}, (np.zeros(3),), "batch_size must be a positive integer"),
    ({"batch_size": 2.5}, (np.zeros(3),), "batch_size"),
    ({"batch_size": 2}, (np.zeros(3), np.zeros(4)), r"same length.*\(3,\), \(4,\)"),
    ({"batch_size": 2}, (), "no arrays"),
])
def test_loader_rejects_bad_arguments_with_a_clear_message(kwargs, arrays, match):
    with pytest.raises(ValueError, match=match):
        DataLoader(*arrays, **kwargs)


# --------------------------------------------------------------------------- digits

def test_load_digits_is_float32_in_unit_interval_with_int64_labels():
    X, y = data.load_digits()
    assert X.shape == (1797, 64) and X.dtype == np.float32
    assert y.shape == (1797,) and y.dtype == np.int64
    assert X.min() == 0.0 and X.max() == 1.0
    assert set(np.unique(y).tolist()) == set(range(10))


# --------------------------------------------------------------------------- MNIST files

def _counts(dataset, split):
    text = (SHARED / "README.md").read_text()
    if dataset == "fashion-mnist":
        per_class = 6000 if split == "train" else 1000
        assert f"{per_class} per class in {split}" in text
        return [per_class] * 10
    line = re.search(rf"{split}: ([\d ]+)[;.]", text.split("Label counts")[1]).group(1)
    return [int(n) for n in line.split()]


@pytest.fixture(scope="module")
def mnist():
    return data.load_mnist(root=SHARED, download=False)


def test_mnist_has_the_published_shapes_dtypes_range_and_label_counts(mnist):
    (X_train, y_train), (X_test, y_test) = mnist
    assert X_train.shape == (60000, 28, 28) and X_test.shape == (10000, 28, 28)
    assert X_train.dtype == np.float32 and y_train.dtype == np.int64
    assert 0.0 <= X_train.min() and X_train.max() == 1.0
    assert np.bincount(y_train).tolist() == _counts("mnist", "train")
    assert np.bincount(y_test).tolist() == _counts("mnist", "test")


def test_fashion_mnist_flattened_has_balanced_classes():
    (X_train, y_train), (X_test, y_test) = data.load_fashion_mnist(root=SHARED, download=False,
                                                                   flatten=True)
    assert X_train.shape == (60000, 784) and X_test.shape == (10000, 784)
    assert np.bincount(y_train).tolist() == _counts("fashion-mnist", "train")
    assert np.bincount(y_test).tolist() == _counts("fashion-mnist", "test")


def test_embedded_md5_sums_are_the_published_ones():
    for name in ("mnist", "fashion-mnist"):
        assert data._DATASETS[name]["md5"] == _readme_md5(name)


def test_root_may_point_at_the_dataset_folder_itself_or_come_from_the_environment(monkeypatch, mnist):
    (_, y_direct), _ = data.load_mnist(root=SHARED / "mnist", download=False)
    monkeypatch.setenv("CHAINRULE_DATA", str(SHARED))
    (_, y_env), _ = data.load_mnist(download=False)
    np.testing.assert_array_equal(y_direct, mnist[0][1])
    np.testing.assert_array_equal(y_env, mnist[0][1])


def test_cache_directory_follows_xdg_cache_home(monkeypatch, tmp_path):
    monkeypatch.delenv("CHAINRULE_DATA", raising=False)
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path))
    assert data.data_home() == tmp_path / "chainrule"


def test_a_relative_xdg_cache_home_is_ignored_as_the_xdg_rules_say(monkeypatch):
    monkeypatch.delenv("CHAINRULE_DATA", raising=False)
    monkeypatch.setenv("XDG_CACHE_HOME", "relcache")
    assert data.data_home() == Path.home() / ".cache" / "chainrule"


@pytest.mark.parametrize("source", [{"x": [1, 2]}, (i for i in range(3))])
def test_a_loader_of_a_dict_or_a_generator_says_what_it_expects(source):
    with pytest.raises(TypeError, match="DataLoader: expected arrays \\(or sequences\\) of samples"):
        data.DataLoader(source, batch_size=2)


def _copy_labels_only(tmp_path, dataset="mnist"):
    """A data directory with the small label files only (the images are 'missing')."""
    folder = tmp_path / dataset
    folder.mkdir()
    for f in SHARED.joinpath(dataset).glob("*labels*"):
        shutil.copy(f, folder / f.name)
    return folder


def test_missing_files_without_download_say_which_and_where_to_put_them(tmp_path):
    folder = _copy_labels_only(tmp_path)
    with pytest.raises(FileNotFoundError) as info:
        data.load_mnist(root=tmp_path, download=False)
    message = str(info.value)
    assert "train-images-idx3-ubyte.gz" in message and "t10k-images-idx3-ubyte.gz" in message
    assert "labels" not in message.split("missing")[1].split(" in ")[0]
    assert str(folder) in message and "by hand" in message


def test_offline_download_fails_with_a_clear_message_and_leaves_no_partial_file(tmp_path, monkeypatch):
    folder = _copy_labels_only(tmp_path, "fashion-mnist")

    def offline(url):
        raise urllib.error.URLError("network is unreachable")
    monkeypatch.setattr(data, "_fetch", offline)
    with pytest.raises(FileNotFoundError, match="could not download .*network is unreachable.*by hand"):
        data.load_fashion_mnist(root=tmp_path, download=True)
    assert sorted(p.name for p in folder.iterdir()) == sorted(
        p.name for p in SHARED.joinpath("fashion-mnist").glob("*labels*"))


def test_download_writes_verified_files_and_rejects_a_wrong_payload(tmp_path, monkeypatch):
    _copy_labels_only(tmp_path)
    source = SHARED / "mnist"
    served = []

    def mirror(url):
        served.append(url)
        return (source / url.rsplit("/", 1)[1]).read_bytes()
    monkeypatch.setattr(data, "_fetch", mirror)
    (X_train, _), (X_test, _) = data.load_mnist(root=tmp_path, download=True)
    assert len(served) == 2 and all(u.startswith("https://") for u in served)
    assert X_train.shape == (60000, 28, 28) and X_test.shape == (10000, 28, 28)

    (tmp_path / "mnist" / "t10k-images-idx3-ubyte.gz").unlink()
    monkeypatch.setattr(data, "_fetch", lambda url: b"not the file")
    with pytest.raises(FileNotFoundError, match="md5 .*expected 9fb629c4189551a2d022fa330f9573f3"):
        data.load_mnist(root=tmp_path, download=True)
    assert not (tmp_path / "mnist" / "t10k-images-idx3-ubyte.gz").exists()


def test_a_corrupted_copy_fails_md5_verification_naming_the_file(tmp_path):
    folder = _copy_labels_only(tmp_path)
    for f in SHARED.joinpath("mnist").glob("*images*"):
        shutil.copy(f, folder / f.name)
    target = folder / "t10k-labels-idx1-ubyte.gz"
    raw = bytearray(target.read_bytes())
    raw[-10] ^= 0xFF
    target.write_bytes(bytes(raw))
    expected = _readme_md5("mnist")["t10k-labels-idx1-ubyte.gz"]
    with pytest.raises(ValueError, match=rf"t10k-labels-idx1-ubyte.gz is corrupt.*expected {expected}"):
        data.load_mnist(root=tmp_path, download=False)
    assert hashlib.md5(bytes(raw)).hexdigest() != expected


def test_read_idx_rejects_a_file_whose_header_and_payload_disagree(tmp_path):
    path = tmp_path / "bad.gz"
    with gzip.open(path, "wb") as fh:
        fh.write(bytes([0, 0, 8, 1, 0, 0, 0, 5]) + b"\x01\x02")
    with pytest.raises(ValueError, match=r"shape \(5,\) but it holds 2 bytes"):
        data._read_idx(path, expected_ndim=1)


# --------------------------------------------------------------------------- review fixes

def test_the_fashion_loader_pointed_at_mnist_says_so_instead_of_calling_valid_files_corrupt():
    with pytest.raises(ValueError) as info:
        data.load_fashion_mnist(root=SHARED / "mnist", download=False)
    message = str(info.value)
    assert re.search(r"load fashion-mnist: .*mnist/train-images-idx3-ubyte.gz is the mnist file of that "
                     r"name, not the fashion-mnist one", message)
    assert "delete" not in message and "corrupt" not in message
    with pytest.raises(ValueError, match="is the fashion-mnist file of that name, not the mnist one"):
        data.load_mnist(root=SHARED / "fashion-mnist", download=False)


def test_batches_are_copies_so_changing_one_in_place_leaves_the_dataset_alone():
    X, y = np.arange(20.0).reshape(10, 2), np.arange(10)
    for shuffle in (False, True):
        for _ in range(2):                                  # two passes: nothing compounds
            for xb, yb in DataLoader(X, y, batch_size=4, shuffle=shuffle, seed=0):
                assert not np.shares_memory(xb, X) and not np.shares_memory(yb, y)
                xb -= xb.mean(0)
                yb[:] = -1
        np.testing.assert_array_equal(X, np.arange(20.0).reshape(10, 2))
        np.testing.assert_array_equal(y, np.arange(10))


def test_manual_seed_makes_unseeded_draws_reproducible(request):
    # fresh entropy again afterwards, for the tests that follow
    request.addfinalizer(lambda: setattr(_random._DEFAULT.bit_generator, "state",
                                         np.random.default_rng().bit_generator.state))
    dropout = nn.Dropout(0.5).train()                 # made before the seed: reset by it too
    loader = DataLoader(np.arange(12), batch_size=4, shuffle=True)

    def draws():
        weights = nn.Linear(3, 2).weight.numpy().copy()
        order = np.concatenate([b for (b,) in loader])
        return weights, order, np.asarray(dropout(np.ones(8)))

    cr.manual_seed(3)
    first = draws()
    cr.manual_seed(3)
    second = draws()
    cr.manual_seed(4)
    other = draws()
    for a, b in zip(first, second, strict=True):
        np.testing.assert_array_equal(a, b)
    assert not np.array_equal(first[0], other[0]) and not np.array_equal(first[1], other[1])
    # an explicit seed keeps its own generator, whatever manual_seed says
    cr.manual_seed(5)
    seeded = nn.Linear(3, 2, rng=1).weight.numpy()
    np.testing.assert_array_equal(seeded, nn.Linear(3, 2, rng=1).weight.numpy())
    with pytest.raises(ValueError, match="manual_seed: seed must be a non-negative integer, got -1"):
        cr.manual_seed(-1)


def test_missing_files_name_the_options_of_the_caller():
    with pytest.raises(FileNotFoundError) as api:
        data.load_mnist(root=SHARED / "nowhere", download=False)
    assert "download=False" in str(api.value) and "pass root=" in str(api.value)
    words = {"root": "pass --data-dir DIR", "no_download": "--no-download"}
    with pytest.raises(FileNotFoundError) as cli:
        data._load_idx_dataset("mnist", SHARED / "nowhere", False, True, words=words)
    assert "(--no-download)" in str(cli.value) and "pass --data-dir DIR" in str(cli.value)
    assert "root=" not in str(cli.value)


def test_a_map_style_dataset_is_read_sample_by_sample_at_each_pass():
    X, y = np.arange(20.0).reshape(10, 2), np.arange(10)
    reads = []

    class Pairs:                                      # PyTorch's map-style Dataset protocol
        def __len__(self):
            return len(X)

        def __getitem__(self, i):
            reads.append(i)
            return X[i], y[i]

    expected = [(X[i:i + 4], y[i:i + 4]) for i in range(0, 10, 4)]
    for dataset in (Pairs(), list(zip(X, y, strict=True)), [[x, t] for x, t in zip(X, y, strict=True)]):
        for _ in range(2):
            got = list(DataLoader(dataset, batch_size=4))
            assert len(got) == 3
            for (xb, yb), (xe, ye) in zip(got, expected, strict=True):
                np.testing.assert_array_equal(xb, xe)
                np.testing.assert_array_equal(yb, ye)
    assert len(reads) == 2 * (1 + 10)                 # two loaders: sample 0 when made, then a pass

    class Augmented(Pairs):                           # drawn afresh at each pass
        def __getitem__(self, i):
            return X[i] + np.random.default_rng().normal(), y[i]

    loader = DataLoader(Augmented(), batch_size=10)
    assert not np.array_equal(next(iter(loader))[0], next(iter(loader))[0])

    shuffled = DataLoader(Pairs(), batch_size=3, shuffle=True, seed=0)
    xs = np.concatenate([xb for xb, _ in shuffled])
    assert sorted(xs[:, 0]) == sorted(X[:, 0]) and not np.array_equal(xs, X)

    records = [{"x": X[i], "y": y[i]} for i in range(10)]
    batch = next(iter(DataLoader(records, batch_size=4)))
    assert set(batch) == {"x", "y"}
    np.testing.assert_array_equal(batch["x"], X[:4])
    (rows,) = next(iter(DataLoader([x for x in X], batch_size=3)))      # a list of rows: one array
    np.testing.assert_array_equal(rows, X[:3])
    assert DataLoader([[1.0, 2.0], [3.0, 4.0]], batch_size=1).arrays[0].shape == (2, 2)   # a matrix
    with pytest.raises(ValueError, match="sample 0 of the dataset has 2 fields, another 1 fields"):
        list(DataLoader([(1.0, 2), (3.0,)], batch_size=2))
    with pytest.raises(ValueError, match="fields have different shapes"):
        list(DataLoader([(np.ones(2), 0), (np.ones(3), 1)], batch_size=2))
    with pytest.raises(ValueError, match=r"has the keys \['x', 'y'\], another \['x'\]"):
        list(DataLoader([{"x": 1, "y": 2}, {"x": 3}], batch_size=2))
