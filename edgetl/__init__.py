"""edgetl: take a vision classifier from a workstation to an NVIDIA Jetson."""

__version__ = "0.1.0"
