"""The editing page (``applications/tools/styleclip_app.py``): a local Gradio page over ``StyleGANv2ClipPredictor``.

    from ppgan.page import Editor, EditSession, build_app, launch_app

``session`` (the edit session, no Gradio), ``service`` (the models: ``Editor``), ``layout``
(the Gradio page). Each name's module is imported when the name is first used: ``layout``
imports Gradio, which takes seconds.
"""
import importlib

_MODULES = {
    "session": ("EditSession", "PhotoFace", "photo_face"),
    "service": ("BETA_RANGE", "PREVIEW_SIZE", "Editor", "preview_generator"),
    "layout": ("KEY_SETTLE_MS", "PHOTO_DISPLAY_SIDE", "build_app", "display_copy", "error_message", "launch_app",
               "parse_strengths"),
}
_MODULE_OF = {name: module for module, names in _MODULES.items() for name in names}

__all__ = sorted(_MODULE_OF)


def __getattr__(name):
    if name not in _MODULE_OF:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    return getattr(importlib.import_module(f"{__name__}.{_MODULE_OF[name]}"), name)


def __dir__():
    return sorted(list(globals()) + __all__)
