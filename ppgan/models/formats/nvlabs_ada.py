"""stylegan2-ada-pytorch network snapshots (``network-snapshot-*.pkl``) read without PyTorch.

A snapshot is a plain pickle of dict(G, D, G_ema, augment_pipe, training_set_kwargs); each
network is ``torch_utils.persistence._reconstruct_persistent_obj(meta)``, meta holding the
class name, the text of the module that defines it (never executed here) and the module's
``__dict__`` (``_parameters``, ``_buffers``, ``_modules``, attributes). Tensors are
``_rebuild_tensor_v2`` over ``torch.storage._load_from_bytes(b)``, ``b`` a legacy (non-zip)
``torch.save`` of one storage, read by a second restricted unpickler. ``ADA_GLOBALS`` is every
global such a file names; ``ada_generator`` turns ``G_ema`` into rosinality's layout.
"""
import collections
import io
import struct

import numpy as np

from ...utils.errors import UserError
from ...utils.safe_pickle import RefusedGlobal, RestrictedUnpickler
from .torch_files import STORAGE_DTYPES, _rebuild_parameter, _rebuild_tensor, _StorageType

LEGACY_MAGIC = 0x1950a86a20f9469cfc6c  # torch.save's magic number of the legacy (non-zip) format
TORCH_STORAGES = {("torch", name): _StorageType(name) for name in STORAGE_DTYPES}


class _Persistent:
    """Stands for a ``torch_utils.persistence`` object: its class name and module state, nothing run."""

    def __init__(self, meta):
        if not isinstance(meta, dict) or meta.get("type") != "class" or not isinstance(meta.get("state"), dict):
            raise ValueError("a persistent object without class state")
        self.class_name, self.state = str(meta.get("class_name")), meta["state"]

    def child(self, name):
        module = self.state.get("_modules", {}).get(name)
        return module if isinstance(module, _Persistent) else None

    def tensors(self):
        return {**self.state.get("_parameters", {}), **self.state.get("_buffers", {})}


class _EasyDict(dict):
    """Stands for ``dnnlib.util.EasyDict``: a plain dict."""


def _load_from_bytes(data):
    """One storage of a legacy ``torch.save`` (magic, protocol, sys_info, storage pickle, keys, raw data)."""
    stream = io.BytesIO(data)
    if RestrictedUnpickler(stream, {}).load() != LEGACY_MAGIC:
        raise ValueError("a storage without torch.save's magic number")
    RestrictedUnpickler(stream, {}).load()  # protocol version
    sys_info = RestrictedUnpickler(stream, {}).load()
    if isinstance(sys_info, dict) and sys_info.get("little_endian") is False:
        raise ValueError("a storage saved on a big-endian machine")
    storages = {}

    def persistent_load(pid):
        if not (isinstance(pid, tuple) and len(pid) >= 5 and pid[0] == "storage" and isinstance(pid[1], _StorageType)):
            raise RefusedGlobal(f"the persistent id {str(pid)[:60]}")
        storages[str(pid[2])] = pid[1]
        return str(pid[2])

    key = RestrictedUnpickler(stream, TORCH_STORAGES, persistent_load).load()
    arrays = {}
    for name in RestrictedUnpickler(stream, {}).load():
        count, = struct.unpack("<q", stream.read(8))
        dtype = np.dtype(storages[str(name)].dtype)
        raw = stream.read(count * dtype.itemsize)
        if len(raw) != count * dtype.itemsize:
            raise EOFError("a storage shorter than its size")
        arrays[str(name)] = np.frombuffer(raw, dtype=dtype)
    return arrays[key]


ADA_GLOBALS = {  # every global a stylegan2-ada-pytorch snapshot names; nothing else is resolved
    ("torch_utils.persistence", "_reconstruct_persistent_obj"): _Persistent,
    ("torch._utils", "_rebuild_tensor_v2"): _rebuild_tensor,
    ("torch._utils", "_rebuild_parameter"): _rebuild_parameter,
    ("torch.storage", "_load_from_bytes"): _load_from_bytes,
    ("dnnlib.util", "EasyDict"): _EasyDict,
    ("collections", "OrderedDict"): collections.OrderedDict,
    **TORCH_STORAGES,
}

DEFAULT_FILTER = np.outer([1, 3, 3, 1], [1, 3, 3, 1]) / 64.0


def _fail(path, reason):
    return UserError(f"{{weight_path}} {path} {reason}; pass a StyleGAN2 network pickle (stylegan2-ada-pytorch "
                     f"snapshot or NVlabs TensorFlow .pkl) of an unconditional generator")


def _tensor(module, name, path, where):
    value = module.tensors().get(name) if module is not None else None
    if not isinstance(value, np.ndarray):
        raise _fail(path, f"lacks {where}.{name} (an incomplete network)")
    return value.astype(np.float32)


def _layer(module, path, where, *, torgb=False):
    """(rosinality suffix -> array) of one SynthesisLayer / ToRGBLayer, and its conv_clamp."""
    if module is None:
        raise _fail(path, f"lacks {where} (an incomplete network)")
    expected = "ToRGBLayer" if torgb else "SynthesisLayer"
    if module.class_name != expected or "use_radial_filters" in module.state:
        raise _fail(path, f"holds a {module.class_name} at {where}, not StyleGAN2's {expected} (a StyleGAN3 network?)")
    affine = module.child("affine")
    out = {"conv.modulation.weight": _tensor(affine, "weight", path, where + ".affine"),
           "conv.modulation.bias": _tensor(affine, "bias", path, where + ".affine")}
    weight = _tensor(module, "weight", path, where)
    out["conv.weight"] = weight[None]
    bias = _tensor(module, "bias", path, where)
    if torgb:
        out["bias"] = bias.reshape(1, -1, 1, 1)
    else:
        if module.state.get("activation", "lrelu") != "lrelu":
            raise _fail(path, f"uses activation {module.state.get('activation')!r} at {where} (only lrelu is supported)")
        filt = module.tensors().get("resample_filter")
        if isinstance(filt, np.ndarray) and not np.allclose(filt, DEFAULT_FILTER):
            raise _fail(path, f"resamples with another filter than [1, 3, 3, 1] at {where}")
        out["activate.bias"] = bias
        if module.state.get("use_noise", True):
            out["noise.weight"] = _tensor(module, "noise_strength", path, where).reshape(1)
            out["noise_const"] = _tensor(module, "noise_const", path, where)[None, None]
        else:
            out["noise.weight"] = np.zeros(1, np.float32)
            out["noise_const"] = np.zeros((1, 1) + (int(module.state.get("resolution", 4)),) * 2, np.float32)
    clamp = module.state.get("conv_clamp")
    return out, None if clamp is None else float(clamp)


def ada_generator(snapshot, path):
    """rosinality-layout generator state dict (numpy, torch's [out, in] linear weights) and options of a snapshot."""
    if not isinstance(snapshot, dict) or not isinstance(snapshot.get("G_ema"), _Persistent):
        held = ", ".join(map(str, snapshot))[:80] if isinstance(snapshot, dict) else type(snapshot).__name__
        raise _fail(path, f"holds no G_ema network ({held}: a discriminator or another object only)")
    g = snapshot["G_ema"]
    if g.class_name != "Generator" or g.child("synthesis") is None or g.child("mapping") is None:
        raise _fail(path, f"holds a {g.class_name} as G_ema, not StyleGAN2's Generator (training.networks)")
    synthesis, mapping = g.child("synthesis"), g.child("mapping")
    if synthesis.class_name != "SynthesisNetwork" or synthesis.child("b4") is None:
        raise _fail(path, "holds a synthesis network without StyleGAN2's blocks b4..bN (a StyleGAN3 network?)")
    if int(g.state.get("c_dim", 0) or 0) > 0 or mapping.child("embed") is not None:
        raise _fail(path, f"holds a class-conditional generator (c_dim {g.state.get('c_dim')})")
    resolution = int(g.state.get("img_resolution", 0))
    if resolution < 8 or resolution & (resolution - 1) or int(g.state.get("img_channels", 3)) != 3:
        raise _fail(path, f"holds a generator of {resolution} px and {g.state.get('img_channels')} channels "
                          "(only square RGB outputs of a power-of-two size >= 8 are supported)")
    if g.state.get("z_dim") != g.state.get("w_dim"):
        raise _fail(path, f"maps z_dim {g.state.get('z_dim')} to w_dim {g.state.get('w_dim')} (they must be equal)")
    state, clamps = {}, set()
    count = int(mapping.state.get("num_layers", 0))
    for i in range(count):
        fc = mapping.child(f"fc{i}")
        if fc is None or abs(float(fc.state.get("bias_gain", 0.01)) - 0.01) > 1e-9:
            raise _fail(path, f"has a mapping layer fc{i} missing or with a learning rate other than 0.01")
        state[f"style.{i + 1}.weight"] = _tensor(fc, "weight", path, f"mapping.fc{i}")
        state[f"style.{i + 1}.bias"] = _tensor(fc, "bias", path, f"mapping.fc{i}")
    w_avg = _tensor(mapping, "w_avg", path, "mapping")
    for block_index, res in enumerate(2 ** k for k in range(2, resolution.bit_length())):
        block = synthesis.child(f"b{res}")
        if block is None or block.class_name != "SynthesisBlock":
            raise _fail(path, f"lacks the block b{res} (an incomplete network)")
        if block.state.get("architecture", "skip") != "skip":
            raise _fail(path, f"uses the {block.state.get('architecture')!r} synthesis architecture (only 'skip', "
                              "what every released StyleGAN2 config uses, is supported)")
        names = ([("conv1", "conv1", 0)] if res == 4 else
                 [("conv0", f"convs.{2 * block_index - 2}", 2 * block_index - 1),
                  ("conv1", f"convs.{2 * block_index - 1}", 2 * block_index)])
        if res == 4:
            state["input.input"] = _tensor(block, "const", path, "synthesis.b4")[None]
        for child, prefix, noise in names:
            layer, clamp = _layer(block.child(child), path, f"synthesis.b{res}.{child}")
            state[f"noises.noise_{noise}"] = layer.pop("noise_const")
            state.update({f"{prefix}.{k}": v for k, v in layer.items()})
            clamps.add(clamp)
        layer, clamp = _layer(block.child("torgb"), path, f"synthesis.b{res}.torgb", torgb=True)
        prefix = "to_rgb1" if res == 4 else f"to_rgbs.{block_index - 1}"
        state.update({f"{prefix}.{k}": v for k, v in layer.items()})
        if res > 4:
            state[f"{prefix}.upsample.kernel"] = (DEFAULT_FILTER * 4).astype(np.float32)
        clamps.add(clamp)
    if len(clamps) != 1:
        raise _fail(path, f"clamps its layers at several values {sorted(map(str, clamps))}")
    return state, dict(conv_clamp=clamps.pop(), w_avg=w_avg)
