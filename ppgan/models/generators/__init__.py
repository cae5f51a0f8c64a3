"""The generators: StyleGAN2 (PaddleGAN's layout) and pSp, and the synthesis as a Paddle Inference program."""
from .generator_pixel2style2pixel import Pixel2Style2Pixel
from .generator_styleganv2 import StyleGANv2Generator

__all__ = ["Pixel2Style2Pixel", "StyleGANv2Generator"]
