"""The one exception type a user can act on."""
import re

# An input named in a message: its argument name in braces, e.g. "{direction_path}".
INPUT_NAME = re.compile(r"\{([A-Za-z][A-Za-z0-9_]*)\}")


class UserError(Exception):
    """Bad input, a missing file or an impossible request.

    The message is a single line that names the problem and the fix. It names inputs by their
    argument names in braces (``"pass a direction file with {direction_path}"``): ``str()``
    shows the name as it is (``direction_path``, the keyword of the Python API), ``as_flags()``
    as the command line's flag (``--direction_path``), which is how ``ppgan.cli`` prints it
    (``error: <message>``, exit status 2). Library code never writes a flag itself.
    """

    def __str__(self):
        return self.naming_inputs(str)

    def as_flags(self):
        """The message with every input named as its command-line flag."""
        return self.naming_inputs(flag)

    def naming_inputs(self, words_for):
        """The message with every input named as ``words_for(argument name)`` (the page: its fields' words)."""
        return INPUT_NAME.sub(lambda match: words_for(match.group(1)), super().__str__())


def flag(name):
    """The command-line flag of the input ``name``: ``--name``."""
    return f"--{name}"
