"""The e4e tool (``applications/tools/encoder4editing.py``): the pSp tool's flags, with e4e's released model."""
from . import psp


def main(argv=None):
    """Invert a photo with e4e: ``ppgan.cli.psp.main`` for the encoder4editing family."""
    return psp.main(argv, encoder="e4e")
