class PromptOptError(Exception):
    """An error a person can act on: its message is shown as is in pages, the API and the CLI."""

    def __init__(self, message, **extra):
        super().__init__(message)
        self.message = message
        self.extra = extra


class NotAllowed(PromptOptError):
    """The user may not do this (a role they lack, or a rule such as approving their own version)."""


class InUse(PromptOptError):
    """Other records still refer to the object, so it is kept (a run's results and the dataset they scored)."""
