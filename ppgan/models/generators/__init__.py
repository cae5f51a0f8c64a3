from .generator_styleganv2 import StyleGANv2Generator

__all__ = ["StyleGANv2Generator"]
