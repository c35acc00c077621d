"""The domain's one error type. Each kind carries how the API answers it (`status_code`, `code`), so that the API's
exception handler needs to know no app: a new kind of error in an app says its own code."""


class PromptOptError(Exception):
    """An error a person can act on: its message is shown as is in pages, the API and the CLI. The API answers it
    with this status and code: the request was understood, and the rules refuse it (the message says which)."""

    status_code = 400
    code = "refused"

    def __init__(self, message, **extra):
        super().__init__(message)
        self.message = message
        self.extra = extra


class NotAllowed(PromptOptError):
    """The user may not do this (a role they lack, or a rule such as approving their own version)."""

    status_code = 403
    code = "permission_denied"


class InUse(PromptOptError):
    """Other records still refer to the object, so it is kept (a run's results and the dataset they scored)."""

    status_code = 409
    code = "conflict"
