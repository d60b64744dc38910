"""Sign-in without an identity provider: the user file, password hashes, roles."""

import io
import logging
import sys

import pytest

from terrmap.cli import main
from terrmap.playbook.roles import (
    ACTIONS,
    PAGES,
    ROLES,
    User,
    can,
    pages_for,
    require,
    visible_reps,
)
from terrmap.store.users import USERS_ENV, add_user, authenticate, hash_password, load_users

PASSWORD = "correct horse battery"


@pytest.fixture
def users_file(tmp_path):
    path = tmp_path / "users.csv"
    add_user(path, "ann", role="manager", password=PASSWORD, display_name="Ann Lee")
    add_user(path, "rita", role="rep", password="rita-password", rep_id="R1")
    add_user(path, "lee@example.com", role="leadership", password=None)
    return path


class TestUserFile:
    def test_hash_not_password_on_disk(self, users_file):
        text = users_file.read_text()
        assert PASSWORD not in text
        assert "$argon2id$" in text
        assert text.splitlines()[0] == "username,display_name,role,rep_id,password_hash"

    def test_file_is_private(self, users_file):
        assert users_file.stat().st_mode & 0o077 == 0

    def test_right_password_signs_in(self, users_file):
        users = load_users(users_file)
        assert authenticate(users, "ann", PASSWORD) == User("ann", "Ann Lee", "manager")
        assert authenticate(users, " rita ", "rita-password").rep_id == "R1"

    @pytest.mark.parametrize(
        ("username", "password"),
        [("ann", "wrong password"), ("nobody", PASSWORD), ("lee@example.com", "")],
    )
    def test_wrong_unknown_or_oidc_only_refused(self, users_file, username, password):
        assert authenticate(load_users(users_file), username, password) is None

    def test_replacing_a_user_keeps_the_others(self, users_file):
        add_user(users_file, "ann", role="admin", password="another password")
        users = load_users(users_file)
        assert users["ann"].user.role == "admin"
        assert authenticate(users, "ann", PASSWORD) is None
        assert set(users) == {"ann", "rita", "lee@example.com"}

    def test_missing_file_is_no_users(self, tmp_path):
        assert load_users(tmp_path / "none.csv") == {}

    @pytest.mark.parametrize(
        ("row", "message"),
        [
            ("bob,Bob,king,,", "line 2: unknown role 'king'"),
            ("bob,Bob,rep,,", "line 2: user 'bob' has the role 'rep' but no rep id"),
            (",Bob,manager,,", "line 2: a user needs a username"),
        ],
    )
    def test_bad_rows_named(self, tmp_path, row, message):
        path = tmp_path / "users.csv"
        path.write_text("username,display_name,role,rep_id,password_hash\n" + row + "\n")
        with pytest.raises(ValueError, match=message):
            load_users(path)

    def test_repeated_user_named(self, tmp_path):
        path = tmp_path / "users.csv"
        path.write_text("username,display_name,role,rep_id,password_hash\na,,admin,,\na,,admin,,\n")
        with pytest.raises(ValueError, match="line 3: user 'a' listed twice"):
            load_users(path)

    def test_short_password_refused(self):
        with pytest.raises(ValueError, match="at least 8 characters"):
            hash_password("short")

    def test_record_repr_hides_the_hash(self, users_file):
        record = load_users(users_file)["ann"]
        assert "argon2" not in repr(record)


class TestRoles:
    @pytest.mark.parametrize(
        ("role", "allowed"),
        [
            ("admin", set(ACTIONS)),
            ("manager", {"edit", "save", "propose", "comment", "export", "see_all"}),
            ("leadership", {"comment", "review", "publish", "audit", "export", "see_all"}),
            ("rep", {"propose", "comment"}),
        ],
    )
    def test_actions_per_role(self, role, allowed):
        user = User("u", "U", role, rep_id="R1")
        assert {action for action in ACTIONS if can(user, action)} == allowed

    def test_no_sign_in_may_do_everything(self):
        assert all(can(None, action) for action in ACTIONS)
        assert pages_for(None) == list(PAGES)

    def test_require_names_who_and_what(self):
        with pytest.raises(PermissionError, match=r"rita \(rep\) may not publish"):
            require(User("rita", "Rita", "rep", "R1"), "publish")

    def test_unknown_action_is_an_error(self):
        with pytest.raises(ValueError, match="unknown action 'fly'"):
            can(None, "fly")

    def test_pages_per_role(self):
        rep = pages_for(User("r", "R", "rep", "R1"))
        assert rep == ["rep_view", "workflow"]
        leadership = pages_for(User("l", "L", "leadership"))
        assert "audit" in leadership and "map_editor" not in leadership
        assert "audit" not in pages_for(User("m", "M", "manager"))
        assert pages_for(User("a", "A", "admin")) == list(PAGES)

    def test_rep_sees_only_themself(self):
        reps = ["R1", "R2", "R3"]
        assert visible_reps(User("r", "R", "rep", "R2"), reps) == ["R2"]
        assert visible_reps(User("r", "R", "rep", "R9"), reps) == []
        assert visible_reps(User("m", "M", "manager"), reps) == reps
        assert visible_reps(None, reps) == reps

    def test_author_is_name_and_username(self):
        assert User("ann", "Ann Lee", "manager").author == "Ann Lee (ann)"
        assert User("ann", "ann", "manager").author == "ann"

    def test_every_role_has_a_page(self):
        for role in ROLES:
            assert pages_for(User("u", "U", role, rep_id="R1"))


class TestUsersCli:
    def test_add_reads_password_from_stdin(self, tmp_path, monkeypatch, capsys, caplog):
        path = tmp_path / "users.csv"
        monkeypatch.setenv(USERS_ENV, str(path))
        monkeypatch.setattr(sys, "stdin", io.StringIO(PASSWORD + "\n"))
        with caplog.at_level(logging.DEBUG):
            code = main(["users", "add", "rita", "--role", "rep", "--rep", "R1"])
        assert code == 0
        out = capsys.readouterr()
        assert PASSWORD not in out.out + out.err + caplog.text
        assert authenticate(load_users(path), "rita", PASSWORD).rep_id == "R1"

    def test_rep_without_rep_id_refused(self, tmp_path, monkeypatch, capsys):
        monkeypatch.setattr(sys, "stdin", io.StringIO(PASSWORD + "\n"))
        path = tmp_path / "users.csv"
        assert main(["users", "add", "rita", "--role", "rep", "--file", str(path)]) == 2
        assert "has the role 'rep' but no rep id" in capsys.readouterr().err
        assert not path.exists()

    def test_short_password_refused_without_echo(self, tmp_path, monkeypatch, capsys):
        monkeypatch.setattr(sys, "stdin", io.StringIO("abc\n"))
        code = main(["users", "add", "x", "--role", "admin", "--file", str(tmp_path / "u.csv")])
        assert code == 2
        err = capsys.readouterr().err
        assert "at least 8 characters" in err and "abc" not in err

    def test_no_file_configured(self, monkeypatch, capsys):
        monkeypatch.delenv(USERS_ENV, raising=False)
        assert main(["users", "list"]) == 2
        assert "set TERRMAP_USERS" in capsys.readouterr().err

    def test_list_never_prints_hashes(self, users_file, capsys):
        assert main(["users", "list", "--file", str(users_file)]) == 0
        out = capsys.readouterr().out
        assert "argon2" not in out
        assert "lee@example.com\tlee@example.com\tleadership\t-\tidentity provider" in out
        assert "rita\trita\trep\tR1\tpassword" in out


def test_identity_provider_users_get_their_role_by_email(users_file):
    from terrmap.store.users import identity_user

    users = load_users(users_file)
    assert identity_user(users, "Lee@Example.com").role == "leadership"
    assert identity_user(users, "stranger@example.com") is None
    assert identity_user(users, None) is None


class TestThrottle:
    def test_refuses_after_max_failures_until_the_window_passes(self):
        from terrmap.store.users import SignInThrottle

        throttle = SignInThrottle(max_failures=3, window_s=60)
        for t in (0, 10, 20):
            assert throttle.wait_s("ann", t) == 0
            throttle.failed("ann", t)
        assert throttle.wait_s("ann", 30) == pytest.approx(30)
        assert throttle.wait_s("bob", 30) == 0
        assert throttle.wait_s("ann", 61) == 0  # the failure at 0 left the window

    def test_success_forgets(self):
        from terrmap.store.users import SignInThrottle

        throttle = SignInThrottle(max_failures=2, window_s=60)
        throttle.failed("ann", 0)
        throttle.succeeded("ann")
        throttle.failed("ann", 1)
        assert throttle.wait_s("ann", 2) == 0
