"""The image pipeline (OpenCV, numpy, Tesseract): imported by the image function only.

OpenCV reads its decode cap, OPENCV_IO_MAX_IMAGE_PIXELS (not CV_IO_MAX_IMAGE_PIXELS, which
is the C++ macro's name), once: when its library loads, at the first `import cv2` of the
process, not when it decodes. The image function has it in its environment (template.yaml,
Dockerfile); this module sets it for every other process, which works only if it is imported
before anything imports cv2, so it warns when cv2 came first without the cap. Nor is the
cap the only line: our header check (`smartnote.filetypes`) refuses oversized images before
anything decodes them, and `decode` refuses what decodes to more pixels than allowed.
Tesseract gets OMP_THREAD_LIMIT=1: on Lambda's small CPUs its OpenMP threads make it 4-5x
slower, not faster.
"""

from __future__ import annotations

import os
import sys
import warnings

from smartnote.models.attachments import MAX_PIXELS

OPENCV_CAP = "OPENCV_IO_MAX_IMAGE_PIXELS"

if "cv2" in sys.modules and OPENCV_CAP not in os.environ:
    warnings.warn(
        f"cv2 was imported before smartnote.images and without {OPENCV_CAP} in the"
        " environment: OpenCV's own pixel cap is off in this process",
        RuntimeWarning,
        stacklevel=2,
    )
os.environ.setdefault(OPENCV_CAP, str(MAX_PIXELS))
os.environ.setdefault("OMP_THREAD_LIMIT", "1")
