"""Paste aligned (edited) faces back into their photo: the inverse of the FFHQ alignment.

An aligned image of side S shows the photo's quad (``AlignedFace.quad``, the one
``warp_quad`` sampled, shrink included; crop and pad only translate). Pixel
(u, v) of the aligned image (pixel centres at integers) comes from the photo
point ``quad[0] + (quad[3] - quad[0]) * (u + 0.5) / S + (quad[1] - quad[0]) * (v + 0.5) / S``.
Pasting resamples the aligned image at the inverse of that map and blends it
through a feathered ellipse over the face; photo pixels where the mask is 0 keep
their bytes.
"""
import json
import os

import cv2
import numpy as np

from ..utils.errors import UserError

# The face ellipse in aligned coordinates (fractions of the side): FFHQ crops put the eyes
# near y = 0.47 and the mouth near 0.75; the ellipse spans forehead to chin and cheek to cheek.
MASK_CENTRE = (0.5, 0.53)
MASK_RADII = (0.36, 0.43)
MASK_FEATHER = 0.2  # the mask rises from 0 at the ellipse to 1 at (1 - MASK_FEATHER) of its radii
ALIGNMENT_JSON_VERSION = 1


def aligned_to_photo(quad, aligned_size):
    """Affine matrix float64 [2,3]: aligned-image pixel (u, v, 1) -> photo pixel (x, y)."""
    quad = np.asarray(quad, dtype=np.float64)
    basis = np.stack([quad[3] - quad[0], quad[1] - quad[0]], axis=1) / aligned_size
    return np.concatenate([basis, (quad[0] + basis.sum(axis=1) * 0.5)[:, None]], axis=1)


def photo_to_aligned(quad, aligned_size):
    """Affine matrix float64 [2,3]: photo pixel (x, y, 1) -> aligned-image pixel (u, v)."""
    return cv2.invertAffineTransform(aligned_to_photo(quad, aligned_size))


def ellipse_mask(u, v, aligned_size):
    """Soft face mask float32 (shape of ``u``) at aligned-image pixel coordinates u, v.

    1 inside the inner ellipse, 0 on and outside the face ellipse (``MASK_CENTRE``,
    ``MASK_RADII``), a smoothstep between them.
    """
    a = ((np.asarray(u, np.float32) + 0.5) / aligned_size - MASK_CENTRE[0]) / MASK_RADII[0]
    b = ((np.asarray(v, np.float32) + 0.5) / aligned_size - MASK_CENTRE[1]) / MASK_RADII[1]
    t = np.clip((1.0 - np.sqrt(a * a + b * b)) / MASK_FEATHER, 0.0, 1.0)
    return t * t * (3.0 - 2.0 * t)


def _mask_box(quad, photo_size):
    """Integer box (left, top, right, bottom) of the photo that holds the face ellipse, clipped to the photo."""
    corners = np.array([[MASK_CENTRE[0] + sx * MASK_RADII[0], MASK_CENTRE[1] + sy * MASK_RADII[1]]
                        for sx in (-1, 1) for sy in (-1, 1)])
    matrix = aligned_to_photo(quad, 1.0)
    points = (corners - 0.5) @ matrix[:, :2].T + matrix[:, 2]
    left, top = np.maximum(np.floor(points.min(axis=0)).astype(int) - 1, 0)
    right, bottom = np.minimum(np.ceil(points.max(axis=0)).astype(int) + 2, photo_size)
    return int(left), int(top), int(right), int(bottom)


def match_colours(pasted, original, weights):
    """``pasted`` float32 [h,w,3] with each channel's weighted mean and std moved to those of ``original``."""
    total = weights.sum()
    if total <= 0:
        return pasted
    w = weights[..., None] / total
    mean_p, mean_o = (pasted * w).sum(axis=(0, 1)), (original * w).sum(axis=(0, 1))
    std_p = np.sqrt(((pasted - mean_p) ** 2 * w).sum(axis=(0, 1)))
    std_o = np.sqrt(((original - mean_o) ** 2 * w).sum(axis=(0, 1)))
    return (pasted - mean_p) * (std_o / np.maximum(std_p, 1e-3)) + mean_o


def paste_face(photo, aligned, quad, colour_match=False):
    """Blend an aligned image back over its face in a photo.

    photo: uint8 [H,W,3] (or PIL RGB); aligned: uint8 [S,S,3] (or PIL RGB) showing ``quad``
    [4,2] of the photo (any S: an edit at another resolution than the alignment works);
    colour_match: give the pasted face the mean and std of the photo's pixels under the mask.
    Returns (uint8 [H,W,3], mask float32 [H,W] in [0, 1]); where the mask is 0 the
    photo's bytes are unchanged.
    """
    photo = np.asarray(photo, dtype=np.uint8)
    aligned = np.asarray(aligned, dtype=np.uint8)
    height, width = photo.shape[:2]
    result = photo.copy()
    mask = np.zeros((height, width), np.float32)
    left, top, right, bottom = _mask_box(quad, (width, height))
    if right <= left or bottom <= top:
        return result, mask
    side = aligned.shape[0]
    quad_side = float(np.hypot(*(np.asarray(quad[3], np.float64) - quad[0])))
    if quad_side < side / 1.5:  # downsizing: area-average first so that the bilinear warp does not alias
        side = max(int(round(quad_side)), 1)
        aligned = cv2.resize(aligned, (side, side), interpolation=cv2.INTER_AREA)
    ys, xs = np.mgrid[top:bottom, left:right].astype(np.float64)
    matrix = photo_to_aligned(quad, side)
    u = (matrix[0, 0] * xs + matrix[0, 1] * ys + matrix[0, 2]).astype(np.float32)
    v = (matrix[1, 0] * xs + matrix[1, 1] * ys + matrix[1, 2]).astype(np.float32)
    box_mask = ellipse_mask(u, v, side)
    warped = cv2.remap(aligned, u, v, cv2.INTER_LINEAR, borderMode=cv2.BORDER_REPLICATE).astype(np.float32)
    original = photo[top:bottom, left:right].astype(np.float32)
    if colour_match:
        warped = match_colours(warped, original, box_mask)
    blended = np.clip(np.rint(original + (warped - original) * box_mask[..., None]), 0, 255).astype(np.uint8)
    inside = box_mask > 0
    result[top:bottom, left:right][inside] = blended[inside]
    mask[top:bottom, left:right] = box_mask
    return result, mask


def paste_faces(photo, aligned_images, quads, colour_match=False):
    """Paste several aligned images (one per quad) into one photo, in the given order.

    Returns (uint8 [H,W,3], union of the masks float32 [H,W]).
    """
    result = np.asarray(photo, dtype=np.uint8)
    union = np.zeros(result.shape[:2], np.float32)
    for aligned, quad in zip(aligned_images, quads):
        result, mask = paste_face(result, aligned, quad, colour_match)
        np.maximum(union, mask, out=union)
    return result, union


def paste_edits(photo, quads, edits, colour_match=False):
    """The photo once per edit of its faces, each face pasted back over its quad.

    photo: uint8 [H,W,3] (or PIL RGB); quads: [N,4,2], one per face; edits: K edits of the
    N faces, uint8 [K,N,S,S,3] (any S). Returns K photos, uint8 [H,W,3].
    """
    return [paste_faces(photo, faces, quads, colour_match)[0] for faces in edits]


def alignment_json_path(aligned_path):
    """The JSON saved beside an aligned crop: ``x_aligned.png`` -> ``x_aligned.json``."""
    return os.path.splitext(aligned_path)[0] + ".json"


def save_alignment(path, face, source, frame=None):
    """Write where an ``AlignedFace`` came from as JSON: source, photo size, quad, size, face index.

    ``frame``: the index of the video frame (of ``source``, a video) the face was cropped from;
    the record then has ``frame`` too. Writes ``path`` directly: wrap it in ``atomic_path`` for an
    all-or-nothing output.
    """
    record = dict(version=ALIGNMENT_JSON_VERSION, source=os.path.basename(os.fspath(source)),
                  photo_size=list(face.photo_size), quad=np.asarray(face.quad).tolist(),
                  size=face.image.width, face_index=face.index)
    if frame is not None:
        record["frame"] = int(frame)
    with open(path, "w") as f:
        json.dump(record, f, indent=1)


def load_alignment(path):
    """The record of ``save_alignment`` with ``quad`` as float64 [4,2]; UserError when it is not one."""
    try:
        with open(path) as f:
            record = json.load(f)
        quad = np.asarray(record["quad"], dtype=np.float64)
        record["photo_size"] = tuple(int(v) for v in record["photo_size"])
        record["face_index"] = int(record["face_index"])
    except (OSError, ValueError, KeyError, TypeError) as exc:
        raise UserError(f"{path} is not an alignment record of face_align.py ({exc}); delete it to "
                        "recompute the alignment from the photo") from exc
    if quad.shape != (4, 2) or not np.isfinite(quad).all() or len(record["photo_size"]) != 2:
        raise UserError(f"{path} holds no valid quad [4,2] and photo size; delete it to recompute the "
                        "alignment from the photo")
    record["quad"] = quad
    return record
