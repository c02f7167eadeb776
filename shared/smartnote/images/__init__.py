"""The image pipeline (OpenCV, numpy, Tesseract): imported by the image function only.

OpenCV reads its decode cap from the environment when it first decodes, so the cap is set
here, before `cv2` is imported anywhere below. Our own header check (`smartnote.filetypes`)
refuses oversized images first; this cap is the second line. The variable is
OPENCV_IO_MAX_IMAGE_PIXELS (not CV_IO_MAX_IMAGE_PIXELS, which is the C++ macro's name).
Tesseract gets OMP_THREAD_LIMIT=1: on Lambda's small CPUs its OpenMP threads make it 4-5x
slower, not faster.
"""

from __future__ import annotations

import os

from smartnote.models.attachments import MAX_PIXELS

os.environ.setdefault("OPENCV_IO_MAX_IMAGE_PIXELS", str(MAX_PIXELS))
os.environ.setdefault("OMP_THREAD_LIMIT", "1")
