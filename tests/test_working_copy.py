"""Private working copies: keys, ownership and expiry (terrmap.web.working_copy)."""

from __future__ import annotations

import hashlib
import re
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

import pytest
from hypothesis import given
from hypothesis import strategies as st

from terrmap.web import working_copy as wc

NOW = datetime(2026, 12, 3, 12, 0, tzinfo=UTC)


@dataclass(frozen=True)
class Copy:
    session_key: str
    saved_at: datetime


class TestKeys:
    def test_key_is_random_part_and_the_hash_of_the_owner_secret(self):
        secret = wc.new_browser_secret()
        key = wc.new_key(secret)
        random_part, tag = key.split(".")
        assert re.fullmatch(r"[A-Za-z0-9_-]{22}", random_part)  # 128 random bits
        assert tag == hashlib.sha256(f"terrmap-owner:{secret}".encode()).hexdigest()[:16]
        assert secret not in key

    def test_keys_and_secrets_never_repeat(self):
        secret = wc.new_browser_secret()
        assert len({wc.new_key(secret) for _ in range(1000)}) == 1000
        assert len({wc.new_browser_secret() for _ in range(1000)}) == 1000

    def test_only_the_author_owns_a_key(self):
        author, other = wc.new_browser_secret(), wc.new_browser_secret()
        key = wc.new_key(author)
        assert wc.is_own(key, author)
        assert not wc.is_own(key, other)

    @pytest.mark.parametrize(
        "key",
        [
            "attackerchosen01",
            "",
            "0123456789abcdef",
            "a.b",
            None,
            7,
            "x" * 22 + ".ZZZZZZZZZZZZZZZZ",
        ],
    )
    def test_made_up_or_old_keys_belong_to_nobody(self, key):
        assert not wc.is_own(key, wc.new_browser_secret())

    @given(
        st.text(
            alphabet="abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789_-",
            min_size=22,
            max_size=22,
        )
    )
    def test_another_random_part_with_a_stolen_tag_is_still_not_the_thiefs(self, random_part):
        author, thief = wc.new_browser_secret(), wc.new_browser_secret()
        stolen_tag = wc.new_key(author).split(".")[1]
        assert wc.is_own(f"{random_part}.{stolen_tag}", author)
        assert not wc.is_own(f"{random_part}.{stolen_tag}", thief)

    @pytest.mark.parametrize("cookie", [None, "", "short", "x" * 44, "a b" + "c" * 40, 12])
    def test_cookie_values_that_are_not_secrets_are_refused(self, cookie):
        assert not wc.is_valid_secret(cookie)
        with pytest.raises(ValueError, match="browser secret"):
            wc.owner_tag(cookie)

    def test_a_new_secret_is_valid(self):
        assert wc.is_valid_secret(wc.new_browser_secret())


class TestCopies:
    def test_own_copies_latest_first_without_expired_others_or_the_current(self):
        me, other = wc.new_browser_secret(), wc.new_browser_secret()
        old = Copy(wc.new_key(me), NOW - timedelta(days=3))
        new = Copy(wc.new_key(me), NOW - timedelta(hours=1))
        current = Copy(wc.new_key(me), NOW)
        stale = Copy(wc.new_key(me), NOW - timedelta(days=30))
        theirs = Copy(wc.new_key(other), NOW)
        legacy = Copy("0123456789abcdef", NOW)
        copies = [old, theirs, stale, current, new, legacy]
        got = wc.own_copies(copies, me, NOW, ttl=timedelta(days=14), exclude=current.session_key)
        assert got == [new, old]

    def test_expired_at_the_ttl_boundary(self):
        ttl = timedelta(days=14)
        on_edge = Copy("a", NOW - ttl)
        past = Copy("b", NOW - ttl - timedelta(seconds=1))
        assert wc.expired([on_edge, past], NOW, ttl) == ["b"]
