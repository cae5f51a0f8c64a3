"""Process-wide CPU runtime settings, Paddle's start-up noise, and device selection.

Nothing here runs at import: ``import ppgan`` and its submodules change nothing in the
process. Entry points (tools, CLIs, the app, benchmarks) call ``configure_cpu_runtime()``
first thing, before anything imports ``paddle``; library users who want the same speed
call it the same way::

    import ppgan
    ppgan.configure_cpu_runtime()
    import paddle

It has to come first: Paddle sets ``OMP_NUM_THREADS=1`` when it is unset, and its MKL
reads ``MKL_DEBUG_CPU_TYPE`` only when it loads.
"""
import contextlib
import ctypes
import os
import sys
import threading
import warnings

_M_TRIM_THRESHOLD = -1
_M_MMAP_MAX = -4

# Lines Paddle writes on every run that say nothing about the user's work: the thread-count
# warning of ``import paddle`` when OMP_NUM_THREADS > 1 (we set it on purpose), and the
# glog warning of ``paddle.jit.to_static`` (Paddle 3.x) for every op with an ``out`` argument.
PADDLE_NOISE = (
    "WARNING: OMP_NUM_THREADS set to ",
    "PLEASE USE OMP_NUM_THREADS WISELY.",
    "Paddle static graph(PIR) not support input out tensor",
)
# Python warnings ``import paddle`` emits: compiling C++ extensions, which we never do.
PADDLE_WARNINGS = ("No ccache found",)

_configured = False


def _is_amd_cpu():
    try:
        with open("/proc/cpuinfo") as f:
            return "AuthenticAMD" in f.read(4096)
    except OSError:
        return False


def configure_cpu_runtime(keep_freed_memory=True, quiet_paddle=True):
    """Use every core, MKL's AVX2 kernels on AMD, optionally keep freed memory mapped; quiet Paddle.

    Call once, before ``paddle`` is imported (later calls do nothing).

    - ``OMP_NUM_THREADS`` defaults to the number of usable cores (a user value wins).
    - On AMD CPUs, Paddle's MKL 2019 picks a generic SSE path (4-5x slower GEMM)
      unless ``MKL_DEBUG_CPU_TYPE=5`` asks for its AVX2 kernels (a user value wins).
    - ``keep_freed_memory``: glibc returns every large freed block to the kernel, so
      each big tensor costs page faults again (a 512 MB elementwise op: 0.4 s instead
      of 0.06 s). Serving all allocations from the heap and never trimming it avoids
      that; the price is that the process keeps its peak memory until it exits (right
      for a tool run, wrong for a long-lived server). ``PPGAN_KEEP_MALLOC=1`` in the
      environment leaves glibc's defaults alone whatever the argument.
    - ``quiet_paddle``: the ``PADDLE_NOISE`` lines and ``PADDLE_WARNINGS`` of the coming
      ``import paddle`` are dropped; everything else it writes still shows.
    """
    global _configured
    if _configured:
        return
    _configured = True
    if "paddle" in sys.modules:
        warnings.warn("configure_cpu_runtime() called after paddle was imported: Paddle keeps the thread "
                      "count and MKL kernels it started with", RuntimeWarning, stacklevel=2)
    if "OMP_NUM_THREADS" not in os.environ:
        os.environ["OMP_NUM_THREADS"] = str(len(os.sched_getaffinity(0)))
    if _is_amd_cpu():
        os.environ.setdefault("MKL_DEBUG_CPU_TYPE", "5")
    if keep_freed_memory and sys.platform.startswith("linux") and os.environ.get("PPGAN_KEEP_MALLOC") != "1":
        try:
            libc = ctypes.CDLL("libc.so.6")
            libc.mallopt(_M_MMAP_MAX, 0)
            libc.mallopt(_M_TRIM_THRESHOLD, 2**31 - 1)
        except (OSError, AttributeError):
            pass
    if quiet_paddle:
        on_first_import("paddle", _import_quietly)


def on_first_import(name, wrap):
    """Hand the coming first ``import name`` to ``wrap(run)``, which must call ``run()`` (executing the module).

    Nothing happens if ``name`` is imported already, or if ``wrap`` waits for it already. ``wrap``
    runs where the import happens (e.g. to filter its output, or to act right after it).
    """
    if name in sys.modules or any(isinstance(finder, _FirstImport) and (finder.name, finder.wrap) == (name, wrap)
                                  for finder in sys.meta_path):
        return
    sys.meta_path.insert(0, _FirstImport(name, wrap))


class _FirstImport:
    """Meta path finder of ``on_first_import``: wraps the loading of the first import of ``name``, then leaves."""

    def __init__(self, name, wrap):
        self.name, self.wrap = name, wrap

    def find_spec(self, fullname, path=None, target=None):
        if fullname != self.name:
            return None
        sys.meta_path.remove(self)
        import importlib.util

        spec = importlib.util.find_spec(fullname)
        if spec is None or spec.loader is None:
            return spec
        run_module = spec.loader.exec_module
        spec.loader.exec_module = lambda module: self.wrap(lambda: run_module(module))
        return spec


def _import_quietly(run):
    with paddle_noise_filtered():
        run()


@contextlib.contextmanager
def paddle_noise_filtered():
    """Inside the block, lines on stderr (file descriptor 2, so C++ logs too) that start a
    ``PADDLE_NOISE`` entry, and Python warnings in ``PADDLE_WARNINGS``, are dropped.

    Every other line is passed on as it arrives (a thread copies them to the real stderr),
    so errors and a crash's last words still show.
    """
    with warnings.catch_warnings():
        for message in PADDLE_WARNINGS:
            warnings.filterwarnings("ignore", message=message)
        try:
            sys.stderr.flush()
            saved = os.dup(2)
        except (OSError, ValueError, AttributeError):  # no usable stderr: nothing to filter
            yield
            return
        read_end, write_end = os.pipe()
        copier = threading.Thread(target=_copy_lines, args=(read_end, saved), daemon=True)
        copier.start()
        os.dup2(write_end, 2)
        os.close(write_end)
        try:
            yield
        finally:
            try:
                sys.stderr.flush()
            except (OSError, ValueError):
                pass
            os.dup2(saved, 2)  # the pipe's last writer closes: the copier reads the end and stops
            copier.join(timeout=10)  # a child process still holding the pipe keeps it open: do not wait
            if not copier.is_alive():
                os.close(saved)


def _copy_lines(read_end, out_fd):
    """Copy ``read_end`` to ``out_fd`` line by line, dropping noise lines, until end of file."""
    pending = b""
    with os.fdopen(read_end, "rb", buffering=0) as source:
        while True:
            chunk = source.read(65536)
            if not chunk:
                break
            pending += chunk
            *lines, pending = pending.split(b"\n")
            kept = b"".join(line + b"\n" for line in lines if not is_paddle_noise(line.decode("utf-8", "replace")))
            if kept:
                os.write(out_fd, kept)
    if pending and not is_paddle_noise(pending.decode("utf-8", "replace")):
        os.write(out_fd, pending)


def is_paddle_noise(line):
    """Whether a stderr line is one of Paddle's ``PADDLE_NOISE`` lines (glog prefix allowed)."""
    return any(marker in line for marker in PADDLE_NOISE)


def select_device(cpu=False):
    """Set Paddle's device: the GPU when Paddle has CUDA and ``cpu`` is false. Returns its name."""
    import paddle

    device = "gpu" if paddle.is_compiled_with_cuda() and not cpu else "cpu"
    paddle.set_device(device)
    return device


def gpu_memory_bytes():
    """Total memory of Paddle's current GPU in bytes; None when Paddle runs on the CPU."""
    import paddle

    if not paddle.get_device().startswith("gpu"):
        return None
    return int(paddle.device.cuda.get_device_properties().total_memory)
