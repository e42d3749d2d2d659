"""How many calibration images are sampled, and with which seed, when the user does not say.

Kept apart from ``edgetl.data.calibration`` (which reads images, so imports OpenCV through
``edgetl.preprocess``) so the defaults shown by ``edgetl export --help`` and ``edgetl build --help`` and
used by ``edgetl.trt.options`` cost no heavy import. ``edgetl.data.calibration`` uses these too.
"""

DEFAULT_SIZE = 300  # images sampled when the user does not say (export --calib-size, build --calib-size)
DEFAULT_SEED = 0
