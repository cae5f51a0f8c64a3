"""One thread for all model work: threaded callers (web servers, thread pools) submit calls to it.

Paddle Inference predictors (``ppgan.utils.compiled``) and the eager math library's
thread settings belong to a thread: run from many threads, even one call at a
time behind a lock, predictor runs fail now and then with ``RuntimeError:
std::exception`` and oneDNN keeps a cache of primitives per calling thread, so
memory grows with every new thread. Calls submitted to a ``ModelThread`` run one
after another on its single thread, whatever thread submitted them.

Thread safety of the Python API: the predictors (``StyleGANv2Predictor`` and
its subclasses, ``Pixel2Style2PixelPredictor``), ``SynthesisProgram``,
``VariantsProgram`` and ``ClipEncoder`` are not thread-safe. Create and call them
from one thread (any one; the main thread of a script is fine), or from several
threads only through ``ModelThread.call``. Pure numpy functions
(``ppgan.styleclip.directions`` and friends) are safe from any thread.
"""
import concurrent.futures
import threading

_shared = None
_shared_lock = threading.Lock()


class ModelThread:
    """A single worker thread running submitted calls in submission order.

    ``call(fn, *args, **kwargs)`` runs ``fn`` on the thread and returns its result or
    raises its exception in the caller; called from the thread itself (a model
    call making another) it runs ``fn`` at once instead of waiting for itself.
    """

    def __init__(self, name="ppgan-model"):
        self._ident = None
        self._executor = concurrent.futures.ThreadPoolExecutor(1, thread_name_prefix=name,
                                                               initializer=self._started)

    def _started(self):
        self._ident = threading.get_ident()

    def on_thread(self):
        """Whether the calling thread is this model thread."""
        return threading.get_ident() == self._ident

    def submit(self, fn, *args, **kwargs):
        """Queue ``fn(*args, **kwargs)`` -> a ``concurrent.futures.Future`` of its result."""
        return self._executor.submit(fn, *args, **kwargs)

    def call(self, fn, *args, **kwargs):
        """Run ``fn(*args, **kwargs)`` on the model thread and return its result (or raise its exception)."""
        if self.on_thread():
            return fn(*args, **kwargs)
        return self.submit(fn, *args, **kwargs).result()

    def shutdown(self):
        """Finish the queued calls and end the thread."""
        self._executor.shutdown(wait=True)


def shared_model_thread():
    """The process's ``ModelThread``, started on first use: one home for every model of the process."""
    global _shared
    with _shared_lock:
        if _shared is None:
            _shared = ModelThread()
        return _shared
