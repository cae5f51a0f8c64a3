"""Face detection, 68-point landmarks, FFHQ alignment of real photos (dlib) and pasting faces back."""
from .align import MIN_FACE_SIZE, AlignedFace, FaceAligner, align_face, ffhq_quad, quad_to_output, sampled_quad, warp_quad
from .images import IMAGE_EXTENSIONS, collect_images, load_rgb
from .landmarks import LandmarkDetector, default_landmark_model
from .paste import paste_edits, paste_face, paste_faces

__all__ = [
    "MIN_FACE_SIZE", "AlignedFace", "FaceAligner", "align_face", "ffhq_quad", "quad_to_output", "sampled_quad",
    "warp_quad",
    "IMAGE_EXTENSIONS", "collect_images", "load_rgb", "LandmarkDetector", "default_landmark_model",
    "paste_edits", "paste_face", "paste_faces",
]
