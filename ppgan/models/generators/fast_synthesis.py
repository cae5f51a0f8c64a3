"""The synthesis network as a Paddle Inference program: the fast CPU path.

Paddle's eager CPU kernels run StyleGAN2's convolutions at 15-35 GFLOP/s; the
same graph run by Paddle Inference with oneDNN reaches 100-150 GFLOP/s here
(``benchmark/bench_generator.py``). ``SynthesisProgram`` exports
``generator.synthesis_partial(start..end)`` with fixed noise once per
(architecture, weights, start layer, source code), caches the files under
``$PPGAN_HOME/compiled/`` (``ppgan.utils.compiled``), and runs them. On a GPU, or with
``PPGAN_SYNTHESIS=eager``, it calls the eager generator instead; both give the
same image up to float rounding (tested).
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


def _fingerprint(generator, start):
    """Cache key of an exported program: architecture, start layer, traced source, weights, Paddle's version."""
    return compiled.fingerprint(generator.state_dict(), type(generator).__name__, generator.size, generator.style_dim,
                                sorted(generator.channels.items()), start, _program_sources(generator))


def export_synthesis(generator, path_prefix, start=0):
    """Save style layers [start, end) of ``generator`` as a Paddle Inference model at ``path_prefix``.

    Inputs: ``x`` and ``skip`` (the state entering ``start``, when start > 0) and
    ``style_{i}`` [B, C_i] for every layer i >= start; output: image [B, 3, size, size].
    """
    spec_styles = [paddle.static.InputSpec([None, c], "float32", name=f"style_{i}")
                   for i, c in enumerate(generator.channels_lst) if i >= start]
    spec_state = []
    if start > 0:
        x_shape, skip_shape = generator.state_shapes(start)
        spec_state = [paddle.static.InputSpec([None] + x_shape, "float32", name="x"),
                      paddle.static.InputSpec([None] + skip_shape, "float32", name="skip")]
    compiled.export_layer(_SynthesisTail(generator, start), [spec_state, spec_styles], path_prefix)


class SynthesisProgram:
    """Callable running style layers [start, end) of ``generator`` with its saved noise.

    ``program(styles, x=None, skip=None) -> image`` [B, 3, size, size] (paddle
    Tensor), where ``styles`` is the full S list (entries before ``start`` are
    not read) and (x, skip) the state entering layer ``start`` (see
    ``StyleGANv2Generator.synthesis_partial``). ``start`` must be 0 or a
    non-toRGB layer >= 2.
    """

    def __init__(self, generator, start=0, eager=None):
        if start == 1 or (start > 0 and generator.is_torgb(start)):
            raise ValueError(f"a synthesis program starts at 0 or at a conv layer >= 2, not {start}")
        self.generator, self.start = generator, start
        self.eager = compiled.use_eager_programs() if eager is None else eager
        self._predictor = None if self.eager else self._load_predictor()

    def _load_predictor(self):
        directory = compiled.cached_export(_fingerprint(self.generator, self.start), "synthesis",
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
