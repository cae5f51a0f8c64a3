"""The CPU inference engines that run the synthesis network, and which one a run uses.

Three engines run the same synthesis on a CPU (docs/speed.md):

- ``paddle``: Paddle Inference with oneDNN, from the program Paddle exports
  (``ppgan.utils.compiled``);
- ``onnxruntime`` and ``openvino``: the ONNX graph written node by node from the
  generator's weights (``ppgan.models.generators.onnx_synthesis``).

``PPGAN_ENGINE`` (set by the commands' ``{engine}`` input) names one, or ``auto``
(the default): the fastest exact engine of this machine, found by a short
calibration the first time a model architecture is rendered and remembered in
``$PPGAN_HOME/engines.json`` (``ppgan.models.generators.fast_synthesis``). An engine
that is not installed, or whose render disagrees with Paddle's, is replaced by
``paddle`` with one line on stderr. On GPUs, and with ``PPGAN_SYNTHESIS=eager``,
eager Paddle runs instead of any engine.

bf16: on CPUs with AMX or AVX-512 BF16 (``cpu_has_bf16``), ``PPGAN_PRECISION=bf16`` or
``auto`` lets an engine compute in bf16 where the caller allows it; elsewhere only
fp32 is offered. OpenVINO would pick bf16 by itself on such CPUs, so fp32 is asked for
explicitly.
"""
import json
import os
import platform
import sys

from .compiled import cpu_threads
from .download import cache_dir
from .errors import UserError
from .fileio import atomic_path

ENGINES = ("paddle", "onnxruntime", "openvino")
ENGINE_CHOICES = ("auto",) + ENGINES
PRECISIONS = ("auto", "fp32", "bf16")
ENGINE_ENV, PRECISION_ENV = "PPGAN_ENGINE", "PPGAN_PRECISION"
PACKAGES = {"onnxruntime": ("onnxruntime", "onnx"), "openvino": ("openvino", "onnx")}
CHOICES_FILE = "engines.json"


def requested_engine():
    """``PPGAN_ENGINE`` (default ``auto``); UserError for a name that is none of ``ENGINE_CHOICES``."""
    name = os.environ.get(ENGINE_ENV, "auto").strip().lower() or "auto"
    if name not in ENGINE_CHOICES:
        raise UserError(f"{ENGINE_ENV}={name!r} is not an engine: use one of {', '.join(ENGINE_CHOICES)}")
    return name


def set_engine(name=None, precision=None):
    """Make this process (and the processes it starts) use engine ``name`` and ``precision`` (None: leave as is)."""
    if name is not None:
        if name not in ENGINE_CHOICES:
            raise UserError(f"{{engine}} {name!r} is not an engine: use one of {', '.join(ENGINE_CHOICES)}")
        os.environ[ENGINE_ENV] = name
    if precision is not None:
        check_precision(precision)
        os.environ[PRECISION_ENV] = precision


def cpu_flags():
    """The CPU feature flags of /proc/cpuinfo (an empty set where there is none)."""
    try:
        with open("/proc/cpuinfo") as f:
            for line in f:
                if line.startswith("flags"):
                    return set(line.split(":", 1)[1].split())
    except OSError:
        pass
    return set()


def cpu_name():
    """The processor's model name (for figures and the calibration's key)."""
    try:
        with open("/proc/cpuinfo") as f:
            for line in f:
                if line.startswith("model name"):
                    return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or platform.machine()


def cpu_has_bf16():
    """Whether the CPU computes in bf16 natively (AMX or AVX-512 BF16)."""
    return bool(cpu_flags() & {"amx_bf16", "avx512_bf16"})


def check_precision(precision):
    """UserError unless ``precision`` is one of ``PRECISIONS`` and, for bf16, the CPU has it."""
    if precision not in PRECISIONS:
        raise UserError(f"{{precision}} {precision!r} is not a precision: use one of {', '.join(PRECISIONS)}")
    if precision == "bf16" and not cpu_has_bf16():
        raise UserError("{precision} bf16 needs a CPU with AMX or AVX-512 BF16, which this one "
                        f"({cpu_name()}) lacks: use {{precision}} fp32")


def requested_precision():
    """``PPGAN_PRECISION`` (default ``auto``), checked by ``check_precision``."""
    precision = os.environ.get(PRECISION_ENV, "auto").strip().lower() or "auto"
    check_precision(precision)
    return precision


def use_bf16(allowed=True):
    """Whether renders compute in bf16: ``PPGAN_PRECISION`` bf16, or auto (the default) on a bf16 CPU when the
    caller ``allowed`` it (extraction decides with ``ppgan.styleclip.extract.precision``)."""
    precision = requested_precision()
    if precision == "bf16":
        return True
    return precision == "auto" and allowed and cpu_has_bf16()


def missing_packages(engine):
    """Names of the packages ``engine`` needs that cannot be imported (none for ``paddle``)."""
    import importlib.util

    return [name for name in PACKAGES.get(engine, ()) if importlib.util.find_spec(name) is None]


def versions():
    """{engine: version} of the installed engines (the calibration's key)."""
    import importlib.metadata

    found = {}
    for engine, package in (("paddle", "paddlepaddle"), ("onnxruntime", "onnxruntime"), ("openvino", "openvino")):
        try:
            found[engine] = importlib.metadata.version(package)
        except importlib.metadata.PackageNotFoundError:
            if engine == "paddle":  # a GPU or a source build has another distribution name
                import paddle

                found[engine] = paddle.__version__
    return found


_said = set()


def say(message):
    """One line on stderr about the engines, once per process."""
    if message not in _said:
        _said.add(message)
        print(f"note: {message}", file=sys.stderr)


def _choices_path():
    return os.path.join(cache_dir(), CHOICES_FILE)


def remembered(key):
    """The entry (a dict) recorded under ``key`` (a string) in ``$PPGAN_HOME/engines.json``, or None."""
    try:
        with open(_choices_path()) as f:
            entry = json.load(f).get(key)
    except (OSError, ValueError, AttributeError):
        return None
    return entry if isinstance(entry, dict) else None


def remember(key, entry):
    """Record ``entry`` (a JSON-able dict) under ``key``; a file that cannot be written only costs a line."""
    path = _choices_path()
    try:
        with open(path) as f:
            entries = json.load(f)
        entries = entries if isinstance(entries, dict) else {}
    except (OSError, ValueError):
        entries = {}
    entries[key] = entry
    try:
        with atomic_path(path) as tmp, open(tmp, "w") as f:
            json.dump(entries, f, indent=1, sort_keys=True)
    except (OSError, UserError) as exc:  # no reason to stop the run
        say(f"could not remember this measurement in {path} ({exc}): it is measured again next run")


def remembered_choice(key):
    """The engine calibration chose for ``key`` (a string), or None."""
    engine = (remembered(key) or {}).get("engine")
    return engine if engine in ENGINES else None


def remember_choice(key, engine, seconds):
    """Record that calibration chose ``engine`` for ``key`` with the ``seconds`` per render it measured."""
    remember(key, {"engine": engine, "seconds": seconds})


def machine_key():
    """What a calibration depends on besides the model: processor, threads and the engines' versions."""
    return json.dumps([cpu_name(), sorted(cpu_flags() & {"avx2", "avx512f", "avx512_bf16", "amx_bf16"}),
                       cpu_threads(), versions()])


class OnnxRuntimeSession:
    """An ONNX model run by ONNX Runtime on ``cpu_threads()`` threads: ``run(feeds) -> [numpy outputs]``.

    ``fixed`` inputs (``set_inputs``) are passed again with every run.
    """

    def __init__(self, model_path, bf16=False):
        import onnxruntime

        options = onnxruntime.SessionOptions()
        options.intra_op_num_threads = cpu_threads()
        options.inter_op_num_threads = 1
        options.log_severity_level = 3  # its warnings are about graph rewrites, not the user's work
        self._session = onnxruntime.InferenceSession(model_path, options, providers=["CPUExecutionProvider"])
        self._fixed = {}
        self.bf16 = False  # ONNX Runtime's CPU provider has no bf16 convolution

    def set_inputs(self, feeds):
        self._fixed.update(feeds)

    def run(self, feeds):
        return self._session.run(None, {**self._fixed, **feeds})


class OpenVinoSession:
    """An ONNX model compiled by OpenVINO for the CPU: ``run(feeds) -> [numpy outputs]``.

    fp32 unless ``bf16`` (OpenVINO would choose bf16 by itself on CPUs that have it).
    Inputs set with ``set_inputs`` stay in the request for every later run.
    """

    def __init__(self, model_path, bf16=False):
        import openvino

        core = openvino.Core()
        config = {"INFERENCE_NUM_THREADS": cpu_threads(), "PERFORMANCE_HINT": "LATENCY",
                  "INFERENCE_PRECISION_HINT": "bf16" if bf16 else "f32"}
        self._compiled = core.compile_model(core.read_model(model_path), "CPU", config)
        self._request = self._compiled.create_infer_request()
        self._fixed = {}  # the arrays behind the tensors set once (OpenVINO shares their memory)
        self.bf16 = bf16

    def set_inputs(self, feeds):
        import openvino

        self._fixed.update(feeds)
        for name, value in feeds.items():
            self._request.set_tensor(name, openvino.Tensor(value))

    def run(self, feeds):
        import openvino

        for name, value in feeds.items():
            self._request.set_tensor(name, openvino.Tensor(value))
        self._request.infer()
        return [self._request.get_output_tensor(i).data.copy() for i in range(len(self._compiled.outputs))]


SESSIONS = {"onnxruntime": OnnxRuntimeSession, "openvino": OpenVinoSession}
