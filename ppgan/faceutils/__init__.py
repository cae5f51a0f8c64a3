"""Face detection, 68-point landmarks and FFHQ alignment of real photos (dlib)."""
from .align import AlignedFace, FaceAligner, align_face, ffhq_quad, quad_to_output, warp_quad
from .images import IMAGE_EXTENSIONS, load_rgb
from .landmarks import LandmarkDetector, default_landmark_model

__all__ = [
    "AlignedFace", "FaceAligner", "align_face", "ffhq_quad", "quad_to_output", "warp_quad",
    "IMAGE_EXTENSIONS", "load_rgb", "LandmarkDetector", "default_landmark_model",
]
