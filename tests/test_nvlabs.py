"""NVIDIA's StyleGAN2 pickles (TensorFlow Network pickles, stylegan2-ada-pytorch snapshots) read without
TensorFlow or PyTorch: the converted generator reproduces the references NVIDIA's own code computed."""
import os
import pickle

import numpy as np
import paddle
import pytest

from conftest import FIXTURES, Payload, raises_user_error
from ppgan.models.formats import nvlabs_ada
from ppgan.models.formats.nvlabs import read_nvlabs_generator
from ppgan.models.generators import StyleGANv2Generator
from ppgan.models.generators.fast_synthesis import SynthesisProgram, VariantsProgram
from ppgan.models.loading import stylegan2_architecture

ADA = os.path.join(FIXTURES, "nvlabs_stylegan2ada_64px_small.pkl")
TF = os.path.join(FIXTURES, "nvlabs_stylegan2_tf_64px_small.pkl")


def reference(path):
    return np.load(path[:-len(".pkl")] + "_reference.npz")


def build(path, **overrides):
    state_dict, options = read_nvlabs_generator(path)
    options = {**options, **overrides}
    arch = stylegan2_architecture(state_dict, path)
    generator = StyleGANv2Generator(arch["size"], arch["style_dim"], arch["n_mlp"], channels=arch["channels"],
                                    conv_clamp=options["conv_clamp"])
    generator.set_state_dict({key: paddle.to_tensor(value) for key, value in state_dict.items()})
    generator.set_w_avg(options["w_avg"])
    generator.eval()
    return generator, state_dict, options


def max_error(actual, expected):
    return float(np.abs(np.asarray(actual) - expected).max())


@pytest.mark.parametrize("path, clamp", [(ADA, 256.0), (TF, None)], ids=["ada", "tf"])
def test_converted_generator_reproduces_nvidias_outputs(path, clamp):
    ref = reference(path)
    generator, state_dict, options = build(path)
    assert set(state_dict) == set(generator.state_dict())
    for key, value in generator.state_dict().items():
        np.testing.assert_array_equal(value.numpy(), state_dict[key], err_msg=key)
    assert options["conv_clamp"] == clamp
    np.testing.assert_array_equal(options["w_avg"], ref["w_avg"])
    z = paddle.to_tensor(ref["z"])
    rng = np.random.RandomState(0)
    centre = generator.truncation_centre(rng, float(ref["psi"]))
    with paddle.no_grad():
        w = generator.get_latents(z).numpy()
        w_psi = generator.get_latents(z, float(ref["psi"]), truncation_latent=centre).numpy()
        ws = np.repeat(w[:, None], generator.n_latent, axis=1)
        assert max_error(ws, ref["ws"]) < 1e-4
        assert max_error(np.repeat(w_psi[:, None], generator.n_latent, axis=1), ref["ws_psi"]) < 1e-4
        for latents, images in (("ws", "images"), ("ws_psi", "images_psi")):
            image = generator.synthesis_from_styles(generator.style_affine(paddle.to_tensor(ref[latents])))
            assert max_error(image.numpy(), ref[images]) < 1e-4, images


def test_conv_clamp_is_traced_by_the_fast_paths():
    """A clamp that bites (1.0; ADA's 256 never does on the fixture) changes the image, and the compiled
    program and the folded layers (``VariantsProgram``) clamp exactly as the eager layers do."""
    ref = reference(ADA)
    generator, _, _ = build(ADA, conv_clamp=1.0)
    styles = generator.style_affine(paddle.to_tensor(ref["ws"]))
    with paddle.no_grad():
        x, _ = generator.synthesis_partial(styles, 0, 1)
        eager = generator.synthesis_from_styles(styles).numpy()
    assert float(paddle.abs(x).max()) <= 1.0
    assert max_error(eager, ref["images"]) > 0.1
    assert max_error(SynthesisProgram(generator, 0, eager=False)(styles).numpy(), eager) < 1e-4
    code = [s[:1] for s in styles]
    layer = generator.style_layers[1]
    with paddle.no_grad():
        state = generator.synthesis_partial(code, 0, layer)
    variants = VariantsProgram(generator, layer, code, eager=False)(code[layer], *state).numpy()
    assert max_error(variants, eager[:1]) < 1e-4


def test_truncated_files_are_one_line(tmp_path):
    for path in (ADA, TF):
        data = open(path, "rb").read()
        for cut in (len(data) // 2, len(data) - 7):
            broken = tmp_path / os.path.basename(path)
            broken.write_bytes(data[:cut])
            with raises_user_error(r"^--weight_path .*truncated or damaged[^\n]*$"):
                read_nvlabs_generator(str(broken))


@pytest.mark.parametrize("kind", ["os.system", "builtins.eval", "subprocess.Popen"])
def test_crafted_pickles_are_refused_unrun(tmp_path, kind):
    marker = tmp_path / "marker"
    path = tmp_path / "network.pkl"
    with open(path, "wb") as f:
        pickle.dump({"G_ema": Payload(kind, marker)}, f, protocol=4)
    with raises_user_error(rf"^--weight_path .*asks for {Payload.RECORDED[kind]}[^\n]*$"):
        read_nvlabs_generator(str(path))
    assert not marker.exists()


def test_other_networks_and_contents_are_refused(tmp_path):
    # Re-pickle the fixture's own objects (read by our stand-ins) with one thing changed each.
    from ppgan.models.formats.nvlabs import NVLABS_GLOBALS
    from ppgan.utils.safe_pickle import unpickle

    def loaded():
        with open(ADA, "rb") as f:
            return unpickle(f, ADA, NVLABS_GLOBALS)

    def refused(snapshot, pattern):
        with raises_user_error(pattern):
            nvlabs_ada.ada_generator(snapshot, "net.pkl")

    snapshot = loaded()
    snapshot["G_ema"].class_name = "Discriminator"
    refused(snapshot, r"^--weight_path net\.pkl holds a Discriminator as G_ema[^\n]*$")
    snapshot = loaded()
    del snapshot["G_ema"]
    refused(snapshot, r"holds no G_ema")
    snapshot = loaded()
    snapshot["G_ema"].state["c_dim"] = 10
    refused(snapshot, r"class-conditional")
    snapshot = loaded()
    snapshot["G_ema"].child("synthesis").child("b8").child("conv0").state["use_radial_filters"] = False
    refused(snapshot, r"StyleGAN3")
    snapshot = loaded()
    snapshot["G_ema"].child("synthesis").child("b16").state["architecture"] = "resnet"
    refused(snapshot, r"'resnet' synthesis architecture")
    snapshot = loaded()
    del snapshot["G_ema"].child("synthesis").child("b32").child("torgb").state["_parameters"]["weight"]
    refused(snapshot, r"lacks synthesis\.b32\.torgb\.weight")


def test_a_snapshot_whose_g_ema_is_another_class_is_refused_naming_it(tmp_path, monkeypatch):
    import sys
    import types

    def _reconstruct_persistent_obj(meta):
        raise AssertionError("only pickled here")

    _reconstruct_persistent_obj.__module__ = "torch_utils.persistence"
    _reconstruct_persistent_obj.__qualname__ = "_reconstruct_persistent_obj"
    package, module = types.ModuleType("torch_utils"), types.ModuleType("torch_utils.persistence")
    package.persistence, module._reconstruct_persistent_obj = module, _reconstruct_persistent_obj
    monkeypatch.setitem(sys.modules, "torch_utils", package)
    monkeypatch.setitem(sys.modules, "torch_utils.persistence", module)

    class Persistent:
        def __reduce__(self):
            meta = dict(type="class", version=6, module_src="raise SystemExit", class_name="SuperResolutionNet",
                        state={"_parameters": {}, "_buffers": {}, "_modules": {}})
            return _reconstruct_persistent_obj, (meta,)

    path = tmp_path / "network-snapshot-000000.pkl"
    path.write_bytes(pickle.dumps({"G": Persistent(), "G_ema": Persistent()}, protocol=4))
    with raises_user_error(r"^--weight_path \S+ holds a SuperResolutionNet as G_ema, not StyleGAN2's Generator"):
        read_nvlabs_generator(str(path))


def test_tf_networks_it_cannot_convert_are_refused():
    from ppgan.models.formats import nvlabs_tf
    from ppgan.models.formats.nvlabs import NVLABS_GLOBALS
    from ppgan.utils.safe_pickle import unpickle

    def refused(change, pattern):
        with open(TF, "rb") as f:
            networks = unpickle(f, TF, NVLABS_GLOBALS)
        change(*networks)
        with raises_user_error(pattern):
            nvlabs_tf.tf_generator(networks, "net.pkl")

    refused(lambda g, d, gs: gs.state.update(version=3), r"^--weight_path net\.pkl is a Network pickle of version 3")
    refused(lambda g, d, gs: gs.state["static_kwargs"].update(label_size=10), r"label_size=10")
    refused(lambda g, d, gs: gs.component("synthesis").state["static_kwargs"].update(architecture="resnet"),
            r"architecture='resnet'")
    refused(lambda g, d, gs: gs.state["static_kwargs"].update(fmap_decay=1.0), r"option fmap_decay=1\.0")
    refused(lambda g, d, gs: gs.component("synthesis").state.update(build_func_name="G_synthesis"),
            r"built by G_synthesis, not StyleGAN2")
    refused(lambda g, d, gs: gs.component("synthesis").state["variables"].pop(), r"lacks the variable 64x64/ToRGB/bias")
    with raises_user_error(r"no \(G, D, Gs\) tuple"):
        nvlabs_tf.tf_generator((1, 2), "net.pkl")
