"""Composed edits: several text edits of one face at once, S = S_src + sum over edits of strength_i * delta_s_i.

One edit is one line of text, the form the edit command's ``{edit}`` and ``{recipe}`` take and the
page exports: ``TARGET = STRENGTH``, optionally with the neutral text before ``->`` and beta after
``@``: ``smiling face = 3``, ``face -> face with glasses = 2 @ 0.12`` (``auto``: the official GUI's
beta). Edits without them take the command's neutral text and beta. ``=``, ``->`` and ``@`` separate
the fields, so the texts cannot contain them. Each edit's delta_s is a single edit's
(``ppgan.styleclip.edit.edit_direction``); the composition is written as one edit named after its
targets and strengths (``composition_name``).
"""
import collections
import hashlib
import math
import re

import numpy as np

from ..utils.checks import check_input_file
from ..utils.errors import UserError
from .edit import DEFAULT_BETA, MAX_STRENGTH, as_beta, check_texts

MAX_NAME = 80  # characters of a composition's name in file names
RECIPE_NAME = "dst.editing.recipe.txt"  # the page's export of its accepted edits
EDIT_FORM = "TARGET = STRENGTH or NEUTRAL -> TARGET = STRENGTH @ BETA, e.g. 'smiling face = 3'"

EditSpec = collections.namedtuple("EditSpec", "neutral target strength beta")
EditSpec.__doc__ = "One edit of a composition: neutral and target texts, strength (a float) and beta (a float or 'auto')."
Composition = collections.namedtuple("Composition", "edits directions delta_s name")
Composition.__doc__ = ("Composed edits: edits (``EditSpec`` list), directions (their ``EditDirection``s), delta_s "
                       "(list of float32 [C_l]: the sum of strength * delta_s, rendered at strength 1) and name.")


def number_text(value):
    """A number as the shortest text that reads back as the same float: 3.0 -> '3', 0.05 -> '0.05'."""
    return f"{value:g}" if float(f"{value:g}") == value else repr(float(value))


def parse_edit(text, neutral="face", beta=DEFAULT_BETA, where="{edit}"):
    """One edit's text (see the module) -> ``EditSpec``; ``neutral`` and ``beta`` fill what it leaves out.

    ``where`` names the input in errors (``{edit}``, or a recipe file's line).
    """
    def refuse(problem):
        raise UserError(f"{where} {text!r} {problem}; write {EDIT_FORM}")

    body, equals, right = text.rpartition("=")
    if not equals:
        refuse("has no strength")
    strength_text, at, beta_text = right.partition("@")
    texts = body.split("->")
    if len(texts) > 2:
        refuse("has more than one '->'")
    neutral, target = (neutral, texts[0]) if len(texts) == 1 else texts
    try:
        strength = float(strength_text)
    except ValueError:
        refuse(f"has strength {strength_text.strip()!r}, not a number")
    if not (math.isfinite(strength) and 0 < abs(strength) <= MAX_STRENGTH):
        refuse(f"has strength {strength_text.strip()}; give a number from -{MAX_STRENGTH:g} to {MAX_STRENGTH:g}, not 0")
    if at:
        try:
            beta = as_beta(beta_text.strip())
        except UserError:
            refuse(f"has beta {beta_text.strip()!r}; give a number >= 0 or auto")
    if not neutral.strip() or not target.strip():
        refuse("has an empty text")
    return EditSpec(neutral.strip(), target.strip(), strength + 0.0, beta)


def edit_text(edit):
    """The one line of an ``EditSpec`` that ``parse_edit`` reads back as it is: 'face -> smiling face = 3 @ 0.12'."""
    beta = edit.beta if edit.beta == "auto" else number_text(edit.beta)
    return f"{edit.neutral} -> {edit.target} = {number_text(edit.strength)} @ {beta}"


def read_recipe(path, neutral="face", beta=DEFAULT_BETA):
    """The edits of a recipe file: one edit per line (``parse_edit``), blank lines and ``#`` comments skipped."""
    check_input_file("{recipe}", path, "a recipe file (one edit per line)")
    try:
        with open(path, encoding="utf-8") as f:
            lines = f.read().splitlines()
    except (OSError, UnicodeDecodeError) as exc:
        raise UserError(f"{{recipe}} {path} cannot be read as text ({exc}); pass a text file, one edit per line")
    edits = [parse_edit(line, neutral, beta, f"{{recipe}} {path} line {number}:")
             for number, line in enumerate(lines, 1) if line.strip() and not line.lstrip().startswith("#")]
    if not edits:
        raise UserError(f"{{recipe}} {path} has no edit; write one per line: {EDIT_FORM}")
    return edits


def write_recipe(path, lines):
    """Write a recipe file: the edits' lines (``edit_text``), one per line."""
    with open(path, "w", encoding="utf-8") as f:
        f.write("".join(f"{line}\n" for line in lines))


def check_edits(edits, templates="paddlegan"):
    """``check_texts`` of every edit, its error prefixed with the edit's text."""
    for edit in edits:
        try:
            check_texts(edit.neutral, edit.target, templates)
        except UserError as exc:
            raise UserError(f"edit {edit_text(edit)!r}: {exc}") from None


def composition_name(edits):
    """A file-name-safe name saying what was composed: 'smiling-face_3+face-with-glasses_-1.5'.

    Targets in lower case with every run of other characters than a-z and 0-9 turned into '-';
    names over MAX_NAME characters are cut and end in 8 hex digits of a hash of the whole.
    """
    parts = [f"{re.sub('[^a-z0-9]+', '-', edit.target.lower()).strip('-') or 'edit'}_{edit.strength:g}"
             for edit in edits]
    name = "+".join(parts)
    if len(name) > MAX_NAME:
        name = f"{name[:MAX_NAME - 9]}~{hashlib.sha1(name.encode()).hexdigest()[:8]}"
    return name


def compose(edits, directions):
    """``Composition`` of edits and their ``EditDirection``s: delta_s[l] = sum_i float32(strength_i) *
    delta_s_i[l], in the edits' order (float32, as ``edit_styles`` scales one)."""
    delta_s = [sum(np.float32(edit.strength) * direction.delta_s[layer] for edit, direction in zip(edits, directions))
               for layer in range(len(directions[0].delta_s))]
    return Composition(list(edits), list(directions), delta_s, composition_name(edits))


def shared_channels(composition):
    """One line: how many style channels two or more of the edits move, and which edits share them."""
    moved = np.stack([np.concatenate([delta != 0 for delta in direction.delta_s])
                      for direction in composition.directions])
    shared = int(np.count_nonzero(moved.sum(axis=0) >= 2))
    if not shared:
        return f"the {len(moved)} edits move no style channel in common"
    pairs = [f"'{first.target}' & '{second.target}' {np.count_nonzero(moved[i] & moved[j])}"
             for i, first in enumerate(composition.edits) for j, second in enumerate(composition.edits)
             if i < j and np.count_nonzero(moved[i] & moved[j])]
    return f"{shared} style channels are moved by more than one edit: {', '.join(pairs)}"
