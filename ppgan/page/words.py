"""The page's status lines, in the page's own words: edits, faces, slider values and errors.

Library messages (``UserError``) name their inputs by argument name (``{target}``); the page
shows them with ``PAGE_WORDS`` (its fields, sliders and uploads) and names an input only the
page's command line sets as that option (``input_words``). Library messages stay as they are.
"""
import math
import os

from ..utils.errors import flag

# Argument name -> how the page names that input (every input of a UserError the page can show).
PAGE_WORDS = {
    "neutral": "the Neutral field",
    "target": "the Target field",
    "beta_threshold": "the beta slider",
    "direction_offset": "the Strip strengths field",
    "sweep": "the Sweep frames field",
    "templates": "the prompt template set",  # chosen when the page is started: the page has no menu for it
    "latent": "the uploaded W+ .npy",
}
NEXT_STEP = "Now move the Strength slider to apply it; Accept keeps it."
NEW_FACE = "New face: type a target description, then move the strength slider."


def input_words(name):
    """How the page names the input ``name``: its words for it, else the start option only its command line sets."""
    return PAGE_WORDS.get(name) or f"the page's start option {flag(name)}"


def error_message(exc, path=None):
    """Status line of a UserError in the page's words; a server-side upload ``path`` in it is shown as the
    uploaded file's name."""
    text = exc.naming_inputs(input_words)
    if path:
        text = text.replace(path, os.path.basename(path))
    return f"**Error:** {text}"


def channel_message(direction, neutral, target, strength, preview_size=None):
    """Status line of an edit: how many channels move at which beta; at strength 0, what to do next."""
    where = f" (preview {preview_size} px)" if preview_size else ""
    line = (f"'{neutral}' -> '{target}': beta {direction.beta:g} moves **{direction.moved}** of "
            f"{direction.channels} style channels (max |r| {direction.max_relevance:.3f}){where}")
    return f"{line}. {NEXT_STEP}" if strength == 0 and not preview_size else line


def slider_value(value, value_range, label):
    """A slider's value as sent by the browser (its number box takes any text) -> (float or None, note).

    A number outside ``value_range`` (low, high) is clamped to it, with a note saying so; what is not a
    finite number is None, with a note asking for one. The note is "" for a value in range.
    """
    low, high = value_range
    try:
        number = float(value)
    except (TypeError, ValueError):
        number = math.nan
    if not math.isfinite(number):
        return None, f"{label} {value!r} is not a number: type one from {low:g} to {high:g}."
    clamped = min(max(number, low), high)
    if clamped != number:
        return clamped, f"{label} {number:g} is outside the slider's range {low:g} to {high:g}: set to {clamped:g}."
    return number, ""


def face_choices(count):
    """The Face menu of a photo with ``count`` faces: (label, index) pairs, largest face first."""
    return [(f"Face {index + 1}" + (" (largest)" if index == 0 else ""), index) for index in range(count)]


def face_message(index, count):
    """Status line of a photo's face just picked: which one of how many (and where to pick another)."""
    if count == 1:
        return NEW_FACE
    which = " (the largest)" if index == 0 else ""
    return (f"Editing face {index + 1} of {count}{which}; pick another in the Face menu. "
            "Type a target description, then move the strength slider.")
