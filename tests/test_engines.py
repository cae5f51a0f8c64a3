"""The render engines: every installed engine renders what eager Paddle renders (full, partial and extraction
programs, with every generator option), the automatic choice is timed once and remembered, and an engine that is
missing or fails falls back to Paddle Inference with one line."""
import json
import os

import numpy as np
import paddle
import pytest

from ppgan.models.generators import StyleGANv2Generator
from ppgan.models.generators import fast_synthesis
from ppgan.models.generators.fast_synthesis import SynthesisProgram, VariantsProgram
from ppgan.utils import engines
from ppgan.utils.errors import UserError

from conftest import SMALL_CHANNELS

INSTALLED = [name for name in engines.ENGINES if not engines.missing_packages(name)]
TOLERANCE = 1e-3  # max abs, on images of about [-1, 1] (issue 25)


def noisy_generator(size=64, style_dim=64, channels=SMALL_CHANNELS, conv_clamp=None, seed=3):
    """A random generator whose noise strengths and biases are not zero (they are at initialisation)."""
    paddle.seed(seed)
    generator = StyleGANv2Generator(size, style_dim, 2 if size < 1024 else 8, channels=channels,
                                    conv_clamp=conv_clamp)
    generator.eval()
    for name, param in generator.named_parameters():
        if name.endswith(("noise.weight", "activate.bias", ".bias")) and "modulation" not in name:
            param.set_value(paddle.randn(param.shape) * 0.5)
    return generator


def eager_render(generator, styles, start=0, x=None, skip=None):
    with paddle.no_grad():
        return generator.synthesis_partial(styles, start, generator.num_style_layers, x=x, skip=skip)[1].numpy()


def check_every_program(generator, engine, batch=3, layers=None):
    """Full render, partial renders from conv layers, and extraction's variants, against eager Paddle."""
    styles = generator.style_affine(paddle.randn([batch, generator.style_dim]))
    full = eager_render(generator, styles)
    program = SynthesisProgram(generator, eager=False, engine=engine)
    assert program.engine == engine
    image = program(styles).numpy()
    assert image.shape == full.shape and np.abs(image - full).max() < TOLERANCE
    for layer in layers or (0, 3, generator.style_layers[-1]):
        if layer:
            with paddle.no_grad():
                x, skip = generator.synthesis_partial(styles, 0, layer)
            partial = SynthesisProgram(generator, layer, eager=False, engine=engine)(styles, x, skip).numpy()
            assert np.abs(partial - full).max() < TOLERANCE
        code = [s[:1] for s in styles]
        moved = code[layer].tile([batch, 1]) + paddle.randn([batch, generator.channels_lst[layer]])
        variant_styles = [s.tile([batch, 1]) for s in code[:layer]] + [moved] + [s.tile([batch, 1])
                                                                                for s in code[layer + 1:]]
        with paddle.no_grad():
            x, skip = generator.synthesis_partial(variant_styles, 0, layer) if layer else (None, None)
        expected = eager_render(generator, variant_styles)
        variants = VariantsProgram(generator, layer, code, eager=False, engine=engine)
        for _ in range(2):  # the folded weights are fed once and stay
            assert np.abs(variants(moved, x, skip).numpy() - expected).max() < TOLERANCE


@pytest.mark.parametrize("engine", INSTALLED)
def test_every_engine_renders_what_eager_paddle_renders(engine):
    check_every_program(noisy_generator(), engine)


@pytest.mark.parametrize("engine", INSTALLED)
def test_every_engine_applies_conv_clamp(engine):
    """stylegan2-ada-pytorch's clamp (``conv_clamp``) is part of every engine's graph: with a bound the
    activations reach, the image differs from the unclamped one and still equals eager Paddle's."""
    clamped = noisy_generator(conv_clamp=0.5)
    styles = clamped.style_affine(paddle.randn([2, clamped.style_dim]))
    unclamped = noisy_generator()
    assert np.abs(eager_render(clamped, styles) - eager_render(unclamped, styles)).max() > 0.01
    check_every_program(clamped, engine, batch=2, layers=[3])


@pytest.mark.skipif(engines.missing_packages("onnxruntime") != [], reason="onnx is not installed")
def test_the_onnx_graph_is_built_from_the_weights_not_converted():
    """The ONNX model holds the generator's constants: every conv weight appears scaled by its equalized-lr factor."""
    from ppgan.models.generators.onnx_synthesis import synthesis_graph
    from onnx import numpy_helper

    g = noisy_generator()
    constants = [numpy_helper.to_array(t) for t in synthesis_graph(g).graph.initializer]
    conv = g.conv1.conv
    expected = conv.weight.numpy()[0] / np.sqrt(conv.in_channels * 9)
    assert any(c.shape == expected.shape and np.allclose(c, expected, rtol=1e-6) for c in constants)


@pytest.fixture
def auto_engine(monkeypatch, tmp_path):
    monkeypatch.setenv("PPGAN_ENGINE", "auto")
    monkeypatch.setenv("PPGAN_HOME", str(tmp_path))
    monkeypatch.setattr(engines, "_said", set())
    return tmp_path


@pytest.mark.skipif(len(INSTALLED) < 2, reason="one engine: nothing to choose")
def test_auto_times_the_engines_once_and_remembers_the_fastest(auto_engine, monkeypatch, capsys):
    g = noisy_generator()
    timed = []
    calibrate = fast_synthesis.calibrate
    monkeypatch.setattr(fast_synthesis, "calibrate", lambda *a: timed.append(1) or calibrate(*a))
    chosen = SynthesisProgram(g, eager=False).engine
    with open(auto_engine / engines.CHOICES_FILE) as f:
        entry = next(iter(json.load(f).values()))
    assert timed == [1] and chosen == entry["engine"] in INSTALLED
    assert set(entry["seconds"]) == set(INSTALLED)
    assert entry["seconds"][chosen] == min(entry["seconds"].values())
    assert f"renders run on {chosen}" in capsys.readouterr().err
    # Remembered: a second program, another generator of the same architecture, no timing.
    assert SynthesisProgram(noisy_generator(seed=4), 3, eager=False).engine == chosen
    assert timed == [1]
    # Extraction's programs are timed on their own, once.
    code = g.style_affine(paddle.randn([1, g.style_dim]))
    variants_engine = VariantsProgram(g, 3, code, eager=False).engine
    assert VariantsProgram(g, 5, code, eager=False).engine == variants_engine in INSTALLED
    assert timed == [1, 1]
    assert f"extraction's renders run on {variants_engine}" in capsys.readouterr().err


def test_an_engine_that_disagrees_is_not_chosen(auto_engine, monkeypatch, capsys):
    """The calibration checks each engine's image against Paddle's before timing it."""
    if "onnxruntime" not in INSTALLED:
        pytest.skip("onnxruntime is not installed")
    original = engines.SESSIONS["onnxruntime"]

    class Wrong(original):
        def run(self, feeds):
            return [out + 0.01 for out in super().run(feeds)]

    monkeypatch.setitem(engines.SESSIONS, "onnxruntime", Wrong)
    monkeypatch.setattr(engines, "missing_packages", lambda name: [])
    assert fast_synthesis.calibrate(noisy_generator()) != "onnxruntime"
    assert fast_synthesis.calibrate(noisy_generator(), "variants") != "onnxruntime"
    assert "onnxruntime's render differs from Paddle's (max 0.01)" in capsys.readouterr().err


def test_a_missing_engine_falls_back_to_paddle_with_one_line(monkeypatch, capsys):
    monkeypatch.setattr(engines, "_said", set())
    monkeypatch.setenv("PPGAN_ENGINE", "openvino")
    monkeypatch.setattr(engines, "missing_packages", lambda name: ["openvino"] if name == "openvino" else [])
    g = noisy_generator()
    program = SynthesisProgram(g, eager=False)
    SynthesisProgram(g, 3, eager=False)
    assert program.engine == "paddle"
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "openvino is not installed (pip install openvino): rendering with Paddle" in err
    styles = g.style_affine(paddle.randn([1, g.style_dim]))
    assert np.abs(program(styles).numpy() - eager_render(g, styles)).max() < TOLERANCE


def test_an_engine_that_cannot_load_the_graph_falls_back_with_one_line(monkeypatch, capsys):
    if "onnxruntime" not in INSTALLED:
        pytest.skip("onnxruntime is not installed")
    monkeypatch.setattr(engines, "_said", set())

    def broken(path, bf16=False):
        raise RuntimeError("[ONNXRuntimeError] : 10 : INVALID_GRAPH : unsupported op\nmore detail")

    monkeypatch.setitem(engines.SESSIONS, "onnxruntime", broken)
    program = SynthesisProgram(noisy_generator(), eager=False, engine="onnxruntime")
    assert program.engine == "paddle"
    assert capsys.readouterr().err == ("note: onnxruntime could not load the synthesis ([ONNXRuntimeError] : 10 : "
                                       "INVALID_GRAPH : unsupported op): rendering with Paddle Inference\n")


def test_a_damaged_cached_graph_is_written_again(monkeypatch, tmp_path):
    if "onnxruntime" not in INSTALLED:
        pytest.skip("onnxruntime is not installed")
    monkeypatch.setenv("PPGAN_HOME", str(tmp_path))
    g = noisy_generator()
    SynthesisProgram(g, eager=False, engine="onnxruntime")
    [model] = [os.path.join(d, f) for d, _, files in os.walk(tmp_path) for f in files if f.endswith(".onnx")]
    with open(model, "r+b") as f:
        f.truncate(os.path.getsize(model) // 2)
    styles = g.style_affine(paddle.randn([1, g.style_dim]))
    image = SynthesisProgram(g, eager=False, engine="onnxruntime")(styles).numpy()
    assert np.abs(image - eager_render(g, styles)).max() < TOLERANCE


def test_bad_engine_and_precision_values_are_one_line_errors(monkeypatch):
    monkeypatch.setenv("PPGAN_ENGINE", "tensorrt")
    with pytest.raises(UserError, match="PPGAN_ENGINE='tensorrt' is not an engine: use one of auto, paddle"):
        engines.requested_engine()
    with pytest.raises(UserError, match="is not a precision"):
        engines.set_engine(precision="fp8")


def test_bf16_is_offered_only_where_the_cpu_has_it(monkeypatch):
    monkeypatch.delenv("PPGAN_PRECISION", raising=False)
    monkeypatch.setattr(engines, "cpu_flags", lambda: {"avx2", "fma"})
    with pytest.raises(UserError) as error:
        engines.check_precision("bf16")
    assert error.value.as_flags().startswith("--precision bf16 needs a CPU with AMX or AVX-512 BF16")
    assert not engines.use_bf16()
    monkeypatch.setattr(engines, "cpu_flags", lambda: {"avx512f", "avx512_bf16", "amx_bf16"})
    engines.check_precision("bf16")
    assert engines.use_bf16() and not engines.use_bf16(allowed=False)  # renders yes, extraction off by default
    monkeypatch.setenv("PPGAN_PRECISION", "fp32")
    assert not engines.use_bf16()


def test_this_cpu_is_offered_bf16_exactly_when_proc_cpuinfo_lists_it():
    with open("/proc/cpuinfo") as f:
        listed = any(flag in line.split() for line in f if line.startswith("flags")
                     for flag in ("amx_bf16", "avx512_bf16"))
    assert engines.cpu_has_bf16() == listed


def test_psnr_and_agreement_against_numpy():
    rng = np.random.RandomState(0)
    reference = rng.uniform(-1, 1, (1, 3, 8, 8)).astype("float32")
    noise = rng.normal(0, 0.01, reference.shape).astype("float32")
    expected = 10 * np.log10(4 / np.mean(noise.astype("float64") ** 2))
    assert abs(fast_synthesis.psnr(reference + noise, reference) - expected) < 1e-6
    assert fast_synthesis.render_agrees(reference + noise, reference, bf16=True)  # about 46 dB
    assert not fast_synthesis.render_agrees(reference + noise, reference, bf16=False)  # max > 1e-3
    assert not fast_synthesis.render_agrees(reference * np.nan, reference, bf16=True)


@pytest.mark.skipif(os.environ.get("PPGAN_SYNTHESIS") == "eager", reason="the tools render eagerly")
@pytest.mark.parametrize("engine", [name for name in INSTALLED if name != "paddle"])
def test_the_engine_flag_reaches_the_renders(engine, small_generator_weights, tmp_path, monkeypatch):
    """``--engine`` of the sample tool makes its renders run on that engine: the ONNX graph is written."""
    from conftest import SMALL_FLAGS

    from ppgan.cli import sample

    home = tmp_path / "home"
    monkeypatch.setenv("PPGAN_HOME", str(home))
    monkeypatch.setenv("PPGAN_ENGINE", "paddle")  # restored after the command sets it
    sample.main(["--weight_path", small_generator_weights, *SMALL_FLAGS, "--n_row", "1", "--n_col", "1",
                 "--output_path", str(tmp_path / "out"), "--engine", engine])
    assert any(f.endswith(".onnx") for _, _, files in os.walk(home) for f in files)
    assert os.listdir(tmp_path / "out")


@pytest.mark.slow
@pytest.mark.parametrize("engine", INSTALLED)
def test_full_size_every_engine_renders_what_eager_paddle_renders(engine):
    """At 1024 px (the released architecture, random weights): full render, partial render and extraction's
    variants within 1e-3 of eager Paddle."""
    check_every_program(noisy_generator(1024, 512, channels=None), engine, batch=1, layers=[0, 21])
