"""The one exception hierarchy of sessionlens, and the exit codes of its command line.

Library code raises these; the CLI turns them into one-line messages
(``click.ClickException``, in one place: ``sessionlens.cli``) so that users
never see a traceback. Each error class carries the exit code it ends the
command with (docs/cli.md lists them).
"""

# Exit codes of the command line: distinct, so a script or a scheduler can tell them apart.
EXIT_OK = 0
EXIT_INPUT = 1  # a SessionlensError: bad file, bad lake, bad query, bad time...
EXIT_USAGE = 2  # click's own (an unknown flag, a bad value) and a malformed sessionlens.toml
EXIT_FINDINGS = 3  # --fail-on found what was asked for (analyze, nightly)
EXIT_CANNOT_JUDGE = 4  # no-signal or no-data: no all-clear
EXIT_INTERNAL = 70  # EX_SOFTWARE (sysexits.h): a bug
EXIT_INTERRUPTED = 130  # 128 + SIGINT: Ctrl-C


class SessionlensError(Exception):
    """Base class of every error sessionlens raises on purpose."""

    exit_code = EXIT_INPUT


class InputError(SessionlensError):
    """A path, file or option given by the user cannot be used."""


class ConfigError(SessionlensError):
    """sessionlens.toml is malformed or names a setting no command has: a usage error."""

    exit_code = EXIT_USAGE


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


class EngineError(SessionlensError):
    """A distributed engine's job failed: a task kept failing past the engine's retries."""


class QueryError(SessionlensError):
    """A SQL query over the lake failed."""
