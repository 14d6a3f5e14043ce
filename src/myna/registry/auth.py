"""Staff passwords, stored with scrypt (RFC 7914) from the standard library."""

from __future__ import annotations

import base64
import hashlib
import hmac
import secrets

from myna.errors import ValidationError
from myna.text import check_characters, check_length

_N, _R, _P = 2**14, 8, 1


def hash_password(password: str) -> str:
    """``scrypt$N$r$p$salt$hash`` for storage.

    >>> verify_password("正しいパスワード1", hash_password("正しいパスワード1"))
    True
    """
    if len(password) < 8:
        raise ValidationError(
            "パスワードは8文字以上にしてください", "password must have at least 8 characters"
        )
    check_length(password, "パスワード", 200, label_en="password")
    check_characters(password, "パスワード", label_en="password")
    salt = secrets.token_bytes(16)
    digest = hashlib.scrypt(password.encode(), salt=salt, n=_N, r=_R, p=_P, dklen=32)
    return "$".join(
        ["scrypt", str(_N), str(_R), str(_P), base64.b64encode(salt).decode(),
         base64.b64encode(digest).decode()]
    )


def verify_password(password: str, stored: str) -> bool:
    """Constant-time check of ``password`` against a stored hash."""
    try:
        scheme, n, r, p, salt, digest = stored.split("$")
    except ValueError:
        return False
    if scheme != "scrypt":
        return False
    candidate = hashlib.scrypt(
        password.encode("utf-8", "surrogatepass"), salt=base64.b64decode(salt),
        n=int(n), r=int(r), p=int(p), dklen=32,
    )
    return hmac.compare_digest(candidate, base64.b64decode(digest))
