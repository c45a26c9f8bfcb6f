"""The one exception the bridge raises for inputs it cannot honour."""


class RrtTorchError(Exception):
    """A checkpoint or model the bridge refuses, with the reason in words.

    `kind` names the failure for code that wants to branch on it:
    'format' (the files disagree with each other), 'unsupported' (an architecture or
    encoding the bridge does not handle), 'adapter' (a LoRA adapter missing, merged or of
    the wrong rank), 'tying' (a slot's weights no longer shared), 'exists' (refusing to
    replace a directory).
    """

    def __init__(self, kind: str, message: str):
        super().__init__(message)
        self.kind = kind
