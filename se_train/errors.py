"""The one exception type for mistakes a user can fix (bad file, bad field, bad name)."""


class UserError(Exception):
    """Bad input from the user. The CLI prints its message as one line and exits with status 2.

    The message names the file, field or shard at fault and, where it helps, the fix.
    """


class Interrupted(Exception):
    """A sweep stopped before its end (Ctrl-C, SIGUSR1), its state saved by Tune. The CLI prints
    the resume command and exits with status 130, as a shell does for Ctrl-C."""

    def __init__(self, experiment: str) -> None:
        super().__init__(experiment)
        self.experiment = experiment


def first_line(error: Exception) -> str:
    """An error's message in one line (a library's may run to a whole HTTP response or traceback)."""
    text = str(error).strip()
    return text.splitlines()[0][:200] if text else type(error).__name__
