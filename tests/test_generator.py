"""StyleGANv2Generator: StyleSpace, synthesis paths, released layout, weight files."""
import inspect
import os

import numpy as np
import paddle
import pytest

from conftest import FIXTURES, SMALL_CHANNELS
from ppgan.models.generators import StyleGANv2Generator
from ppgan.models.generators.fast_synthesis import SynthesisProgram, VariantsProgram
from ppgan.modules.modulated_conv import ModulatedConv2D, Upsample
from ppgan.models.loading import load_stylegan2
from ppgan.utils.errors import UserError


def _max_rel(a, b):
    a, b = np.asarray(a, dtype=np.float64), np.asarray(b, dtype=np.float64)
    return np.abs(a - b).max() / np.abs(b).max()


def test_synthesis_from_styles_equals_forward(small_generator):
    g = small_generator
    w = paddle.randn([3, g.style_dim])
    with paddle.no_grad():
        image_forward, _ = g([w], input_is_latent=True, randomize_noise=False)
        image_styles = g.synthesis_from_styles(g.style_affine(w))
    assert image_forward.shape == [3, 3, 64, 64]
    np.testing.assert_array_equal(image_styles.numpy(), image_forward.numpy())


def test_w_and_tiled_w_plus_give_the_same_styles(small_generator):
    g = small_generator
    w = paddle.randn([2, g.style_dim])
    with paddle.no_grad():
        from_w = g.style_affine(w)
        from_w_plus = g.style_affine(w.unsqueeze(1).tile([1, g.n_latent, 1]))
    assert [s.shape[1] for s in from_w] == g.channels_lst
    for a, b in zip(from_w, from_w_plus):
        np.testing.assert_array_equal(a.numpy(), b.numpy())


def test_style_affine_uses_the_right_w_plus_row(small_generator):
    """Each style layer reads W+ row w_idx_lst[i]: checked with a numpy EqualLinear per layer."""
    g = small_generator
    latent = paddle.randn([2, g.n_latent, g.style_dim])
    with paddle.no_grad():
        styles = g.style_affine(latent)
    modules = [g.conv1, g.to_rgb1] + [m for block in range(g.log_size - 2)
                                      for m in (g.convs[2 * block], g.convs[2 * block + 1], g.to_rgbs[block])]
    for style, module, row in zip(styles, modules, g.w_idx_lst):
        mod = module.conv.modulation
        expected = latent.numpy()[:, row] @ (mod.weight.numpy() * mod.scale) + mod.bias.numpy()
        np.testing.assert_allclose(style.numpy(), expected, rtol=1e-5, atol=1e-5)


def test_batch_equals_single_renders(small_generator):
    g = small_generator
    w = paddle.randn([4, g.style_dim])
    with paddle.no_grad():
        batch = g.synthesis_from_styles(g.style_affine(w)).numpy()
        singles = np.concatenate([g.synthesis_from_styles(g.style_affine(w[i:i + 1])).numpy() for i in range(4)])
    assert _max_rel(batch, singles) < 1e-4


def test_partial_synthesis_resumes_from_any_conv_layer(small_generator):
    g = small_generator
    styles = g.style_affine(paddle.randn([2, g.style_dim]))
    with paddle.no_grad():
        full = g.synthesis_from_styles(styles).numpy()
        for start in g.style_layers[1:]:
            x, skip = g.synthesis_partial(styles, 0, start)
            assert [list(x.shape[1:]), list(skip.shape[1:])] == list(g.state_shapes(start))
            _, image = g.synthesis_partial(styles, start, g.num_style_layers, x=x, skip=skip)
            np.testing.assert_array_equal(image.numpy(), full)


def test_compiled_synthesis_matches_eager(small_generator):
    """The Paddle Inference program (oneDNN) renders what the eager generator renders."""
    g = small_generator
    styles = g.style_affine(paddle.randn([3, g.style_dim]))
    with paddle.no_grad():
        eager = g.synthesis_from_styles(styles).numpy()
    for start in (0, 3, g.style_layers[-1]):
        program = SynthesisProgram(g, start, eager=False)
        x, skip = g.synthesis_partial(styles, 0, start) if start else (None, None)
        assert _max_rel(program(styles, x, skip).numpy(), eager) < 1e-4


def noisy_generator(size=64, style_dim=64, n_mlp=2, channels=SMALL_CHANNELS):
    """A generator (small by default) whose noise strengths and biases are not zero (they are at initialisation)."""
    paddle.seed(3)
    generator = StyleGANv2Generator(size, style_dim, n_mlp, channels=channels)
    generator.eval()
    for name, param in generator.named_parameters():
        if name.endswith(("noise.weight", "activate.bias", ".bias")) and "modulation" not in name:
            param.set_value(paddle.randn(param.shape) * 0.5)
    return generator


@pytest.mark.parametrize("eager", [True, False], ids=["eager", "compiled"])
def test_variants_program_renders_like_full_renders(eager):
    """Later layers folded into their weights (``VariantsProgram``) give the full renders of the moved S codes:
    for two S codes in a row (a new predictor each) and on a second call (the folded weights are fed once)."""
    g = noisy_generator()
    styles = g.style_affine(paddle.randn([2, g.style_dim]))
    for layer in (0, 3, g.style_layers[-1]):
        for image in (0, 1):
            code = [s[image:image + 1] for s in styles]
            moved = code[layer].tile([3, 1]) + paddle.randn([3, g.channels_lst[layer]])
            full = [s.tile([3, 1]) for s in code[:layer]] + [moved] + [s.tile([3, 1]) for s in code[layer + 1:]]
            with paddle.no_grad():
                expected = g.synthesis_from_styles(full).numpy()
                x, skip = g.synthesis_partial(full, 0, layer) if layer else (None, None)
            program = VariantsProgram(g, layer, code, eager=eager)
            for _ in range(2):
                assert _max_rel(program(moved, x, skip).numpy(), expected) < 1e-4


def test_compiled_program_is_exported_again_when_its_code_changes(small_generator, monkeypatch):
    """The cache key of an exported program covers the source it was traced from, not only the weights."""
    from ppgan.models.generators import fast_synthesis
    from ppgan.modules import modulated_conv

    before = fast_synthesis._fingerprint(small_generator, 0, "synthesis")
    getsource = inspect.getsource
    monkeypatch.setattr(inspect, "getsource",
                        lambda module: getsource(module) + ("# edited" if module is modulated_conv else ""))
    assert fast_synthesis._fingerprint(small_generator, 0, "synthesis") != before


def test_fresh_noise_changes_the_image_and_fixed_noise_does_not(small_generator):
    g = small_generator
    for layer in g.sublayers():
        if layer.__class__.__name__ == "NoiseInjection":
            layer.weight.set_value(paddle.full([1], 0.5))
    styles = g.style_affine(paddle.randn([1, g.style_dim]))
    with paddle.no_grad():
        fixed_a = g.synthesis_from_styles(styles).numpy()
        fixed_b = g.synthesis_from_styles(styles).numpy()
        random_noise = g.synthesis_from_styles(styles, randomize_noise=True).numpy()
    np.testing.assert_array_equal(fixed_a, fixed_b)
    assert np.abs(random_noise - fixed_a).max() > 1e-3


@pytest.mark.parametrize("upsample,demodulate,kernel", [(False, True, 3), (True, True, 3), (False, False, 1)])
def test_batched_and_grouped_modulated_conv_agree(upsample, demodulate, kernel):
    paddle.seed(1)
    conv = ModulatedConv2D(24, 16, kernel, 32, demodulate=demodulate, upsample=upsample)
    x, style = paddle.randn([3, 24, 8, 8]), conv.modulation(paddle.randn([3, 32]))
    batched = conv(x, style).numpy()
    conv.grouped = True
    grouped = conv(x, style).numpy()
    assert batched.shape == (3, 16, 16 if upsample else 8, 16 if upsample else 8)
    assert _max_rel(batched, grouped) < 1e-4


@pytest.mark.parametrize("upsample,demodulate,kernel", [(False, True, 3), (True, True, 3), (False, False, 1)])
def test_folded_weight_convolution_equals_the_modulated_conv(upsample, demodulate, kernel):
    """One style for the whole batch: ``forward_folded(x, folded_weight(style))`` equals ``forward``."""
    paddle.seed(4)
    conv = ModulatedConv2D(24, 16, kernel, 32, demodulate=demodulate, upsample=upsample)
    x, style = paddle.randn([3, 24, 8, 8]), conv.modulation(paddle.randn([1, 32]))
    modulated = conv(x, style.tile([3, 1])).numpy()
    assert _max_rel(conv.forward_folded(x, conv.folded_weight(style)).numpy(), modulated) < 1e-5


def test_modulated_conv_matches_numpy_definition():
    """Plain 3x3 modulated conv against a direct numpy evaluation of the formula of docs/spec.md, section 1."""
    paddle.seed(2)
    conv = ModulatedConv2D(4, 5, 3, 8)
    x, style = paddle.randn([2, 4, 6, 6]), conv.modulation(paddle.randn([2, 8]))
    out = conv(x, style).numpy()
    w = conv.weight.numpy()[0] / np.sqrt(4 * 9)
    xs, ss = np.pad(x.numpy(), ((0, 0), (0, 0), (1, 1), (1, 1))), style.numpy()
    expected = np.zeros_like(out)
    for b in range(2):
        wb = w * ss[b][None, :, None, None]
        wb = wb / np.sqrt((wb ** 2).sum(axis=(1, 2, 3), keepdims=True) + 1e-8)
        for i in range(6):
            for j in range(6):
                expected[b, :, i, j] = np.einsum("oik,ik->o", wb.reshape(5, 4, 9), xs[b, :, i:i + 3, j:j + 3].reshape(4, 9))
    np.testing.assert_allclose(out, expected, rtol=1e-4, atol=1e-5)


def test_skip_upsample_matches_upfirdn_reference():
    """Zero insertion, pad (2, 1), 4x4 FIR: computed directly in numpy."""
    up = Upsample([1, 3, 3, 1])
    x = np.random.RandomState(0).randn(1, 2, 5, 5).astype("float32")
    out = up(paddle.to_tensor(x)).numpy()
    kernel = up.kernel.numpy()
    zeros = np.zeros((1, 2, 10, 10), "float32")
    zeros[:, :, ::2, ::2] = x
    padded = np.pad(zeros, ((0, 0), (0, 0), (2, 1), (2, 1)))
    flipped = kernel[::-1, ::-1]
    expected = np.zeros((1, 2, 10, 10), "float32")
    for i in range(10):
        for j in range(10):
            expected[:, :, i, j] = (padded[:, :, i:i + 4, j:j + 4] * flipped).sum(axis=(2, 3))
    np.testing.assert_allclose(out, expected, rtol=1e-5, atol=1e-5)


def test_get_latents_cutoff_counts_w_plus_rows(small_generator):
    g = small_generator
    z = paddle.randn([2, g.style_dim])
    with paddle.no_grad():
        mean_w = g.mean_latent(256, seed=0)
        w = g.style(z)
        latents = g.get_latents(z, 0.5, truncation_cutoff=3, truncation_latent=mean_w).numpy()
    truncated = (mean_w + 0.5 * (w - mean_w)).numpy()
    assert latents.shape == (2, g.n_latent, g.style_dim)
    np.testing.assert_allclose(latents[:, :3], np.repeat(truncated[:, None], 3, 1), rtol=1e-6)
    np.testing.assert_allclose(latents[:, 3:], np.repeat(w.numpy()[:, None], g.n_latent - 3, 1), rtol=1e-6)


def test_mean_latent_is_deterministic_with_a_seed(small_generator):
    with paddle.no_grad():
        a, b = small_generator.mean_latent(64, seed=3), small_generator.mean_latent(64, seed=3)
    np.testing.assert_array_equal(a.numpy(), b.numpy())


def test_style_mixing_takes_rows_from_both_latents(small_generator):
    g = small_generator
    w1, w2 = paddle.randn([1, g.style_dim]), paddle.randn([1, g.style_dim])
    with paddle.no_grad():
        _, latent = g([w1, w2], input_is_latent=True, inject_index=4, return_latents=True, randomize_noise=False)
    np.testing.assert_array_equal(latent.numpy()[0, :4], np.repeat(w1.numpy(), 4, 0))
    np.testing.assert_array_equal(latent.numpy()[0, 4:], np.repeat(w2.numpy(), g.n_latent - 4, 0))


@pytest.mark.parametrize("size,total,without_rgb,layers", [(1024, 9088, 6048, 26), (512, 8960, 5952, 23),
                                                           (256, 8704, 5760, 20)])
def test_style_space_sizes(size, total, without_rgb, layers):
    g = StyleGANv2Generator(size, 512, 8)
    assert len(g.channels_lst) == layers
    assert sum(g.channels_lst) == total
    assert sum(g.channels_lst[i] for i in g.style_layers) == without_rgb
    if size == 1024:
        assert g.n_latent == 18 and g.num_layers == 17
        assert g.style_layers == [0, 2, 3, 5, 6, 8, 9, 11, 12, 14, 15, 17, 18, 20, 21, 23, 24]
        assert g.w_idx_lst == [0, 1, 1, 2, 3, 3, 4, 5, 5, 6, 7, 7, 8, 9, 9, 10, 11, 11, 12, 13, 13, 14, 15, 15,
                               16, 17]
        expected = [line.split("\t") for line in open(os.path.join(FIXTURES, "stylegan2_1024_state_dict_keys.tsv"))
                    .read().strip().splitlines()]
        assert [(k, str(list(v.shape))) for k, v in g.state_dict().items()] == [tuple(e) for e in expected]


def _save_small(generator, path):
    paddle.save(generator.state_dict(), str(path))
    return str(path)


def test_save_load_round_trip_renders_identically(small_generator, tmp_path):
    path = _save_small(small_generator, tmp_path / "g.pdparams")
    loaded = load_stylegan2(weight_path=path, size=64, style_dim=64, n_mlp=2, channels=SMALL_CHANNELS)
    w = paddle.randn([2, 64])
    with paddle.no_grad():
        a = small_generator.synthesis_from_styles(small_generator.style_affine(w)).numpy()
        b = loaded.synthesis_from_styles(loaded.style_affine(w)).numpy()
    np.testing.assert_array_equal(a, b)


def test_missing_key_and_wrong_shape_fail_loudly(small_generator, tmp_path):
    state = small_generator.state_dict()
    missing = dict(state)
    missing.pop("convs.1.conv.weight")
    paddle.save(missing, str(tmp_path / "missing.pdparams"))
    with pytest.raises(UserError, match="missing 1 keys: convs.1.conv.weight"):
        load_stylegan2(weight_path=str(tmp_path / "missing.pdparams"), size=64, style_dim=64, n_mlp=2,
                       channels=SMALL_CHANNELS)
    wrong = dict(state, **{"conv1.conv.weight": paddle.zeros([1, 32, 16, 3, 3])})
    paddle.save(wrong, str(tmp_path / "wrong.pdparams"))
    with pytest.raises(UserError, match=r"wrong shape: conv1.conv.weight \[1, 32, 16, 3, 3\] "
                                        r"\(expected \[1, 32, 32, 3, 3\]\)"):
        load_stylegan2(weight_path=str(tmp_path / "wrong.pdparams"))


def test_keys_outside_the_model_are_reported_and_unused_generator_keys_refused(small_generator, tmp_path, capsys):
    state = dict(small_generator.state_dict())
    state["convs.0.conv.blur.kernel"] = paddle.ones([4, 4])  # older PaddleGAN files
    state["discriminator.final.weight"] = paddle.ones([2])
    paddle.save(state, str(tmp_path / "old.pdparams"))
    loaded = load_stylegan2(weight_path=str(tmp_path / "old.pdparams"))
    err = capsys.readouterr().err
    assert "ignored 2 keys" in err and "convs.0.conv.blur.kernel" in err and "discriminator.final.weight" in err
    np.testing.assert_array_equal(loaded.input.input.numpy(), small_generator.input.input.numpy())
    state["convs.12.conv.weight"] = paddle.ones([1, 8, 8, 3, 3])  # a generator key no layer of the model reads
    paddle.save(state, str(tmp_path / "extra.pdparams"))
    with pytest.raises(UserError, match="1 keys the model would leave unused: convs.12.conv.weight"):
        load_stylegan2(weight_path=str(tmp_path / "extra.pdparams"))


def test_corrupt_weight_file_is_a_user_error(tmp_path):
    bad = tmp_path / "bad.pdparams"
    bad.write_bytes(b"not a pickle at all")
    with pytest.raises(UserError, match="not a readable .pdparams"):
        load_stylegan2(weight_path=str(bad))


def test_released_stats_file_loads_with_paddle():
    """A Paddle 2.x pickle (the released StyleCLIP stats) reads with paddle.load."""
    stats = paddle.load(os.path.join(FIXTURES, "stylegan2-ffhq-config-f-styleclip-stats.pdparams"))
    assert set(stats) == {"mean", "std"}
    assert [int(t.shape[0]) for t in stats["mean"]] == StyleGANv2Generator(1024, 512, 8).channels_lst


@pytest.mark.slow
def test_full_size_compiled_synthesis_matches_eager_and_grouped():
    """At 1024 (17 layers of real widths) the three render paths agree."""
    paddle.seed(0)
    g = StyleGANv2Generator(1024, 512, 8)
    g.eval()
    with paddle.no_grad():
        styles = g.style_affine(paddle.randn([2, 512]))
        eager = g.synthesis_from_styles(styles).numpy()
        g.set_grouped_modconv(True)
        grouped = g.synthesis_from_styles(styles).numpy()
        g.set_grouped_modconv(False)
    compiled = SynthesisProgram(g, eager=False)(styles).numpy()
    assert eager.shape == (2, 3, 1024, 1024)
    assert _max_rel(grouped, eager) < 1e-4
    assert _max_rel(compiled, eager) < 1e-4


@pytest.mark.slow
def test_full_size_variants_program_matches_eager_renders():
    """At 1024, variants of an S code moved in layer 21 (the later layers folded) equal eager full renders, for two
    S codes in a row (a new predictor each)."""
    g = noisy_generator(1024, 512, 8, channels=None)
    layer = 21
    styles = g.style_affine(paddle.randn([2, 512]))
    for image in (0, 1):
        code = [s[image:image + 1] for s in styles]
        moved = code[layer] + paddle.randn([1, g.channels_lst[layer]])
        full = code[:layer] + [moved] + code[layer + 1:]
        with paddle.no_grad():
            expected = g.synthesis_from_styles(full).numpy()
            x, skip = g.synthesis_partial(full, 0, layer)
        assert _max_rel(VariantsProgram(g, layer, code, eager=False)(moved, x, skip).numpy(), expected) < 1e-4


def test_export_tool_writes_a_model_paddle_inference_runs(small_generator, tmp_path):
    import subprocess
    import sys

    from paddle import inference

    from conftest import REPO_ROOT

    weights = tmp_path / "g.pdparams"
    paddle.save(small_generator.state_dict(), str(weights))
    channels = ",".join(f"{res}:{width}" for res, width in SMALL_CHANNELS.items())
    result = subprocess.run([sys.executable, os.path.join(REPO_ROOT, "tools", "export_model.py"),
                             "--weight_path", str(weights), "--size", "64", "--style_dim", "64", "--n_mlp", "2",
                             "--channels", channels, "--output_dir", str(tmp_path / "model")],
                            capture_output=True, text=True)
    assert result.returncode == 0, result.stderr
    model_file = next(str(p) for p in (tmp_path / "model").iterdir() if p.suffix in (".json", ".pdmodel"))
    config = inference.Config(model_file, str(tmp_path / "model" / "synthesis.pdiparams"))
    config.disable_gpu()
    predictor = inference.create_predictor(config)
    styles = small_generator.style_affine(paddle.randn([2, 64]))
    for i, style in enumerate(styles):
        predictor.get_input_handle(f"style_{i}").copy_from_cpu(style.numpy())
    predictor.run()
    image = predictor.get_output_handle(predictor.get_output_names()[0]).copy_to_cpu()
    with paddle.no_grad():
        assert _max_rel(image, small_generator.synthesis_from_styles(styles).numpy()) < 1e-4
