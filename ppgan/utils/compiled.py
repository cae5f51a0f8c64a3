"""Paddle Inference programs on the CPU: export a layer once, cache it by a fingerprint, run it with oneDNN.

Paddle's eager CPU kernels leave much of the machine idle; the same graph saved with
``paddle.jit.to_static`` + ``paddle.jit.save`` and run by a Paddle Inference predictor
with oneDNN is faster (the generator's synthesis, CLIP's image tower). The exports live in
``$PPGAN_HOME/compiled/<fingerprint>``; the fingerprint covers whatever the graph depends
on (architecture, weights, Paddle's version), so a change makes a new export and a stale
one is never run. Exporting to a temporary folder renamed into place keeps a killed
export from leaving a half-written program.

On GPUs, or with ``PPGAN_SYNTHESIS=eager``, the callers run their eager layers instead.
"""
import contextlib
import hashlib
import json
import os
import re
import shutil

import numpy as np
import paddle

from .download import cache_dir
from .errors import UserError
from .fileio import make_dirs, temporary_dir, write_error
from .runtime import paddle_noise_filtered


def use_eager_programs():
    """Eager Paddle on GPUs and when ``PPGAN_SYNTHESIS=eager``; Paddle Inference (oneDNN) programs on CPUs."""
    return os.environ.get("PPGAN_SYNTHESIS") == "eager" or "gpu" in paddle.get_device()


def cpu_threads():
    """Threads of the math library: ``OMP_NUM_THREADS`` (``configure_cpu_runtime`` sets it to the usable cores)."""
    return int(os.environ.get("OMP_NUM_THREADS", "1"))


def fingerprint(state_dict, *description):
    """md5 hex of ``description`` (reprs of what shapes the graph), Paddle's version and every weight."""
    digest = hashlib.md5()
    digest.update(repr(description + (paddle.__version__,)).encode())
    for name, value in state_dict.items():
        digest.update(name.encode())
        digest.update(np.ascontiguousarray(value.numpy()).tobytes())
    return digest.hexdigest()


def export_layer(layer, input_spec, path_prefix):
    """Save ``layer`` (eval mode) as a static program at ``path_prefix`` (.json or .pdmodel, and .pdiparams)."""
    layer.eval()
    with paddle_noise_filtered():  # Paddle 3 logs a warning per op with an ``out`` argument
        paddle.jit.save(paddle.jit.to_static(layer, input_spec=input_spec, full_graph=True), path_prefix)


MANIFEST = "complete.json"  # written last into an export folder: its files and their sizes


def _program_files(directory, name):
    return sorted(f for f in os.listdir(directory) if f.startswith(name + ".") and f != MANIFEST)


def export_complete(directory, name):
    """True if ``directory`` holds a verified export of ``name`` whose files still have their recorded sizes."""
    try:
        with open(os.path.join(directory, MANIFEST)) as f:
            sizes = json.load(f)
        return bool(sizes) and all(os.path.getsize(os.path.join(directory, file)) == size
                                   for file, size in sizes.items())
    except (OSError, ValueError, AttributeError, TypeError):
        return False


def check_export(directory, name, target, fix, read_back=None):
    """Read the exported program ``name`` back (``read_back(directory, name)``, default: with Paddle Inference);
    UserError if it cannot be.

    Paddle writes its files without reporting a full disk (they are silently cut
    short), so an export is trusted only once it loads.
    """
    try:
        (read_back or create_cpu_predictor)(directory, name)
    except Exception as exc:  # Paddle raises RuntimeError, ValueError, OSError... for a damaged program
        reason = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
        reason = re.sub(r"^\(\w+\) ", "", reason)  # Paddle's "(Unavailable) " prefix
        full = shutil.disk_usage(directory).free < 1 << 20
        raise UserError(f"cannot write {target}: Paddle could not read the exported program back ({reason})"
                        + ("; the disk is full: free some space or " if full else "; ") + fix) from None


def write_manifest(directory, name):
    """Record the files of the export ``name`` and their sizes (the mark of a complete export)."""
    sizes = {file: os.path.getsize(os.path.join(directory, file)) for file in _program_files(directory, name)}
    with open(os.path.join(directory, MANIFEST), "w") as f:
        json.dump(sizes, f)


def cached_export(key, name, export, read_back=None):
    """Folder ``$PPGAN_HOME/compiled/<key>`` holding the program ``name``, made by ``export(path_prefix)`` if absent.

    ``export`` writes into a temporary folder that is read back (``check_export`` with ``read_back``),
    marked complete (``MANIFEST``) and renamed into place, so a killed export or one
    cut short by a full disk is never used; a folder without a valid mark is exported
    again. When two processes race, the first rename wins.
    """
    root = os.path.join(cache_dir(), "compiled")
    directory = os.path.join(root, key)
    fix = "set PPGAN_HOME to a roomier disk, or PPGAN_SYNTHESIS=eager to run without compiled programs"
    if not export_complete(directory, name):
        try:
            make_dirs(root)
            tmp = temporary_dir(root, "export")
        except OSError as exc:
            raise write_error(root, exc) from exc
        try:
            try:
                export(os.path.join(tmp, name))
                write_manifest(tmp, name)
            except OSError as exc:
                raise write_error(os.path.join(directory, name), exc) from exc
            check_export(tmp, name, os.path.join(directory, name), fix, read_back)
            if os.path.isdir(directory) and not export_complete(directory, name):
                shutil.rmtree(directory, ignore_errors=True)  # cut short or killed by an older version
            try:
                os.replace(tmp, directory)
            except OSError:
                if not export_complete(directory, name):
                    raise
        finally:
            shutil.rmtree(tmp, ignore_errors=True)
    return directory


def create_cpu_predictor(directory, name, bf16=False):
    """Paddle Inference predictor of the program ``name`` in ``directory``: CPU, oneDNN, ``cpu_threads()`` threads
    (computing in bf16 where oneDNN can when ``bf16``)."""
    from paddle import inference

    model_file = next(os.path.join(directory, f) for f in _program_files(directory, name)
                      if f.endswith((".json", ".pdmodel")))
    config = inference.Config(model_file, os.path.join(directory, name + ".pdiparams"))
    config.disable_gpu()
    getattr(config, "enable_onednn", config.enable_mkldnn)()  # Paddle 2.6 knows only the old name
    config.set_cpu_math_library_num_threads(cpu_threads())
    if bf16:
        getattr(config, "enable_onednn_bfloat16", config.enable_mkldnn_bfloat16)()
    config.disable_glog_info()
    return inference.create_predictor(config)


def set_eager_threads(count=None):
    """Threads of eager Paddle's CPU math in the calling thread (default ``cpu_threads()``).

    A predictor run leaves them at one; eager results can differ in their last bits with the count.
    """
    paddle.base.core.set_num_threads(count or cpu_threads())


@contextlib.contextmanager
def eager_threads(count):
    """Eager math on ``count`` threads inside the block, on ``cpu_threads()`` after it (``set_eager_threads``)."""
    set_eager_threads(count)
    try:
        yield
    finally:
        set_eager_threads()


def feed(predictor, feeds):
    """Copy ``feeds`` ({input name: Tensor or array}, as float32) into ``predictor``'s inputs; they keep
    their value over runs until fed again."""
    for name, value in feeds.items():
        array = value.numpy() if isinstance(value, paddle.Tensor) else value
        predictor.get_input_handle(name).copy_from_cpu(np.ascontiguousarray(array, dtype="float32"))


# Paddle 2.6's clear_intermediate_tensor frees the inputs too, which callers may feed once for many runs.
CLEARING_KEEPS_INPUTS = not paddle.__version__.startswith("2.")


def run_predictor(predictor, feeds):
    """``feed`` then run ``predictor`` -> its outputs as numpy arrays.

    Frees the run's intermediate tensors (about 1 GB for a 1024 px render) for other
    work to reuse (Paddle 3.x; 2.6 keeps them, see ``CLEARING_KEEPS_INPUTS``), and restores
    the eager thread count the run resets (``set_eager_threads``).
    """
    feed(predictor, feeds)
    predictor.run()
    set_eager_threads()
    outputs = [predictor.get_output_handle(name).copy_to_cpu() for name in predictor.get_output_names()]
    if CLEARING_KEEPS_INPUTS:
        predictor.clear_intermediate_tensor()
    return outputs
