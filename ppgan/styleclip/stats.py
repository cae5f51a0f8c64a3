"""S-space statistics: streaming per-channel mean / std, and the S sample and statistics files.

Sampling order (``iterate_s_codes``): one ``numpy.random.RandomState(seed)``
first draws ``MEAN_LATENT_SAMPLES`` z [4096, style_dim] whose mapped mean is
the truncation centre (``generator.truncation_centre``), then
the ``num_samples`` sample z, row after row, whatever the batch size. Each z
is mapped to w, truncated towards that centre (all W+ rows, or the first
``truncation_cutoff`` rows) and turned into an S code by ``style_affine``.

The std written by ``styleclip_getf.py`` is unbiased (ddof 1), as PaddleGAN's;
official StyleCLIP's ``S_mean_std`` uses ddof 0 (the difference is 5e-6
relative at 100,000 samples).

File formats (``C_l`` = ``generator.channels_lst[l]``, every layer, toRGB included):

- PaddleGAN statistics ``stylegan2-{dataset}-styleclip-stats.pdparams``:
  ``paddle.save`` of ``{'mean': [Tensor[C_l]], 'std': [Tensor[C_l]]}``;
- official StyleCLIP statistics ``S_mean_std``: pickle ``[mean list, std list]`` of numpy arrays;
- PaddleGAN S samples ``S-{dataset}.pdparams``: ``paddle.save`` of ``[Tensor[N, C_l]]``;
- official StyleCLIP S samples ``S``: pickle ``[layer names, [N, C_l] arrays]``.
"""
import os

import numpy as np
import paddle

from ..utils.checkpoint import load_pdparams
from ..utils.errors import UserError
from ..utils.fileio import atomic_files



def stats_file_name(dataset_name):
    """PaddleGAN's name of the statistics file of ``dataset_name``."""
    return f"stylegan2-{dataset_name}-styleclip-stats.pdparams"


def s_codes_file_name(dataset_name):
    """PaddleGAN's name of the S samples file of ``dataset_name``."""
    return f"S-{dataset_name}.pdparams"


def split_layers(flat, channels_lst):
    """[N, sum(C_l)] -> list of views [N, C_l] (the last axis split by layer widths)."""
    return np.split(flat, np.cumsum(channels_lst)[:-1], axis=-1)


class StyleStatistics:
    """Streaming per-channel mean and std of S codes, in float64.

    Each batch contributes its (count, mean, M2 = sum of squared deviations),
    merged with Chan et al.'s parallel formula, so memory does not depend on
    the number of samples and the result does not depend on the batch sizes.
    """

    def __init__(self, channels_lst):
        self.channels_lst = list(channels_lst)
        width = sum(self.channels_lst)
        self.count = 0
        self._mean = np.zeros(width, np.float64)
        self._m2 = np.zeros(width, np.float64)

    def update(self, s_codes):
        """Add a batch: a list of [B, C_l] arrays (or tensors), one per layer."""
        batch = np.concatenate([np.asarray(s) for s in s_codes], axis=1, dtype=np.float64)
        if batch.shape[1] != self._mean.size:
            raise ValueError(f"S batch has {batch.shape[1]} channels, expected {self._mean.size}")
        n_b = batch.shape[0]
        mean_b = batch.mean(axis=0)
        batch -= mean_b
        m2_b = np.einsum("ij,ij->j", batch, batch)
        n = self.count + n_b
        delta = mean_b - self._mean
        self._mean += delta * (n_b / n)
        self._m2 += m2_b + delta ** 2 * (self.count * n_b / n)
        self.count = n

    @property
    def mean(self):
        """Per-layer means, list of float64 [C_l]."""
        return split_layers(self._mean.copy(), self.channels_lst)

    def std(self, ddof=1):
        """Per-layer standard deviations (ddof 1: unbiased, PaddleGAN's), list of float64 [C_l]."""
        if self.count <= ddof:
            raise ValueError(f"std with ddof={ddof} needs more than {ddof} samples, got {self.count}")
        return split_layers(np.sqrt(self._m2 / (self.count - ddof)), self.channels_lst)


@paddle.no_grad()
def z_to_s_codes(generator, z, truncation=1.0, truncation_cutoff=None, w_centre=None):
    """z [B, style_dim] (numpy) -> S code as one float32 numpy array [B, sum(C_l)].

    ``truncation_cutoff`` counts W+ rows (None: all); without a cutoff w stays
    2-D, so ``style_affine`` runs each modulation once per sample.
    """
    if truncation_cutoff is not None and truncation_cutoff >= generator.n_latent:
        truncation_cutoff = None
    w = generator.get_latents(paddle.to_tensor(z.astype(np.float32)), truncation, truncation_cutoff, w_centre)
    return paddle.concat(generator.style_affine(w), axis=1).numpy()


def iterate_s_codes(generator, num_samples, batch_size, seed, truncation=1.0, truncation_cutoff=None):
    """Yield the S codes of ``num_samples`` z in batches: float32 [B, sum(C_l)] (see the module docstring)."""
    rng = np.random.RandomState(seed)
    w_centre = generator.truncation_centre(rng, truncation)
    for start in range(0, num_samples, batch_size):
        z = rng.randn(min(batch_size, num_samples - start), generator.style_dim)
        yield z_to_s_codes(generator, z, truncation, truncation_cutoff, w_centre)


def collect_statistics(generator, num_samples, num_saved, batch_size, seed, truncation=1.0,
                       truncation_cutoff=None, progress=None):
    """Stream ``num_samples`` S codes into a StyleStatistics and keep the first ``num_saved``.

    Returns (StyleStatistics, list of float32 [num_saved, C_l]). ``progress``
    (optional) is called with the number of samples of each finished batch.
    """
    channels_lst = generator.channels_lst
    stats = StyleStatistics(channels_lst)
    saved = np.empty((num_saved, sum(channels_lst)), np.float32)
    for s_flat in iterate_s_codes(generator, num_samples, batch_size, seed, truncation, truncation_cutoff):
        start = stats.count
        if start < num_saved:
            rows = min(len(s_flat), num_saved - start)
            saved[start:start + rows] = s_flat[:rows]
        stats.update(split_layers(s_flat, channels_lst))
        if progress is not None:
            progress(len(s_flat))
    return stats, split_layers(saved, channels_lst)


def check_layers(arrays, channels_lst, source, what="statistics"):
    """Raise UserError unless ``arrays`` has one entry per style layer with the generator's widths."""
    if channels_lst is None:
        return
    if len(arrays) != len(channels_lst):
        raise UserError(f"{source} has {len(arrays)} style layers, the generator {len(channels_lst)}; "
                        f"pass the {what} file made for this generator")
    for layer, (array, width) in enumerate(zip(arrays, channels_lst)):
        if array.shape[-1] != width:
            raise UserError(f"{source}: layer {layer} has {array.shape[-1]} channels, the generator {width}; "
                            f"pass the {what} file made for this generator")


def _float32_list(values, source, what):
    """A list of tensors / arrays -> list of float32 numpy arrays; UserError if it is not a list."""
    if not isinstance(values, (list, tuple)):
        raise UserError(f"{source} is not a {what} file (found {type(values).__name__}); "
                        f"pass a {what} file from styleclip_getf.py or StyleCLIP")
    return [np.asarray(value, dtype=np.float32) for value in values]


def load_stats(path, channels_lst=None):
    """Read PaddleGAN's ``{'mean', 'std'}`` file or StyleCLIP's ``S_mean_std`` pickle.

    Returns (mean list, std list) of float32 numpy [C_l], checked against
    ``channels_lst`` when given.
    """
    data = load_pdparams(path, "{stat_path}")
    if isinstance(data, dict) and {"mean", "std"} <= data.keys():
        mean, std = data["mean"], data["std"]
    elif isinstance(data, (list, tuple)) and len(data) == 2:
        mean, std = data
    else:
        raise UserError(f"{path} is neither a {{'mean', 'std'}} statistics file nor a StyleCLIP S_mean_std pickle; "
                        f"pass a statistics file with {{stat_path}}")
    mean, std = _float32_list(mean, path, "statistics"), _float32_list(std, path, "statistics")
    if any(m.ndim != 1 or m.shape != s.shape for m, s in zip(mean, std)) or len(mean) != len(std):
        raise UserError(f"{path} does not hold mean and std vectors of equal shapes per layer; "
                        f"pass a statistics file with {{stat_path}}")
    check_layers(mean, channels_lst, path)
    return mean, std


def load_s_codes(path, channels_lst=None, num=None):
    """Read PaddleGAN's S samples (list of [N, C_l]) or StyleCLIP's ``S`` pickle ([names, arrays]).

    Returns a list of float32 numpy [N, C_l] (the first ``num`` samples when
    given), checked against ``channels_lst`` when given.
    """
    data = load_pdparams(path, "{S_path}")
    if (isinstance(data, (list, tuple)) and len(data) == 2 and isinstance(data[0], (list, tuple))
            and all(isinstance(name, str) for name in data[0])):
        data = data[1]
    s_codes = _float32_list(data, path, "S samples")
    if any(s.ndim != 2 or len(s) != len(s_codes[0]) for s in s_codes):
        raise UserError(f"{path} does not hold [N, C] arrays with the same N per layer; "
                        f"pass an S samples file with {{S_path}}")
    check_layers(s_codes, channels_lst, path, "S samples")
    if num is not None:
        if num > len(s_codes[0]):
            raise UserError(f"{path} has {len(s_codes[0])} S samples, {num} are needed; "
                            f"ask for fewer or pass a larger file with {{S_path}}")
        s_codes = [s[:num] for s in s_codes]
    return s_codes


def _named_tensors(arrays, prefix):
    """float32 paddle tensors named ``{prefix}_{i}`` (stable names keep saved files byte-identical)."""
    tensors = []
    for i, array in enumerate(arrays):
        tensor = paddle.to_tensor(np.asarray(array, dtype=np.float32))
        tensor.name = f"{prefix}_{i}"
        tensors.append(tensor)
    return tensors


def write_stats(path, mean, std):
    """Write PaddleGAN's statistics file ``{'mean': [Tensor[C_l]], 'std': [...]}`` to ``path``."""
    paddle.save({"mean": _named_tensors(mean, "mean"), "std": _named_tensors(std, "std")}, path)


def write_s_codes(path, s_codes):
    """Write PaddleGAN's S samples file (list of float32 Tensor [N, C_l]) to ``path``."""
    paddle.save(_named_tensors(s_codes, "s_codes"), path)


def save_statistics_files(s_codes_path, stats_path, s_codes, mean, std):
    """Write both files; neither appears unless both were written completely."""
    root = os.path.commonpath([os.path.dirname(os.path.abspath(path)) for path in (s_codes_path, stats_path)])
    with atomic_files(root, "{output_dir}") as staged:
        write_s_codes(staged.path(s_codes_path), s_codes)
        write_stats(staged.path(stats_path), mean, std)
