"""OpenAI-style identifier generation.

IDs look like ``<prefix><24 random alphanumerics>``, e.g. ``org-AbC...`` or
``proj_AbC...``. The random part comes from :mod:`secrets`, so IDs are not
guessable (about 142 bits of entropy), which matters because some of them
appear in URLs.
"""

from __future__ import annotations

import secrets
import string

ID_ALPHABET = string.ascii_letters + string.digits
"""Characters used for the random part of an ID (``[A-Za-z0-9]``)."""

ID_RANDOM_LENGTH = 24
"""Number of random characters after the prefix."""


def new_id(prefix: str) -> str:
    """Return ``prefix`` followed by 24 random alphanumeric characters.

    >>> len(new_id("org-")) == len("org-") + 24
    True
    """
    return prefix + "".join(secrets.choice(ID_ALPHABET) for _ in range(ID_RANDOM_LENGTH))
