"""One predictor per job, with PaddleGAN's class names and keyword arguments.

    from ppgan.apps import StyleGANv2Predictor, StyleGANv2ClipPredictor, Pixel2Style2PixelPredictor

Each predictor module is imported when its name is first used (they load Paddle and
their models' code), so importing ``ppgan.apps`` stays cheap.
"""
import importlib

_PREDICTOR_MODULES = {
    "StyleGANv2Predictor": "styleganv2_predictor",
    "StyleGANv2ClipPredictor": "styleganv2clip_predictor",
    "Pixel2Style2PixelPredictor": "pixel2style2pixel_predictor",
}

__all__ = list(_PREDICTOR_MODULES)


def __getattr__(name):
    if name not in _PREDICTOR_MODULES:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    return getattr(importlib.import_module(f"{__name__}.{_PREDICTOR_MODULES[name]}"), name)


def __dir__():
    return sorted(list(globals()) + __all__)
