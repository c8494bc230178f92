"""The one shape of a refusal: a stable machine `code` (API, tests) and a human `message` (Chinese UI)."""


class CodedError(Exception):
    def __init__(self, code: str, message: str) -> None:
        super().__init__(message)
        self.code = code
        self.message = message

    def __str__(self) -> str:
        return self.message
