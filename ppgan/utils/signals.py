"""SIGTERM handled like Ctrl-C: a ``Terminated`` (a ``KeyboardInterrupt``) raised in the main thread.

A scheduler, ``timeout`` or ``kill`` stops a process with SIGTERM. Python's default is
to die at once, and ``import paddle`` installs a C++ handler (glog's failure handler)
that prints a 20-line "FatalError: Termination signal" report before dying; neither
runs the cleanups of an interrupted job (temporary files, staging folders, lock files).

``handle_termination()`` installs a Python handler that raises ``Terminated`` in the
main thread, so every ``except KeyboardInterrupt`` / ``finally`` path of Ctrl-C runs.
Paddle's import replaces any handler installed before it, so when ``paddle`` is not
imported yet the handler is installed again right after its import finishes (a
one-shot import hook). Only the first SIGTERM raises: a second one while the cleanups
run is ignored, so they finish. ``termination_requested()`` says whether SIGTERM came,
for callers whose library swallowed the exception (Gradio's server loop ends quietly
on a ``KeyboardInterrupt``).
"""
import signal
import threading

from .runtime import on_first_import

_requested = threading.Event()


class Terminated(KeyboardInterrupt):
    """The process received SIGTERM; raised in the main thread, handled wherever Ctrl-C is."""


def _on_sigterm(signum, frame):
    if _requested.is_set():
        return
    _requested.set()
    raise Terminated()


def _install():
    signal.signal(signal.SIGTERM, _on_sigterm)


def handle_termination():
    """From now on SIGTERM raises ``Terminated`` in the main thread (call it from the main thread).

    If ``paddle`` is not imported yet, the handler is installed again as soon as its import
    completes, since Paddle's import installs its own.
    """
    _install()
    on_first_import("paddle", _reinstall_after)


def termination_requested():
    """Whether SIGTERM has arrived since ``handle_termination()``, even if its ``Terminated`` was caught."""
    return _requested.is_set()


def _reinstall_after(run):
    """Run Paddle's import, then put the SIGTERM handler back over the one it installed."""
    run()
    if threading.current_thread() is threading.main_thread():
        _install()
