"""The one exception type a user can act on."""


class UserError(Exception):
    """Bad input, a missing file or an impossible request.

    The message is a single line that names the problem and the fix; command
    line tools print it as ``error: <message>`` and exit with status 2.
    """
