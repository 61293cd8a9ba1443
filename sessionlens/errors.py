"""The one exception hierarchy of sessionlens.

Library code raises these; the CLI turns them into one-line messages
(``click.ClickException``) so that users never see a traceback.
"""


class SessionlensError(Exception):
    """Base class of every error sessionlens raises on purpose."""


class InputError(SessionlensError):
    """A path, file or option given by the user cannot be used."""


class FormatError(SessionlensError):
    """A log format string or format name is invalid or unknown."""


class DetectionError(FormatError):
    """No known format matches the first lines of a file."""


class LakeError(SessionlensError):
    """The lake directory is missing, unreadable or inconsistent."""


class LakeLockedError(LakeError):
    """Another sessionlens process is writing to the same lake."""


class RulesError(SessionlensError):
    """A session-error rule file is malformed."""


class QueryError(SessionlensError):
    """A SQL query over the lake failed."""
