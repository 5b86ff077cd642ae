"""The one exception every handler raises to answer with an AWS error."""


class AwsError(Exception):
    """An AWS error answer; `messages` is only used by Route53 InvalidChangeBatch."""

    def __init__(self, code, message, status=400, messages=None):
        super().__init__(f"{code}: {message}")
        self.code = code
        self.message = message
        self.status = status
        self.messages = messages

    @property
    def sender(self):
        return self.status < 500


class DropConnection(Exception):
    """Close the socket without answering (simulated network failure)."""

    def __init__(self, hang=0.0):
        super().__init__("drop")
        self.hang = hang
