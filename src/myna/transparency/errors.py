"""Errors of the provision-record log and its witness (Japanese first, English second)."""

from __future__ import annotations

from myna.errors import Conflict, MynaError, NotFound, ValidationError


class TransparencyError(MynaError):
    """Base of every error of :mod:`myna.transparency`."""

    code = "transparency"


class MalformedNote(TransparencyError, ValidationError):
    """A signed note or checkpoint that does not follow the C2SP format."""

    code = "malformed_note"


class SignatureInvalid(TransparencyError):
    """A required signature is missing or does not verify."""

    code = "bad_signature"


class LogCorrupted(TransparencyError):
    """The stored tree is not in the shape the log expects (run ``myna log verify``)."""

    code = "log_corrupted"


class WitnessRefused(TransparencyError):
    """The witness will not cosign this checkpoint."""

    code = "witness_refused"


class UnknownLog(WitnessRefused, NotFound):
    """The witness has no public key registered for this log."""

    code = "unknown_log"


class LogRolledBack(WitnessRefused):
    """The checkpoint is smaller than one the witness already cosigned."""

    code = "log_rolled_back"


class LogForked(WitnessRefused):
    """Two different roots for the same tree size: a split view."""

    code = "log_forked"


class InconsistentLog(WitnessRefused):
    """The consistency proof from the last cosigned checkpoint does not verify."""

    code = "inconsistent_log"


class OldSizeMismatch(WitnessRefused, Conflict):
    """The proof was made from a size other than the witness's latest (C2SP 409)."""

    code = "old_size_mismatch"

    def __init__(self, message_ja: str, message_en: str, latest_size: int) -> None:
        super().__init__(message_ja, message_en)
        self.latest_size = latest_size
