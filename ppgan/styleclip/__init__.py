"""StyleCLIP global directions: pure functions and file formats (no command line code).

- ``clip_encoder``: CLIP ViT-B/32 with strict weight loading and PIL-exact preprocessing on tensors;
- ``text``: prompt templates, template-averaged text features, the text direction delta_t;
- ``directions``: channel relevance, beta threshold (fixed or automatic), delta_s in the S layout,
  std scaling, edits, direction file reading, the per-channel direction reduction.

Submodules are imported on use, so that ``directions`` does not load CLIP.
"""
