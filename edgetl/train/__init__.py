"""Transfer learning: a pretrained backbone, its early stages frozen, a new head."""
