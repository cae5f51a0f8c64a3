"""The synthesis network as a Paddle Inference program: the fast CPU path.

Paddle's eager CPU kernels run StyleGAN2's convolutions at 15-35 GFLOP/s; the
same graph run by Paddle Inference with oneDNN reaches 100-150 GFLOP/s here
(``benchmark/bench_generator.py``). ``SynthesisProgram`` exports
``generator.synthesis_partial(start..end)`` with fixed noise once per
(architecture, weights, start layer, source code), caches the files under
``$PPGAN_HOME/compiled/`` (``ppgan.utils.compiled``), and runs them. On a GPU, or with
``PPGAN_SYNTHESIS=eager``, it calls the eager generator instead; both give the
same image up to float rounding (tested).

``VariantsProgram`` renders variants of one S code that differ in a single style
layer (direction extraction): the later layers' styles are folded into their
weights once per S code, so they run as plain convolutions, without the
per-pixel style and demodulation passes (``benchmark/bench_generator.py``).
"""
import inspect
import sys

import paddle
import paddle.nn as nn

from ...utils import compiled


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


class SynthesisProgram:
    """Callable running style layers [start, end) of ``generator`` with its saved noise.

    ``program(styles, x=None, skip=None) -> image`` [B, 3, size, size] (paddle
    Tensor), where ``styles`` is the full S list (entries before ``start`` are
    not read) and (x, skip) the state entering layer ``start`` (see
    ``StyleGANv2Generator.synthesis_partial``). ``start`` must be 0 or a
    non-toRGB layer >= 2.
    """

    def __init__(self, generator, start=0, eager=None):
        _check_start(generator, start)
        self.generator, self.start = generator, start
        self.eager = compiled.use_eager_programs() if eager is None else eager
        self._predictor = None if self.eager else self._load_predictor()

    def _load_predictor(self):
        directory = compiled.cached_export(_fingerprint(self.generator, self.start, "synthesis"), "synthesis",
                                           lambda prefix: export_synthesis(self.generator, prefix, self.start))
        return compiled.create_cpu_predictor(directory, "synthesis")

    def __call__(self, styles, x=None, skip=None):
        if self.eager:
            with paddle.no_grad():
                _, image = self.generator.synthesis_partial(styles, self.start, self.generator.num_style_layers,
                                                            x=x, skip=skip)
            return image
        feeds = {f"style_{i}": styles[i] for i in range(self.start, len(styles))}
        if self.start > 0:
            feeds["x"], feeds["skip"] = x, skip
        return paddle.to_tensor(compiled.run_predictor(self._predictor, feeds)[0])


class VariantsProgram:
    """Callable rendering variants of one S code that differ only in style layer ``layer``.

    ``styles``: the S code, list of [1, C_i] (entries before ``layer`` are not
    read). The styles after ``layer`` are folded into their layers' weights once,
    here. ``program(style, x=None, skip=None) -> image`` [B, 3, size, size] (paddle
    Tensor) for ``style`` [B, C_layer], the variants' styles of layer ``layer``, and
    (x, skip) [B, ...] the state entering it (see ``synthesis_partial``).

    With Paddle Inference each instance has a predictor of its own, fed the folded
    weights once, here: they stay in its inputs (and its oneDNN convolutions keep
    their first weights in any case, so a predictor must never get other weights).
    """

    def __init__(self, generator, layer, styles, eager=None):
        _check_start(generator, layer)
        self.generator, self.layer = generator, layer
        self.eager = compiled.use_eager_programs() if eager is None else eager
        with paddle.no_grad():
            weights = generator.fold_styles(styles, layer + 1)[layer + 1:]
        if self.eager:
            self._weights = weights
            return
        directory = compiled.cached_export(_fingerprint(generator, layer, "variants"), "variants",
                                           lambda prefix: export_variants(generator, prefix, layer, weights))
        self._predictor = compiled.create_cpu_predictor(directory, "variants")
        compiled.feed(self._predictor, {f"weight_{i}": w for i, w in enumerate(weights, layer + 1)})

    def __call__(self, style, x=None, skip=None):
        if self.eager:
            with paddle.no_grad():
                return _render_variants(self.generator, self.layer, style, self._weights, x, skip)
        feeds = {"style": style}
        if self.layer > 0:
            feeds["x"], feeds["skip"] = x, skip
        return paddle.to_tensor(compiled.run_predictor(self._predictor, feeds)[0])
