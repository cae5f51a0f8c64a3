"""One predictor per job, with PaddleGAN's class names and keyword arguments.

    from ppgan.apps import StyleGANv2Predictor, StyleGANv2ClipPredictor, Pixel2Style2PixelPredictor

Each predictor module is imported when its name is first used (they load Paddle and
their models' code), so importing ``ppgan.apps`` stays cheap.
"""
from ..utils.lazy import lazy_exports

__getattr__, __dir__, __all__ = lazy_exports(__name__, {
    "styleganv2_predictor": ("StyleGANv2Predictor",),
    "styleganv2clip_predictor": ("StyleGANv2ClipPredictor",),
    "pixel2style2pixel_predictor": ("Pixel2Style2PixelPredictor",),
})
