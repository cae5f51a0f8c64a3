"""Generator output to pictures: uint8 conversion, grids, PNG writes (whole and streamed row by row)."""
import struct
import zlib

import numpy as np
from PIL import Image


def to_uint8(images):
    """Images [N, 3, H, W] in [-1, 1] (paddle Tensor or numpy) -> uint8 [N, H, W, 3]."""
    array = images.numpy() if hasattr(images, "numpy") else np.asarray(images)
    array = np.clip((array + 1.0) * 127.5 + 0.5, 0, 255).astype(np.uint8)
    return array.transpose(0, 2, 3, 1)


def make_grid(images, n_row, n_col):
    """uint8 [N, H, W, 3] with N = n_row * n_col -> one uint8 [n_row*H, n_col*W, 3] image."""
    n, height, width, channels = images.shape
    if n != n_row * n_col:
        raise ValueError(f"{n} images do not fill a {n_row} x {n_col} grid")
    grid = images.reshape(n_row, n_col, height, width, channels).transpose(0, 2, 1, 3, 4)
    return grid.reshape(n_row * height, n_col * width, channels)


def write_png(path, image):
    """Write uint8 [H, W, 3] to ``path`` as it goes (for files already staged, see ``fileio.atomic_files``)."""
    Image.fromarray(image).save(path, format="PNG")


class GridPNGWriter:
    """Stream a grid of equal tiles into a PNG file one grid row at a time (8-bit RGB, Sub filter).

    Holds one row of tiles in memory, so grids larger than memory can be written;
    ``write_row`` takes uint8 [n_col, H, W, 3]. Use as a context manager: the file
    is finished (IEND) when every row was written.
    """

    def __init__(self, path, n_row, n_col, height, width, level=6):
        self.n_row, self.n_col, self.height, self.width = n_row, n_col, height, width
        self.rows_written = 0
        self._file = open(path, "wb")
        self._compressor = zlib.compressobj(level)
        self._file.write(b"\x89PNG\r\n\x1a\n")
        self._chunk(b"IHDR", struct.pack(">IIBBBBB", n_col * width, n_row * height, 8, 2, 0, 0, 0))

    def _chunk(self, kind, data):
        self._file.write(struct.pack(">I", len(data)) + kind + data
                         + struct.pack(">I", zlib.crc32(kind + data) & 0xFFFFFFFF))

    def write_row(self, tiles):
        """Append one grid row: uint8 [n_col, H, W, 3]."""
        if tiles.shape != (self.n_col, self.height, self.width, 3) or self.rows_written == self.n_row:
            raise ValueError(f"row of tiles {tiles.shape} does not fit the {self.n_row} x {self.n_col} grid")
        lines = tiles.transpose(1, 0, 2, 3).reshape(self.height, -1).astype(np.int16)
        filtered = np.empty((self.height, lines.shape[1] + 1), np.uint8)
        filtered[:, 0] = 1  # Sub: each byte minus the byte of the pixel to its left
        filtered[:, 1:4] = lines[:, :3]
        filtered[:, 4:] = (lines[:, 3:] - lines[:, :-3]) & 0xFF
        data = self._compressor.compress(filtered.tobytes())
        if data:
            self._chunk(b"IDAT", data)
        self.rows_written += 1

    def close(self):
        """Finish the file (only complete grids get their IEND) and close it."""
        try:
            if self.rows_written == self.n_row:
                self._chunk(b"IDAT", self._compressor.flush())
                self._chunk(b"IEND", b"")
        finally:
            self._file.close()

    def __enter__(self):
        return self

    def __exit__(self, *exc_info):
        self.close()
