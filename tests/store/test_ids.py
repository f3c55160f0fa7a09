from __future__ import annotations

import re

from hearth.store.ids import new_id


def test_new_id_shape() -> None:
    for prefix in ("org-", "proj_", "key_"):
        value = new_id(prefix)
        assert re.fullmatch(re.escape(prefix) + r"[A-Za-z0-9]{24}", value), value


def test_new_id_unique() -> None:
    assert len({new_id("x_") for _ in range(1000)}) == 1000
