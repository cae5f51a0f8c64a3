"""The synthesis network as a Paddle Inference program: the fast CPU path.

Paddle's eager CPU kernels run StyleGAN2's convolutions at 15-35 GFLOP/s; the
same graph run by Paddle Inference with oneDNN reaches 100-150 GFLOP/s here
(``benchmark/bench_generator.py``). ``SynthesisProgram`` exports
``generator.synthesis_partial(start..end)`` with fixed noise once per
(architecture, weights, start layer), caches the files under
``$PPGAN_HOME/compiled/``, and runs them. On a GPU, or with
``PPGAN_SYNTHESIS=eager``, it calls the eager generator instead; both give the
same image up to float rounding (tested).
"""
import hashlib
import inspect
import os
import shutil
import sys
import tempfile

import numpy as np
import paddle
import paddle.nn as nn

from ...utils.download import cache_dir


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
    """md5 of what an exported program depends on: architecture, weights, start layer, code and Paddle version."""
    digest = hashlib.md5()
    digest.update(repr((type(generator).__name__, generator.size, generator.style_dim, sorted(generator.channels.items()),
                        start, paddle.__version__)).encode())
    digest.update(_program_sources(generator).encode())
    for name, value in generator.state_dict().items():
        digest.update(name.encode())
        digest.update(np.ascontiguousarray(value.numpy()).tobytes())
    return digest.hexdigest()


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
    tail = _SynthesisTail(generator, start)
    tail.eval()
    static = paddle.jit.to_static(tail, input_spec=[spec_state, spec_styles], full_graph=True)
    paddle.jit.save(static, path_prefix)


def use_eager_synthesis():
    """Eager mode on GPUs and when ``PPGAN_SYNTHESIS=eager``; Paddle Inference (oneDNN) on CPUs."""
    return os.environ.get("PPGAN_SYNTHESIS") == "eager" or "gpu" in paddle.get_device()


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
        self.eager = use_eager_synthesis() if eager is None else eager
        self._predictor = None if self.eager else self._load_predictor()

    def _model_dir(self):
        root = os.path.join(cache_dir(), "compiled")
        directory = os.path.join(root, _fingerprint(self.generator, self.start))
        if not os.path.isdir(directory):
            os.makedirs(root, exist_ok=True)
            tmp = tempfile.mkdtemp(prefix=".export.", dir=root)
            try:
                export_synthesis(self.generator, os.path.join(tmp, "synthesis"), self.start)
                os.replace(tmp, directory)
            except OSError:
                if not os.path.isdir(directory):
                    raise
            finally:
                shutil.rmtree(tmp, ignore_errors=True)
        return directory

    def _load_predictor(self):
        from paddle import inference

        directory = self._model_dir()
        model_file = next(os.path.join(directory, f) for f in os.listdir(directory)
                          if f.startswith("synthesis.") and f.endswith((".json", ".pdmodel")))
        config = inference.Config(model_file, os.path.join(directory, "synthesis.pdiparams"))
        config.disable_gpu()
        config.enable_onednn()
        config.set_cpu_math_library_num_threads(int(os.environ.get("OMP_NUM_THREADS", "1")))
        config.disable_glog_info()
        return inference.create_predictor(config)

    def __call__(self, styles, x=None, skip=None):
        if self.eager:
            with paddle.no_grad():
                _, image = self.generator.synthesis_partial(styles, self.start, self.generator.num_style_layers,
                                                            x=x, skip=skip)
            return image
        feeds = {}
        if self.start > 0:
            feeds["x"], feeds["skip"] = x, skip
        for i in range(self.start, len(styles)):
            feeds[f"style_{i}"] = styles[i]
        predictor = self._predictor
        for name in predictor.get_input_names():
            value = feeds[name]
            predictor.get_input_handle(name).copy_from_cpu(
                np.ascontiguousarray(value.numpy() if isinstance(value, paddle.Tensor) else value, dtype="float32"))
        predictor.run()
        return paddle.to_tensor(predictor.get_output_handle(predictor.get_output_names()[0]).copy_to_cpu())
