"""StyleCLIP global directions: CLIP, text directions, edits, statistics, extraction (no command line code).

- ``clip``: CLIP ViT-B/32 with strict weight loading, its tokenizer and PIL-exact preprocessing on tensors;
- ``text``: prompt templates, template-averaged text features, the text direction delta_t;
- ``directions``: channel relevance, beta threshold (fixed or automatic), delta_s in the S layout,
  std scaling, edits, direction file reading, the per-channel direction reduction;
- ``edit``: an edit's values (strengths, beta, texts) and its S-space direction (``edit_direction``);
- ``outputs``: the files an edit writes (names, the strip, all-or-nothing writing);
- ``stats``: S samples and their per-channel statistics;
- ``extract``: the global direction extraction (work plan, batched renders and CLIP, resume files,
  rank parts and their merge).

Submodules are imported on use, so that ``directions`` does not load CLIP.
"""
