"""chainrule.checkpoint: safetensors round trips, atomic writes, clear errors on bad files."""

import json
import os
import struct

import numpy as np
import pytest

from chainrule import checkpoint, nn, optim


def _model(sizes=(4, 5, 3), seed=0):
    return nn.MLP(list(sizes), activation="tanh", rng=seed)


def _trained(seed=0):
    """A model and an Adam optimizer after two steps, so the optimizer has state."""
    model = _model(seed=seed)
    opt = optim.Adam(model.parameters(), lr=0.01)
    rng = np.random.default_rng(seed)
    X, y = rng.normal(size=(8, 4)), rng.integers(0, 3, 8)
    for _ in range(2):
        opt.zero_grad()
        nn.losses.cross_entropy(model(X), y).backward()
        opt.step()
    return model, opt


def _same_state(a, b):
    assert a.keys() == b.keys()
    for k in a:
        if isinstance(a[k], dict):
            _same_state(a[k], b[k])
        elif isinstance(a[k], np.ndarray):
            assert np.array_equal(a[k], b[k]) and a[k].dtype == np.asarray(b[k]).dtype, k
        else:
            assert a[k] == b[k], k


def test_round_trip_restores_parameters_optimizer_state_and_metadata_exactly(tmp_path):
    model, opt = _trained(seed=0)
    path = tmp_path / "ckpt.safetensors"
    rng_state = np.random.default_rng(5).bit_generator.state
    checkpoint.save(path, model, opt, epoch=3, rng=rng_state, options={"lr": 0.01, "hidden": [5]},
                    best=np.float32(0.25))

    fresh, fresh_opt = _trained(seed=1)
    meta = checkpoint.load(path, fresh, fresh_opt)
    for (name, p), (_, q) in zip(model.named_parameters(), fresh.named_parameters(), strict=True):
        assert np.array_equal(np.asarray(p), np.asarray(q)), name
    saved, loaded = opt.state_dict(), fresh_opt.state_dict()
    assert saved["param_groups"] == loaded["param_groups"]
    _same_state(saved["state"], loaded["state"])
    assert meta["epoch"] == 3 and meta["options"] == {"lr": 0.01, "hidden": [5]}
    assert meta["rng"] == rng_state and meta["best"] == 0.25
    assert meta["chainrule_version"]


def test_the_file_is_plain_safetensors_with_named_tensors_and_json_metadata(tmp_path):
    model, opt = _trained()
    path = tmp_path / "m.safetensors"
    checkpoint.save(path, model, opt, epoch=1)
    raw = path.read_bytes()
    (n,) = struct.unpack("<Q", raw[:8])
    header = json.loads(raw[8:8 + n])
    names = {k for k in header if k != "__metadata__"}
    assert {f"model.{k}" for k in model.state_dict()} <= names
    assert any(k.startswith("optim.") for k in names)
    assert json.loads(header["__metadata__"]["metadata"]) == {"epoch": 1}
    assert b"pickle" not in raw and not raw.startswith(b"\x80")


def test_load_without_a_model_returns_the_metadata_only(tmp_path):
    model, _ = _trained()
    checkpoint.save(tmp_path / "a.safetensors", model, architecture={"sizes": [4, 5, 3]})
    assert checkpoint.load(tmp_path / "a.safetensors")["architecture"] == {"sizes": [4, 5, 3]}


def test_a_failing_write_leaves_the_previous_file_intact_and_no_temporary_file(tmp_path, monkeypatch):
    model, _ = _trained(seed=0)
    path = tmp_path / "ckpt.safetensors"
    checkpoint.save(path, model, epoch=1)
    before = path.read_bytes()

    other, _ = _trained(seed=1)

    def disk_full(fd):
        raise OSError(28, "No space left on device")
    monkeypatch.setattr(os, "fsync", disk_full)
    with pytest.raises(OSError, match="No space left"):
        checkpoint.save(path, other, epoch=2)
    assert path.read_bytes() == before
    assert [p.name for p in tmp_path.iterdir()] == ["ckpt.safetensors"]


@pytest.mark.parametrize("damage", ["truncate", "garbage", "empty"])
def test_a_corrupt_or_truncated_file_raises_a_value_error_naming_it(tmp_path, damage):
    model, opt = _trained()
    path = tmp_path / "broken.safetensors"
    checkpoint.save(path, model, opt)
    raw = path.read_bytes()
    path.write_bytes({"truncate": raw[:len(raw) // 2], "garbage": b"\x00" * 64, "empty": b""}[damage])
    with pytest.raises(ValueError, match="broken.safetensors is not a valid checkpoint"):
        checkpoint.load(path, _model())


def test_a_safetensors_file_not_written_by_chainrule_is_refused(tmp_path):
    import safetensors.numpy
    path = tmp_path / "foreign.safetensors"
    safetensors.numpy.save_file({"w": np.zeros(3)}, str(path))
    with pytest.raises(ValueError, match="not a chainrule checkpoint"):
        checkpoint.load(path)


def test_a_checkpoint_of_another_architecture_names_the_mismatched_keys_and_shapes(tmp_path):
    path = tmp_path / "small.safetensors"
    small = _model(sizes=(4, 5, 3))
    checkpoint.save(path, small)
    wider = _model(sizes=(4, 6, 3))
    deeper = _model(sizes=(4, 5, 5, 3))
    with pytest.raises(ValueError, match=r"small.safetensors does not match.*shape mismatches") as info:
        checkpoint.load(path, wider)
    wide_names = [k for k, v in wider.state_dict().items() if v.shape != small.state_dict()[k].shape]
    assert all(name in str(info.value) for name in wide_names)
    assert "(6, 4)" in str(info.value) or "(4, 6)" in str(info.value)
    with pytest.raises(ValueError, match="does not match.*missing keys") as info:
        checkpoint.load(path, deeper)
    extra = sorted(set(deeper.state_dict()) - set(small.state_dict()))
    assert all(name in str(info.value) for name in extra)
    before = {k: v.copy() for k, v in wider.state_dict().items()}
    _same_state(before, wider.state_dict())


def test_loading_an_optimizer_from_a_model_only_checkpoint_is_a_key_error(tmp_path):
    model, opt = _trained()
    checkpoint.save(tmp_path / "m.safetensors", model)
    with pytest.raises(KeyError, match="holds no optimizer state"):
        checkpoint.load(tmp_path / "m.safetensors", model, opt)


def test_metadata_that_is_not_json_is_refused_before_anything_is_written(tmp_path):
    model, _ = _trained()
    with pytest.raises(TypeError, match="metadata must be JSON-serialisable"):
        checkpoint.save(tmp_path / "x.safetensors", model, callback=print)
    assert list(tmp_path.iterdir()) == []


def test_saving_into_a_missing_directory_says_so(tmp_path):
    model, _ = _trained()
    with pytest.raises(FileNotFoundError, match="does not exist"):
        checkpoint.save(tmp_path / "nowhere" / "m.safetensors", model)


# --------------------------------------------------------------------------- review fixes

def _rewrite_metadata(path, field, text):
    """Replace one header string of a safetensors file, keeping it otherwise valid."""
    data = path.read_bytes()
    (n,) = struct.unpack("<Q", data[:8])
    header = json.loads(data[8:8 + n])
    header["__metadata__"][field] = text
    raw = json.dumps(header).encode()
    raw += b" " * (-len(raw) % 8)
    path.write_bytes(struct.pack("<Q", len(raw)) + raw + data[8 + n:])


@pytest.fixture
def umask_022():
    old = os.umask(0o022)
    yield
    os.umask(old)


def test_written_files_get_the_usual_permissions_or_keep_those_of_the_file_they_replace(tmp_path, umask_022):
    path = tmp_path / "m.safetensors"
    checkpoint.save(path, _model())
    assert os.stat(path).st_mode & 0o777 == 0o644               # 0o666 less the umask, like open()
    os.chmod(path, 0o640)
    checkpoint.save(path, _model(seed=1))
    assert os.stat(path).st_mode & 0o777 == 0o640
    os.umask(0o077)
    fresh = tmp_path / "private.safetensors"
    checkpoint.save(fresh, _model())
    assert os.stat(fresh).st_mode & 0o777 == 0o600


def test_path_model_and_optimizer_are_positional_so_metadata_may_use_their_names(tmp_path):
    model, opt = _trained()
    path = tmp_path / "m.safetensors"
    checkpoint.save(path, model, opt, path="runs/a", model="mlp", optimizer="adam")
    meta = checkpoint.load(path, _model(), optim.Adam(_model().parameters()))
    assert (meta["path"], meta["model"], meta["optimizer"]) == ("runs/a", "mlp", "adam")
    with pytest.raises(TypeError, match=r"the optimizer is positional: save\(path, model, optimizer"):
        checkpoint.save(path, model, optimizer=opt)


def test_metadata_cannot_override_the_writers_version(tmp_path):
    from chainrule import __version__
    with pytest.raises(ValueError, match="metadata name 'chainrule_version' is reserved"):
        checkpoint.save(tmp_path / "m.safetensors", _model(), chainrule_version="0.0.1")
    path = tmp_path / "n.safetensors"
    checkpoint.save(path, _model(), epoch=1)
    _rewrite_metadata(path, "metadata", json.dumps({"epoch": 1, "chainrule_version": "forged"}))
    assert checkpoint.load(path)["chainrule_version"] == __version__


def test_malformed_metadata_json_is_a_value_error_naming_the_file(tmp_path):
    path = tmp_path / "m.safetensors"
    checkpoint.save(path, _model(), epoch=1)
    _rewrite_metadata(path, "metadata", "{not json")
    expected = rf"load: {path} is not a valid checkpoint: its metadata is not valid JSON"
    with pytest.raises(ValueError, match=expected):
        checkpoint.load(path)


def test_loading_a_directory_says_it_is_a_directory(tmp_path):
    with pytest.raises(IsADirectoryError, match=rf"load: {tmp_path} is a directory, not a checkpoint file"):
        checkpoint.load(tmp_path)


def test_a_checkpoint_refuses_to_load_its_optimizer_state_into_another_optimizer_class(tmp_path):
    model, opt = _trained()
    path = tmp_path / "m.safetensors"
    checkpoint.save(path, model, opt)
    other = _model()
    with pytest.raises(ValueError, match="RMSprop.load_state_dict: the state was saved by Adam, not RMSprop"):
        checkpoint.load(path, other, optim.RMSprop(other.parameters()))
    again = optim.Adam(other.parameters())
    checkpoint.load(path, other, again)
    _same_state(again.state_dict(), opt.state_dict())


def test_a_zero_dimensional_parameter_and_its_adam_state_keep_their_shape(tmp_path):
    # a Neuron's bias is 0-d; np.ascontiguousarray would have stored it as shape (1,)
    neuron = nn.Neuron(3, rng=0)
    opt = optim.Adam(neuron.parameters(), lr=0.1)
    opt.zero_grad()
    nn.losses.mse(neuron(np.ones((4, 3))), np.zeros(4)).backward()
    opt.step()
    path = tmp_path / "neuron.safetensors"
    checkpoint.save(path, neuron, opt)
    fresh = nn.Neuron(3, rng=1)
    fresh_opt = optim.Adam(fresh.parameters(), lr=0.1)
    checkpoint.load(path, fresh, fresh_opt)
    assert fresh.bias.shape == () and np.array_equal(fresh.bias.numpy(), neuron.bias.numpy())
    _same_state(opt.state_dict()["state"], fresh_opt.state_dict()["state"])


def test_an_optimizer_state_that_is_refused_leaves_the_model_as_it_was(tmp_path):
    model, opt = _trained(seed=0)
    path = tmp_path / "adam.safetensors"
    checkpoint.save(path, model, opt)
    other = _model(seed=1)
    before = {k: v.copy() for k, v in other.state_dict().items()}
    with pytest.raises(ValueError, match="saved by Adam, not SGD"):
        checkpoint.load(path, other, optim.SGD(other.parameters(), lr=0.1))
    _same_state(before, other.state_dict())


def test_a_state_dict_saves_like_its_model_and_torch_habits_get_a_clear_error(tmp_path):
    model = nn.Linear(3, 2, rng=0)
    path = tmp_path / "m.safetensors"
    checkpoint.save(path, model.state_dict())
    other = nn.Linear(3, 2, rng=1)
    checkpoint.load(path, other)
    np.testing.assert_array_equal(other.weight.numpy(), model.weight.numpy())
    with pytest.raises(TypeError, match=r"the path comes first.*got a dict as the path \(torch.save"):
        checkpoint.save(model.state_dict(), path)
    with pytest.raises(TypeError, match=r"got the metadata that chainrule.load returns.*load\(path, model\)"):
        other.load_state_dict(checkpoint.load(path))
