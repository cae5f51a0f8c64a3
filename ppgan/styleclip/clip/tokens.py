"""CLIP's tokenizer (PyPI ``paddleclip``) on prompts: token counts, checked token batches.

``tokenize`` turns texts into CLIP's token ids padded to the longest text (at most
``CONTEXT_LENGTH`` = 77 tokens, the start and end tokens included).
"""
import clip  # PyPI paddleclip (absolute import: not the package ppgan.styleclip.clip)
import numpy as np

from ...utils.errors import UserError

CONTEXT_LENGTH = 77


def token_count(text):
    """CLIP tokens of ``text``, its start and end tokens included (at most CONTEXT_LENGTH fit)."""
    return len(clip.tokenizer.encode(text)) + 2


def shorten(text, limit=60):
    """``text`` quoted, cut to ``limit`` characters with an ellipsis (for one-line messages)."""
    return repr(text if len(text) <= limit else text[:limit - 1] + "\u2026")


def tokenize(texts):
    """Texts -> (tokens int64 [N, L], end-of-text index int64 [N]); L is the longest prompt, at most 77.

    A prompt longer than CLIP's 77-token context raises UserError (the encoder's own limit; an edit's
    texts are checked before any model loads, by ``ppgan.styleclip.edit.check_texts``).
    """
    start, end = clip.tokenizer.encoder["<|startoftext|>"], clip.tokenizer.encoder["<|endoftext|>"]
    sequences = []
    for text in texts:
        sequence = [start] + clip.tokenizer.encode(text) + [end]
        if len(sequence) > CONTEXT_LENGTH:
            raise UserError(f"text {shorten(text)} is {len(sequence)} CLIP tokens, more than the "
                            f"{CONTEXT_LENGTH} CLIP reads; shorten it")
        sequences.append(sequence)
    length = max(len(sequence) for sequence in sequences)
    tokens = np.zeros((len(sequences), length), np.int64)
    for row, sequence in enumerate(sequences):
        tokens[row, :len(sequence)] = sequence
    return tokens, np.array([len(sequence) - 1 for sequence in sequences], np.int64)
