"""Image metrics and perceptual losses."""
