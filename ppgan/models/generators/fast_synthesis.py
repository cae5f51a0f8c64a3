"""The synthesis network run by the fastest exact CPU engine: the fast CPU path.

Paddle's eager CPU kernels run StyleGAN2's convolutions at 15-35 GFLOP/s; the same
graph run by an inference engine reaches 100-150 GFLOP/s (``benchmark/bench_generator.py``).
``SynthesisProgram`` runs ``generator.synthesis_partial(start..end)`` with the saved
noise through one of ``ppgan.utils.engines.ENGINES``: Paddle Inference with oneDNN,
from the program Paddle exports, or ONNX Runtime / OpenVINO, from the ONNX graph
``onnx_synthesis`` writes. Either is made once per (architecture, weights, start
layer, source code) and cached under ``$PPGAN_HOME/compiled/`` (``ppgan.utils.compiled``).
Which engine runs is ``engine_for(generator)``: the one asked for, or the fastest
exact one, found by ``calibrate`` once per machine and architecture (docs/speed.md).
On a GPU, or with ``PPGAN_SYNTHESIS=eager``, the eager generator runs instead; every
path gives the same image up to float rounding (tested).

``VariantsProgram`` renders variants of one S code that differ in a single style
layer (direction extraction): the later layers' styles are folded into their
weights once per S code, so they run as plain convolutions, without the
per-pixel style and demodulation passes (``benchmark/bench_generator.py``).
"""
import inspect
import os
import sys
import time

import numpy as np
import paddle
import paddle.nn as nn

from ...utils import compiled, engines
from ...utils.errors import UserError
from . import onnx_synthesis


class _SynthesisTail(nn.Layer):
    """Layers [start, end) of a generator as a layer of their own, for export."""

    def __init__(self, generator, start):
        super().__init__()
        self.generator = generator
        self.start = start

    def forward(self, state, styles):
        x, skip = (state + [None, None])[:2]
        full_styles = [None] * self.start + list(styles)
        _, image = self.generator.synthesis_partial(full_styles, self.start, self.generator.num_style_layers,
                                                    x=x, skip=skip)
        return image


def _program_sources(generator):
    """Source code the exported graph is traced from: our modules defining the generator's layers, and this one."""
    modules = {type(layer).__module__ for layer in generator.sublayers(include_self=True)} | {__name__}
    modules = {name for name in modules if name.split(".")[0] == __name__.split(".")[0]}
    return "".join(inspect.getsource(sys.modules[name]) for name in sorted(modules))


class _VariantsTail(nn.Layer):
    """Layers [start, end): layer ``start`` modulated per sample, the later ones with folded weights, for export."""

    def __init__(self, generator, start):
        super().__init__()
        self.generator = generator
        self.start = start

    def forward(self, state, style, weights):
        x, skip = (state + [None, None])[:2]
        return _render_variants(self.generator, self.start, style, weights, x, skip)


def _render_variants(generator, layer, style, weights, x=None, skip=None):
    """Images [B, 3, H, W] of ``style`` [B, C] in ``layer``, the later layers run with their folded ``weights``."""
    folded = [None] * (layer + 1) + list(weights)
    _, image = generator.synthesis_partial([None] * layer + [style], layer, generator.num_style_layers, x=x,
                                           skip=skip, folded_weights=folded)
    return image


def _fingerprint(generator, start, kind):
    """Cache key of an exported program: kind, architecture, start layer, traced source, weights, Paddle's version."""
    if kind.endswith("onnx"):
        kind += inspect.getsource(onnx_synthesis)
    return compiled.fingerprint(generator.state_dict(), kind, type(generator).__name__, generator.size,
                                generator.style_dim, sorted(generator.channels.items()), start,
                                _program_sources(generator),
                                *([] if generator.conv_clamp is None else [("conv_clamp", generator.conv_clamp)]))


def _check_start(generator, start):
    if start == 1 or (start > 0 and generator.is_torgb(start)):
        raise ValueError(f"a synthesis program starts at 0 or at a conv layer >= 2, not {start}")


def _state_specs(generator, start):
    """InputSpecs of the state (x, skip) entering layer ``start``; none for layer 0."""
    if start == 0:
        return []
    x_shape, skip_shape = generator.state_shapes(start)
    return [paddle.static.InputSpec([None] + x_shape, "float32", name="x"),
            paddle.static.InputSpec([None] + skip_shape, "float32", name="skip")]


def export_synthesis(generator, path_prefix, start=0):
    """Save style layers [start, end) of ``generator`` as a Paddle Inference model at ``path_prefix``.

    Inputs: ``x`` and ``skip`` (the state entering ``start``, when start > 0) and
    ``style_{i}`` [B, C_i] for every layer i >= start; output: image [B, 3, size, size].
    """
    spec_styles = [paddle.static.InputSpec([None, c], "float32", name=f"style_{i}")
                   for i, c in enumerate(generator.channels_lst) if i >= start]
    compiled.export_layer(_SynthesisTail(generator, start), [_state_specs(generator, start), spec_styles], path_prefix)


def export_variants(generator, path_prefix, start, weights):
    """Save layers [start, end) of ``generator`` with folded later layers as a Paddle Inference model.

    Inputs: ``x`` and ``skip`` (when start > 0), ``style`` [B, C_start] and
    ``weight_{i}`` for every layer i > start, shaped like ``weights`` (the tail of
    ``fold_styles``); output: image [B, 3, size, size].
    """
    spec_weights = [paddle.static.InputSpec(w.shape, "float32", name=f"weight_{i}")
                    for i, w in enumerate(weights, start + 1)]
    spec_style = paddle.static.InputSpec([None, generator.channels_lst[start]], "float32", name="style")
    compiled.export_layer(_VariantsTail(generator, start), [_state_specs(generator, start), spec_style, spec_weights],
                          path_prefix)


def _read_onnx(directory, name):
    """Parse the saved ONNX model ``name`` (``compiled.cached_export``'s check that it was written whole)."""
    import onnx

    onnx.load(os.path.join(directory, name + ".onnx"))


class _PaddleSession:
    """A Paddle Inference predictor behind the engines' session interface (``set_inputs``, ``run``)."""

    def __init__(self, directory, name, bf16):
        self._predictor = compiled.create_cpu_predictor(directory, name, bf16)
        self.bf16 = bf16

    def set_inputs(self, feeds):
        compiled.feed(self._predictor, feeds)

    def run(self, feeds):
        return compiled.run_predictor(self._predictor, feeds)


# Engines given the synthesis for one sample, its styles folded into the weights in the graph: OpenVINO fuses a
# plain convolution with what follows it, not the style's scaling before it (1.25 s against 1.46 s batched at
# 1024 px on an AMD EPYC); ONNX Runtime keeps constant weights prepacked (1.34 s batched, 1.52 s per sample).
PER_SAMPLE_ENGINES = ("openvino",)


def _session(engine, kind, generator, start, export_paddle, onnx_graph, bf16):
    """A session of ``engine`` running the program ``kind`` of ``generator`` from layer ``start``, exported
    (and cached) by ``export_paddle(path_prefix)`` for Paddle or from the model ``onnx_graph(per_sample)``."""
    if engine == "paddle":
        directory = compiled.cached_export(_fingerprint(generator, start, kind), kind, export_paddle)
        return _PaddleSession(directory, kind, bf16)
    per_sample = kind == "synthesis" and engine in PER_SAMPLE_ENGINES

    def export(prefix):
        import onnx

        onnx.save(onnx_graph(per_sample), prefix + ".onnx")

    key = _fingerprint(generator, start, kind + ("-sample" if per_sample else "") + "-onnx")
    directory = compiled.cached_export(key, kind, export, _read_onnx)
    session = engines.SESSIONS[engine](os.path.join(directory, kind + ".onnx"), bf16=bf16)
    return _OneSampleAtATime(session) if per_sample else session


class _OneSampleAtATime:
    """A session of a one-sample graph run on each sample of a batch in turn (every input's axis 0 is the batch)."""

    def __init__(self, session):
        self._session, self.bf16 = session, session.bf16

    def run(self, feeds):
        batch = len(next(iter(feeds.values())))
        outputs = [self._session.run({name: value[i:i + 1] for name, value in feeds.items()})
                   for i in range(batch)]
        return [np.concatenate(parts) for parts in zip(*outputs)]


def _numpy_feeds(feeds):
    return {name: np.ascontiguousarray(value.numpy() if isinstance(value, paddle.Tensor) else value, dtype="float32")
            for name, value in feeds.items()}


def _open_session(engine, bf16, make):
    """``make(engine, bf16)``, or Paddle's session with one line when ``engine`` cannot run it (not Paddle's errors)."""
    if engine != "paddle":
        try:
            return engine, make(engine, bf16 and engine == "openvino")
        except UserError:
            raise
        except Exception as exc:  # the engine's own error for a graph it cannot load
            engines.say(f"{engine} could not load the synthesis ({_first_line(exc)}): rendering with Paddle Inference")
    return "paddle", make("paddle", bf16)


def _first_line(exc):
    text = str(exc).strip()
    return text.splitlines()[0][:200] if text else type(exc).__name__


class SynthesisProgram:
    """Callable running style layers [start, end) of ``generator`` with its saved noise.

    ``program(styles, x=None, skip=None) -> image`` [B, 3, size, size] (paddle
    Tensor), where ``styles`` is the full S list (entries before ``start`` are
    not read) and (x, skip) the state entering layer ``start`` (see
    ``StyleGANv2Generator.synthesis_partial``). ``start`` must be 0 or a
    non-toRGB layer >= 2. ``engine``: one of ``engines.ENGINES`` (default
    ``engine_for(generator)``); ``bf16``: compute in bf16 (default: where the CPU has
    it, ``engines.use_bf16``). ``self.engine`` says which engine runs (None: eager).
    """

    def __init__(self, generator, start=0, eager=None, engine=None, bf16=None):
        _check_start(generator, start)
        self.generator, self.start = generator, start
        self.eager = compiled.use_eager_programs() if eager is None else eager
        self.engine, self.bf16 = None, False
        if self.eager:
            return
        bf16 = engines.use_bf16() if bf16 is None else bf16
        self.engine, self._session = _open_session(
            engine or engine_for(generator, "synthesis"), bf16,
            lambda name, precision: _session(name, "synthesis", generator, start,
                                             lambda prefix: export_synthesis(generator, prefix, start),
                                             lambda per_sample: onnx_synthesis.synthesis_graph(generator, start, per_sample), precision))
        self.bf16 = self._session.bf16

    def __call__(self, styles, x=None, skip=None):
        if self.eager:
            with paddle.no_grad():
                _, image = self.generator.synthesis_partial(styles, self.start, self.generator.num_style_layers,
                                                            x=x, skip=skip)
            return image
        feeds = {f"style_{i}": styles[i] for i in range(self.start, len(styles))}
        if self.start > 0:
            feeds["x"], feeds["skip"] = x, skip
        return paddle.to_tensor(self._session.run(_numpy_feeds(feeds))[0])


class VariantsProgram:
    """Callable rendering variants of one S code that differ only in style layer ``layer``.

    ``styles``: the S code, list of [1, C_i] (entries before ``layer`` are not
    read). The styles after ``layer`` are folded into their layers' weights once,
    here. ``program(style, x=None, skip=None) -> image`` [B, 3, size, size] (paddle
    Tensor) for ``style`` [B, C_layer], the variants' styles of layer ``layer``, and
    (x, skip) [B, ...] the state entering it (see ``synthesis_partial``).

    Each instance has a session of its own, fed the folded weights once, here: they
    stay in its inputs (and Paddle's oneDNN convolutions keep their first weights in
    any case, so a session must never get other weights). ``engine`` as for
    ``SynthesisProgram``; ``bf16`` defaults to off unless ``PPGAN_PRECISION=bf16``.
    """

    def __init__(self, generator, layer, styles, eager=None, engine=None, bf16=None):
        _check_start(generator, layer)
        self.generator, self.layer = generator, layer
        self.eager = compiled.use_eager_programs() if eager is None else eager
        self.engine, self.bf16 = None, False
        with paddle.no_grad():
            weights = generator.fold_styles(styles, layer + 1)[layer + 1:]
        if self.eager:
            self._weights = weights
            return
        bf16 = engines.use_bf16(allowed=False) if bf16 is None else bf16
        self.engine, self._session = _open_session(
            engine or engine_for(generator, "variants"), bf16,
            lambda name, precision: _session(
                name, "variants", generator, layer, lambda prefix: export_variants(generator, prefix, layer, weights),
                lambda per_sample: onnx_synthesis.variants_graph(generator, layer, [w.shape for w in weights]),
                precision))
        self.bf16 = self._session.bf16
        self._session.set_inputs(_numpy_feeds({f"weight_{i}": w for i, w in enumerate(weights, layer + 1)}))

    def __call__(self, style, x=None, skip=None):
        if self.eager:
            with paddle.no_grad():
                return _render_variants(self.generator, self.layer, style, self._weights, x, skip)
        feeds = {"style": style}
        if self.layer > 0:
            feeds["x"], feeds["skip"] = x, skip
        return paddle.to_tensor(self._session.run(_numpy_feeds(feeds))[0])


def _calibration_key(generator, kind):
    return engines.machine_key() + repr([kind, generator.size, generator.style_dim, generator.channels_lst])


def engine_for(generator, kind="synthesis"):
    """The engine that runs ``generator``'s programs of ``kind`` ("synthesis": ``SynthesisProgram``, "variants":
    ``VariantsProgram``): ``PPGAN_ENGINE`` if it names one and it is installed (else Paddle, with one line),
    otherwise the one ``calibrate`` chose for this machine, architecture and kind."""
    requested = engines.requested_engine()
    if requested != "auto":
        missing = engines.missing_packages(requested)
        if missing:
            engines.say(f"{requested} is not installed (pip install {' '.join(missing)}): "
                        "rendering with Paddle Inference")
            return "paddle"
        return requested
    key = _calibration_key(generator, kind)
    chosen = engines.remembered_choice(key)
    if chosen is None or engines.missing_packages(chosen):
        chosen = calibrate(generator, kind, key)
    return chosen


def render_agrees(image, reference, bf16):
    """Whether an engine's ``image`` matches Paddle's fp32 ``reference`` (numpy, [-1, 1] scale): within
    ``EXACT_TOLERANCE`` max abs in fp32, ``BF16_MIN_PSNR`` dB in bf16."""
    if image.shape != reference.shape or not np.isfinite(image).all():
        return False
    if not bf16:
        return float(np.abs(image - reference).max()) <= EXACT_TOLERANCE
    return psnr(image, reference) >= BF16_MIN_PSNR


def psnr(image, reference):
    """PSNR in dB of ``image`` against ``reference``, both on the [-1, 1] scale (peak-to-peak 2)."""
    mse = float(np.mean((image.astype("float64") - reference) ** 2))
    return float("inf") if mse == 0 else 10 * np.log10(4.0 / mse)


EXACT_TOLERANCE = 1e-3
BF16_MIN_PSNR = 35.0


def _calibration_render(generator, kind, engine, bf16):
    """(program, callable rendering the calibration's batch of one as numpy) for a program of ``kind``:
    a full render, or extraction's variants of layer 0 (every later layer folded)."""
    rng = np.random.RandomState(0)
    with paddle.no_grad():
        styles = generator.style_affine(paddle.to_tensor(rng.randn(1, generator.style_dim).astype("float32")))
    if kind == "synthesis":
        program = SynthesisProgram(generator, eager=False, engine=engine, bf16=bf16)
        return program, lambda: program(styles).numpy()
    program = VariantsProgram(generator, 0, styles, eager=False, engine=engine, bf16=bf16)
    return program, lambda: program(styles[0]).numpy()


def calibrate(generator, kind="synthesis", key=None):
    """Time a batch-1 program of ``kind`` (see ``engine_for``) on every installed engine and return the fastest
    whose image agrees with Paddle's (``render_agrees``); remembered under ``key`` in ``$PPGAN_HOME``
    (``engines.remember_choice``). An engine that fails to load or disagrees is left out, with one line.
    """
    candidates = [name for name in engines.ENGINES if not engines.missing_packages(name)]
    if candidates == ["paddle"]:
        return "paddle"
    what = "renders" if kind == "synthesis" else "extraction's renders"
    engines.say(f"timing the engines for {what} of this {generator.size} px architecture on this CPU "
                f"({', '.join(candidates)}; once, then remembered)")
    bf16 = engines.use_bf16(allowed=kind == "synthesis")
    reference = _calibration_render(generator, kind, "paddle", False)[1]() if bf16 else None
    seconds = {}
    for name in candidates:  # Paddle first: without bf16 its render is the reference
        program, render = _calibration_render(generator, kind, name, bf16)
        if program.engine != name:
            continue  # could not load: said by _open_session
        image = render()  # also the warm-up run
        reference = image if reference is None else reference
        if not render_agrees(image, reference, program.bf16):
            engines.say(f"{name}'s render differs from Paddle's (max {np.abs(image - reference).max():.2g}): not used")
            continue
        start = time.perf_counter()
        render()
        seconds[name] = time.perf_counter() - start
    chosen = min(seconds, key=seconds.get)
    engines.say(f"{what} run on {chosen} (" + ", ".join(f"{name} {t:.2f} s" for name, t in seconds.items())
                + " each)")
    if key is not None:
        engines.remember_choice(key, chosen, seconds)
    return chosen
