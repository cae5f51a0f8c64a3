"""NVlabs/stylegan2 TensorFlow network pickles (``stylegan2-ffhq-config-f.pkl`` & co.) read without TensorFlow.

Such a file is a plain pickle of (G, D, Gs), each a ``dnnlib.tflib.network.Network`` rebuilt from
its ``__getstate__`` dict (version, name, static_kwargs, components, build_module_src (never
executed here), build_func_name, variables); the values are numpy arrays and scalars.
``tf_generator`` converts ``Gs`` as stylegan2-ada-pytorch's ``legacy.py`` does, into rosinality's
layout: conv weights [k, k, in, out] -> [out, in, k, k] (``Conv0_up`` kernels first flipped in
both spatial axes: TF's upsampling conv is a transposed conv), ``mod_bias`` + 1, dense weights
[in, out] -> [out, in], ``noiseN`` -> the layer's constant noise, ``dlatent_avg`` -> w_avg,
``lod`` ignored.
"""
import numpy as np

from ...utils.errors import UserError

DEFAULT_FILTER = np.outer([1, 3, 3, 1], [1, 3, 3, 1]) / 64.0
KNOWN_KWARGS = {  # G_main / G_mapping / G_synthesis_stylegan2 options and the values supported
    "num_channels": 3, "label_size": 0, "architecture": "skip", "nonlinearity": "lrelu",
    "mapping_nonlinearity": "lrelu", "mapping_lrmul": 0.01, "resample_kernel": [1, 3, 3, 1],
    "resolution": None, "fmap_base": None, "fmap_max": None, "fmap_min": None, "latent_size": None,
    "dlatent_size": None, "mapping_fmaps": None, "mapping_layers": None, "use_noise": None,
    "dtype": "float32", "num_fp16_res": None, "conv_clamp": None, "normalize_latents": True,
    "dlatent_broadcast": None, "label_fmaps": None,
}
IGNORED_KWARGS = {"truncation_psi", "truncation_cutoff", "truncation_psi_val", "truncation_cutoff_val",
                  "structure", "conditioning", "fused_modconv", "style_mixing_prob", "is_template_graph"}


class _Network:
    """Stands for ``dnnlib.tflib.network.Network``: its pickled state only (NEWOBJ + BUILD)."""

    def __setstate__(self, state):
        if not isinstance(state, dict):
            raise ValueError("a Network without its state dict")
        self.state = state

    def variables(self):
        return {str(name): np.asarray(value, dtype=np.float32) for name, value in self.state.get("variables", [])}

    def component(self, name):
        value = (self.state.get("components") or {}).get(name)
        return value if isinstance(value, _Network) else None


TF_GLOBALS = {("dnnlib.tflib.network", "Network"): _Network}  # plus safe_pickle's numpy globals


def _fail(path, reason):
    return UserError(f"{{weight_path}} {path} {reason}; pass a StyleGAN2 network pickle (NVlabs TensorFlow .pkl or "
                     f"stylegan2-ada-pytorch snapshot) of an unconditional generator")


def _check_kwargs(network, path):
    kwargs = network.state.get("static_kwargs") or {}
    for key, value in kwargs.items():
        if key in IGNORED_KWARGS:
            continue
        if key not in KNOWN_KWARGS:
            raise _fail(path, f"builds {network.state.get('name')} with the option {key}={value!r}, which this "
                              "reader does not know")
        supported = KNOWN_KWARGS[key]
        value = list(value) if isinstance(value, tuple) else value
        if supported is not None and value is not None and value != supported:
            raise _fail(path, f"builds {network.state.get('name')} with {key}={value!r} (supported: {supported!r})")
    return kwargs


def _get(variables, name, path, shape_rank=None):
    if name not in variables:
        raise _fail(path, f"lacks the variable {name} (an incomplete network)")
    value = variables[name]
    if shape_rank is not None and value.ndim != shape_rank:
        raise _fail(path, f"has {name} of shape {list(value.shape)}")
    return value


def _modulated(variables, scope, path, flip=False):
    """rosinality suffixes of one TF modulated conv scope (weight, modulation, bias as given)."""
    weight = _get(variables, f"{scope}/weight", path, 4)
    if flip:
        weight = weight[::-1, ::-1]
    return {"conv.weight": np.ascontiguousarray(weight.transpose(3, 2, 0, 1))[None],
            "conv.modulation.weight": np.ascontiguousarray(_get(variables, f"{scope}/mod_weight", path, 2).T),
            "conv.modulation.bias": _get(variables, f"{scope}/mod_bias", path, 1) + np.float32(1)}


def tf_generator(networks, path):
    """rosinality-layout generator state dict (numpy, torch's [out, in] linear weights) and options of (G, D, Gs)."""
    if not (isinstance(networks, tuple) and len(networks) == 3 and isinstance(networks[2], _Network)):
        raise _fail(path, "holds no (G, D, Gs) tuple of networks (a discriminator or another object only)")
    gs = networks[2]
    version = gs.state.get("version", 0)
    if not isinstance(version, int) or version < 4:
        raise _fail(path, f"is a Network pickle of version {version} (before StyleGAN2's 4)")
    synthesis, mapping = gs.component("synthesis"), gs.component("mapping")
    if (gs.state.get("build_func_name") != "G_main" or synthesis is None or mapping is None
            or synthesis.state.get("build_func_name") != "G_synthesis_stylegan2"):
        funcs = synthesis.state.get("build_func_name") if synthesis is not None else gs.state.get("build_func_name")
        raise _fail(path, f"holds a generator built by {funcs}, not StyleGAN2's G_synthesis_stylegan2 (a StyleGAN1 "
                          "network?)")
    kwargs = {**_check_kwargs(mapping, path), **_check_kwargs(synthesis, path), **_check_kwargs(gs, path)}
    resolution = int(kwargs.get("resolution", 1024))
    if resolution < 8 or resolution & (resolution - 1):
        raise _fail(path, f"holds a generator of {resolution} px (only power-of-two sizes >= 8 are supported)")
    if kwargs.get("latent_size", 512) != kwargs.get("dlatent_size", 512):
        raise _fail(path, f"maps latent_size {kwargs.get('latent_size')} to dlatent_size {kwargs.get('dlatent_size')} "
                          "(they must be equal)")
    top, syn, mp = gs.variables(), synthesis.variables(), mapping.variables()
    state = {}
    layers = int(kwargs.get("mapping_layers", 8))
    for i in range(layers):
        state[f"style.{i + 1}.weight"] = np.ascontiguousarray(_get(mp, f"Dense{i}/weight", path, 2).T)
        state[f"style.{i + 1}.bias"] = _get(mp, f"Dense{i}/bias", path, 1)
    if f"Dense{layers}/weight" in mp:
        raise _fail(path, f"has more mapping layers than its mapping_layers {layers}")
    use_noise = kwargs.get("use_noise", True) is not False
    state["input.input"] = _get(syn, "4x4/Const/const", path, 4)
    for block_index, res in enumerate(2 ** k for k in range(2, resolution.bit_length())):
        scope = f"{res}x{res}"
        convs = ([("Conv", "conv1", 0, False)] if res == 4 else
                 [("Conv0_up", f"convs.{2 * block_index - 2}", 2 * block_index - 1, True),
                  ("Conv1", f"convs.{2 * block_index - 1}", 2 * block_index, False)])
        for name, prefix, noise, flip in convs:
            layer = _modulated(syn, f"{scope}/{name}", path, flip)
            layer["activate.bias"] = _get(syn, f"{scope}/{name}/bias", path, 1)
            if use_noise:
                layer["noise.weight"] = _get(syn, f"{scope}/{name}/noise_strength", path, 0).reshape(1)
                state[f"noises.noise_{noise}"] = _get(syn, f"noise{noise}", path, 4)
            else:
                layer["noise.weight"] = np.zeros(1, np.float32)
                state[f"noises.noise_{noise}"] = np.zeros((1, 1, res, res), np.float32)
            state.update({f"{prefix}.{k}": v for k, v in layer.items()})
        prefix = "to_rgb1" if res == 4 else f"to_rgbs.{block_index - 1}"
        layer = _modulated(syn, f"{scope}/ToRGB", path)
        layer["bias"] = _get(syn, f"{scope}/ToRGB/bias", path, 1).reshape(1, -1, 1, 1)
        if res > 4:
            layer["upsample.kernel"] = (DEFAULT_FILTER * 4).astype(np.float32)
        state.update({f"{prefix}.{k}": v for k, v in layer.items()})
    if f"{resolution * 2}x{resolution * 2}/Conv1/weight" in syn:
        raise _fail(path, f"has synthesis layers beyond its resolution {resolution}")
    clamp = kwargs.get("conv_clamp")
    return state, dict(conv_clamp=None if clamp is None else float(clamp), w_avg=_get(top, "dlatent_avg", path, 1))
