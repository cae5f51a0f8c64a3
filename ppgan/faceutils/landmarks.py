"""dlib frontal face detection and 68-point landmarks."""
import importlib.util
import os

import numpy as np
from PIL import Image

from ..utils.errors import UserError

LANDMARK_MODEL_NAME = "shape_predictor_68_face_landmarks.dat"


def default_landmark_model():
    """Path of the 68-point model shipped by ``face-recognition-models``, or None if not installed.

    The package is located, not imported (importing it needs ``pkg_resources``).
    """
    spec = importlib.util.find_spec("face_recognition_models")
    if spec is None or not spec.submodule_search_locations:
        return None
    for package_dir in spec.submodule_search_locations:
        path = os.path.join(package_dir, "models", LANDMARK_MODEL_NAME)
        if os.path.isfile(path):
            return path
    return None


def resolve_landmark_model(path=None):
    """Return an existing landmark model path: ``path`` if given, else the packaged one."""
    if path is not None:
        if not os.path.isfile(path):
            raise UserError(f"landmark model {path} does not exist; "
                            f"pass the path of {LANDMARK_MODEL_NAME} to {{landmark_model}}")
        return path
    found = default_landmark_model()
    if found is None:
        raise UserError(f"the dlib landmark model {LANDMARK_MODEL_NAME} is missing; "
                        "run `pip install face-recognition-models` or pass {landmark_model} PATH")
    return found


class LandmarkDetector:
    """Finds the largest frontal face of a photo and its 68 landmarks (models loaded once).

    Detection runs on a copy whose longer side is at most ``detect_size`` pixels,
    first without upsampling and, if that finds nothing, once more with one
    2x upsampling (faces down to about 40 px at that scale); the landmarks are
    then fitted on the full-resolution image.
    """

    def __init__(self, landmark_model=None, detect_size=1024):
        import dlib

        model = resolve_landmark_model(landmark_model)
        self.detector = dlib.get_frontal_face_detector()
        try:
            self.predictor = dlib.shape_predictor(model)
        except RuntimeError as exc:
            raise UserError(f"cannot load landmark model {model} ({exc}); pass a valid {LANDMARK_MODEL_NAME}") from exc
        self.detect_size = detect_size
        self._rectangle = dlib.rectangle

    def detect_faces(self, image):
        """Face boxes of an RGB PIL image: float array [N,4] of (left, top, right, bottom), full-res pixels."""
        scale = min(1.0, self.detect_size / max(image.size))
        small = image
        if scale < 1.0:
            small_size = (max(1, round(image.width * scale)), max(1, round(image.height * scale)))
            small = image.resize(small_size, Image.Resampling.BILINEAR)
        pixels = np.asarray(small)
        rects = self.detector(pixels, 0) or self.detector(pixels, 1)
        boxes = np.array([[r.left(), r.top(), r.right(), r.bottom()] for r in rects], dtype=np.float64)
        return boxes.reshape(-1, 4) / scale

    def landmarks(self, image, box):
        """68 landmarks [68,2] (x, y in pixels) of the face in ``box`` (left, top, right, bottom)."""
        rect = self._rectangle(*(int(round(v)) for v in box))
        shape = self.predictor(np.asarray(image), rect)
        return np.array([[p.x, p.y] for p in shape.parts()], dtype=np.float64)

    def _boxes_largest_first(self, image, name):
        """Detection boxes [N, 4] ordered by area, largest first; UserError (naming ``name``) without a face."""
        boxes = self.detect_faces(image)
        if len(boxes) == 0:
            raise UserError(f"no face found in {name}; use a photo with a clearly visible frontal face")
        areas = (boxes[:, 2] - boxes[:, 0]) * (boxes[:, 3] - boxes[:, 1])
        return boxes[np.argsort(-areas, kind="stable")]

    def faces(self, image, name="the image"):
        """Landmarks [68,2] of every face, largest detection box first; UserError (naming ``name``) without a face."""
        return [self.landmarks(image, box) for box in self._boxes_largest_first(image, name)]

    def largest_face(self, image, name="the image"):
        """Landmarks [68,2] of the largest face and the number of faces found; UserError without a face."""
        boxes = self._boxes_largest_first(image, name)
        return self.landmarks(image, boxes[0]), len(boxes)
