"""Readers of foreign checkpoints (PyTorch zips, rosinality, NVlabs, pSp / e4e), torch- and TF-free, nothing executed."""
