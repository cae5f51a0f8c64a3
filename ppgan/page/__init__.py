"""The editing page (``applications/tools/styleclip_app.py``): a local Gradio page over ``StyleGANv2ClipPredictor``.

    from ppgan.page import Editor, EditSession, build_app, launch_app

``session`` (the edit session, no Gradio), ``service`` (the models: ``Editor``), ``words``
(the status lines, inputs named in the page's words), ``layout`` (the Gradio page). Each name's
module is imported when the name is first used: ``layout`` imports Gradio, which takes seconds.
"""
from ..utils.lazy import lazy_exports

__getattr__, __dir__, __all__ = lazy_exports(__name__, {
    "session": ("EditSession", "PhotoFace", "PhotoFaces", "photo_face", "remove_export_folders"),
    "service": ("BETA_RANGE", "PREVIEW_SIZE", "Editor", "preview_generator"),
    "layout": ("KEY_SETTLE_MS", "PHOTO_DISPLAY_SIDE", "build_app", "display_copy", "launch_app", "parse_strengths"),
    "words": ("PAGE_WORDS", "error_message", "slider_value"),
})
