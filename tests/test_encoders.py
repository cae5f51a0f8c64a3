"""Official pSp and e4e .pt files read without PyTorch, converted to PaddleGAN's pSp layout, against the
original repositories' outputs (tests/fixtures/*_reference.npz); damaged and crafted files refused in one line."""
import collections
import io
import os
import pickle
import shutil
import zipfile

import numpy as np
import paddle
import pytest

from conftest import FIXTURES, malicious_files, raises_user_error
from ppgan.models.formats.encoders import read_encoder
from ppgan.models.formats.torch_files import read_torch_checkpoint
from ppgan.models.generators import Pixel2Style2Pixel
from ppgan.utils.checkpoint import load_state_dict_strict

FILES = {"psp": "psp_official_64px_small", "e4e": "e4e_64px_small"}
TOLERANCE = 1e-4


def preprocess(image_uint8):
    """uint8 [B, H, W, 3] -> float32 [B, 3, H, W]: (image / 255 - 0.5) / 0.5, the repositories' transform."""
    return ((image_uint8.astype(np.float32) / 255 - 0.5) / 0.5).transpose(0, 3, 1, 2)


@pytest.mark.parametrize("kind", sorted(FILES))
def test_official_files_reproduce_their_reference(kind):
    state_dict, opts, read_kind = read_encoder(os.path.join(FIXTURES, FILES[kind] + ".pt"))
    assert read_kind == kind
    assert opts["encoder_widths"] == (16, 16, 24, 32, 48) and opts["n_styles"] == 10
    assert (opts["size"], opts["style_dim"], opts["channels"]) == (64, 32, {4: 32, 8: 32, 16: 16, 32: 16, 64: 8})
    model = Pixel2Style2Pixel(opts)
    assert type(model.encoder).__name__ == {"psp": "GradualStyleEncoder", "e4e": "Encoder4Editing"}[kind]
    ignored = load_state_dict_strict(model, state_dict, source=FILES[kind], foreign=lambda key: False)
    assert not ignored
    model.eval()
    reference = np.load(os.path.join(FIXTURES, FILES[kind] + "_reference.npz"))
    x = preprocess(reference["image_uint8"])
    assert np.abs(x - reference["x"]).max() < 1e-6
    with paddle.no_grad():
        codes_raw = model.encoder(paddle.to_tensor(x))
        codes = model.encode(paddle.to_tensor(x))
        images, _ = model.decoder([codes], input_is_latent=True, randomize_noise=False)
    errors = {name: float(np.abs(value.numpy() - reference[name]).max())
              for name, value in (("codes_raw", codes_raw), ("codes", codes), ("images", images))}
    assert max(errors.values()) < TOLERANCE, errors
    if kind == "e4e":
        assert np.abs(codes_raw.numpy()[:, 0] - reference["w0"]).max() < TOLERANCE


# A torch.save zip written without PyTorch: protocol 2 names globals as text lines, so stand-ins defined here
# are renamed to PyTorch's names in the bytes.
def _rebuild_tensor_v2(*args):
    raise AssertionError("never called")


class FloatStorage:
    pass


class LongStorage:
    pass


class _Storage:
    def __init__(self, array):
        self.array = array


class _TorchPickler(pickle.Pickler):
    def __init__(self, file):
        super().__init__(file, protocol=2)
        self.storages = []

    def reducer_override(self, obj):
        if isinstance(obj, np.ndarray):
            array = np.ascontiguousarray(obj)
            stride = tuple(s // array.itemsize for s in array.strides)
            return _rebuild_tensor_v2, (_Storage(array), 0, array.shape, stride, False, collections.OrderedDict())
        return NotImplemented

    def persistent_id(self, obj):
        if isinstance(obj, _Storage):
            self.storages.append(obj.array)
            kind = LongStorage if obj.array.dtype == np.int64 else FloatStorage
            return ("storage", kind, str(len(self.storages) - 1), "cpu", obj.array.size)
        return None


def write_torch_zip(path, obj):
    buffer = io.BytesIO()
    pickler = _TorchPickler(buffer)
    pickler.dump(obj)
    data = buffer.getvalue()
    module = _rebuild_tensor_v2.__module__
    data = data.replace(f"c{module}\n_rebuild_tensor_v2\n".encode(), b"ctorch._utils\n_rebuild_tensor_v2\n")
    for name in ("FloatStorage", "LongStorage"):
        data = data.replace(f"c{module}\n{name}\n".encode(), f"ctorch\n{name}\n".encode())
    with zipfile.ZipFile(path, "w") as archive:
        archive.writestr("archive/data.pkl", data)
        archive.writestr("archive/byteorder", "little")
        for key, array in enumerate(pickler.storages):
            archive.writestr(f"archive/data/{key}", array.tobytes())
        archive.writestr("archive/version", "3\n")
    return str(path)


def variants(tmp_path):
    """(path, message pattern) of files read_encoder must refuse, made from the e4e fixture."""
    checkpoint = read_torch_checkpoint(os.path.join(FIXTURES, FILES["e4e"] + ".pt"), "x")
    weights = checkpoint["state_dict"]

    def part(prefix):
        return collections.OrderedDict((k, v) for k, v in weights.items() if k.startswith(prefix))

    other = {**checkpoint, "opts": {**checkpoint["opts"], "encoder_type": "SingleStyleCodeEncoder"}}
    return [
        (write_torch_zip(tmp_path / "other.pt", other), "encoder_type 'SingleStyleCodeEncoder'"),
        (write_torch_zip(tmp_path / "no_type.pt", {**checkpoint, "opts": {}}), "no encoder_type"),
        (write_torch_zip(tmp_path / "bare.pt", weights), "holds no state_dict"),
        (write_torch_zip(tmp_path / "no_state.pt", {key: checkpoint[key] for key in ("opts", "latent_avg")}),
         "holds no state_dict .opts, latent_avg."),
        (write_torch_zip(tmp_path / "decoder.pt", {**checkpoint, "state_dict": part("decoder.")}),
         "holds only a decoder"),
        (write_torch_zip(tmp_path / "encoder.pt", {**checkpoint, "state_dict": part("encoder.")}),
         "holds only an encoder"),
        (write_torch_zip(tmp_path / "no_avg.pt", {k: v for k, v in checkpoint.items() if k != "latent_avg"}),
         "has no latent_avg"),
    ]


def test_the_zip_writer_round_trips(tmp_path):
    """The refusal files below are real checkpoints: an unchanged rewrite reads as the fixture does."""
    path = os.path.join(FIXTURES, FILES["e4e"] + ".pt")
    copy = write_torch_zip(tmp_path / "copy.pt", read_torch_checkpoint(path, "x"))
    (original, opts, _), (rewritten, opts2, _) = read_encoder(path), read_encoder(copy)
    assert opts == opts2 and list(original) == list(rewritten)
    assert all(np.array_equal(original[k], rewritten[k]) for k in original)


def test_other_files_are_refused_in_one_line(tmp_path):
    for path, pattern in variants(tmp_path):
        with raises_user_error(f"^--weight_path {path} .*{pattern}") as info:
            read_encoder(path)
        assert "\n" not in str(info.value)


@pytest.mark.parametrize("kind", sorted(FILES))
def test_truncated_files_are_one_line(tmp_path, kind):
    source = os.path.join(FIXTURES, FILES[kind] + ".pt")
    for fraction in (0.5, 0.999):
        path = tmp_path / f"cut{fraction}.pt"
        with open(source, "rb") as f:
            data = f.read()
        path.write_bytes(data[:int(len(data) * fraction)])
        with raises_user_error(f"^--weight_path {path} is .*(truncated|damaged)") as info:
            read_encoder(str(path))
        assert "\n" not in str(info.value)
    missing = tmp_path / "missing.pt"
    with raises_user_error(f"^--weight_path {missing} does not exist"):
        read_encoder(str(missing))
    shutil.copy(source, tmp_path / "whole.pt")
    assert read_encoder(str(tmp_path / "whole.pt"))[2] == kind


def test_crafted_files_are_refused_unrun(tmp_path):
    marker = tmp_path / "marker"
    files = malicious_files(tmp_path, marker)
    for kind in ("os.system", "builtins.eval", "subprocess.Popen"):
        path = files[(kind, "torch zip")]
        with raises_user_error(f"^--weight_path {path} asks for \\S+\\.{kind.split('.')[1]}, which no weight") as info:
            read_encoder(path)
        assert "\n" not in str(info.value)
    assert not marker.exists()
