"""Image data: folder and GTSRB readers, and the synthetic road-sign showcase generator."""
