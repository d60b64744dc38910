"""Sign-in sessions: signed, expiring tokens; session rows that sign-out ends (SQLite and PostgreSQL)."""

from __future__ import annotations

import os
import stat
import time
from datetime import UTC, datetime, timedelta

import pytest
from itsdangerous import TimestampSigner

from terrmap.store.sessions import SECRET_ENV, SessionTokens, session_secret

SECRET = "s" * 40
T0 = datetime(2026, 12, 3, 9, 0, tzinfo=UTC)


class TestTokens:
    def test_round_trip(self):
        tokens = SessionTokens(SECRET)
        assert tokens.read(tokens.issue("ann", "sid-1", "abc")) == ("ann", "sid-1", "abc")

    def test_token_holds_no_secret_and_no_password(self):
        token = SessionTokens(SECRET).issue("ann", "sid-1", "digest")
        assert SECRET not in token
        assert "password" not in token

    def test_other_secret_is_refused(self):
        token = SessionTokens("t" * 40).issue("ann", "sid-1")
        assert SessionTokens(SECRET).read(token) is None

    def test_changed_username_is_refused(self):
        tokens = SessionTokens(SECRET)
        token = tokens.issue("rita", "sid-1")
        payload, signature = token.rsplit(".", 1)[0], token.rsplit(".", 1)[1]
        forged_payload = SessionTokens("t" * 40).issue("ada", "sid-1").rsplit(".", 1)[0]
        assert tokens.read(f"{forged_payload}.{signature}") is None
        assert tokens.read(f"{payload}.{signature}") == ("rita", "sid-1", "")

    @pytest.mark.parametrize("token", ["", None, "garbage", "a.b.c", "ann"])
    def test_malformed_is_refused(self, token):
        assert SessionTokens(SECRET).read(token) is None

    def test_expired_is_refused(self, monkeypatch):
        tokens = SessionTokens(SECRET, ttl=timedelta(hours=1))
        fresh = tokens.issue("ann", "sid-1")
        two_hours_ago = int(time.time()) - 7200
        with monkeypatch.context() as patch:
            patch.setattr(TimestampSigner, "get_timestamp", lambda _self: two_hours_ago)
            old = tokens.issue("ann", "sid-1")
        assert tokens.read(fresh) == ("ann", "sid-1", "")
        assert tokens.read(old) is None

    def test_payload_of_wrong_shape_is_refused(self):
        tokens = SessionTokens(SECRET)
        wrong = tokens._serializer.dumps(["ann", "sid"])
        assert tokens.read(wrong) is None

    def test_short_secret_is_refused(self):
        with pytest.raises(ValueError, match="at least 32"):
            SessionTokens("short")

    def test_repr_hides_the_secret(self):
        assert SECRET not in repr(SessionTokens(SECRET))


class TestSecret:
    def test_created_next_to_the_user_file_private_and_kept(self, tmp_path, monkeypatch):
        monkeypatch.delenv(SECRET_ENV, raising=False)
        users = tmp_path / "users.csv"
        first = session_secret(users)
        path = tmp_path / "users.csv.secret"
        assert path.read_text().strip() == first
        assert stat.S_IMODE(os.stat(path).st_mode) == 0o600
        assert session_secret(users) == first
        assert len(first) >= 32

    def test_environment_wins(self, tmp_path, monkeypatch):
        monkeypatch.setenv(SECRET_ENV, "e" * 32)
        assert session_secret(tmp_path / "users.csv") == "e" * 32
        assert not (tmp_path / "users.csv.secret").exists()

    def test_short_environment_secret_names_the_variable(self, tmp_path, monkeypatch):
        monkeypatch.setenv(SECRET_ENV, "short")
        with pytest.raises(ValueError, match=SECRET_ENV):
            session_secret(tmp_path / "users.csv")


class TestSessionRows:
    def test_live_until_it_expires(self, store):
        sid = store.start_session("ann", ttl=timedelta(hours=1), now=T0)
        assert store.session_user(sid, now=T0 + timedelta(minutes=59)) == "ann"
        assert store.session_user(sid, now=T0 + timedelta(hours=1)) is None

    def test_sign_out_ends_it_once(self, store):
        sid = store.start_session("ann", now=T0)
        other = store.start_session("ann", now=T0)
        assert store.end_session(sid, now=T0) is True
        assert store.end_session(sid, now=T0) is False
        assert store.session_user(sid, now=T0) is None
        assert store.session_user(other, now=T0) == "ann"  # another tab's sign-in stays

    def test_end_every_session_of_a_user(self, store):
        ids = [store.start_session("ann", now=T0) for _ in range(3)]
        kept = store.start_session("lou", now=T0)
        assert store.end_sessions_of("ann", now=T0) == 3
        assert [store.session_user(s, now=T0) for s in ids] == [None] * 3
        assert store.session_user(kept, now=T0) == "lou"

    def test_unknown_session(self, store):
        assert store.session_user("no-such-session") is None

    def test_ids_are_random_and_distinct(self, store):
        ids = {store.start_session("ann", now=T0) for _ in range(20)}
        assert len(ids) == 20
        assert all(len(s) >= 32 for s in ids)

    def test_prune_drops_only_expired(self, store):
        old = store.start_session("ann", ttl=timedelta(hours=1), now=T0)
        new = store.start_session("ann", ttl=timedelta(hours=1), now=T0 + timedelta(hours=5))
        assert store.prune_sessions(now=T0 + timedelta(hours=2)) == 1
        assert store.session_user(old, now=T0 + timedelta(minutes=1)) is None
        assert store.session_user(new, now=T0 + timedelta(hours=5, minutes=1)) == "ann"

    @pytest.mark.parametrize("username", ["", "   "])
    def test_needs_a_username(self, store, username):
        with pytest.raises(ValueError, match="username"):
            store.start_session(username)

    def test_needs_a_positive_ttl(self, store):
        with pytest.raises(ValueError, match="ttl"):
            store.start_session("ann", ttl=timedelta(0))
