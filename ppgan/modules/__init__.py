"""StyleGAN2's building blocks: equalized layers, modulated convolution, FIR resampling."""
