"""Sign-in and roles in the app, driven headless by ``AppTest``.

The user file is a real one (Argon2 hashes) named by ``TERRMAP_USERS``; the
demo data has reps R01..R10. A rep signed in must not reach another rep's
territory by page, session state or URL.
"""

from __future__ import annotations

import re
from pathlib import Path

import pytest
from streamlit.testing.v1 import AppTest

from terrmap.store.users import USERS_ENV, add_user

ROOT = Path(__file__).resolve().parents[1]
APP = str(ROOT / "app.py")
TIMEOUT_S = 30
PASSWORDS = {
    "ada": "admin-password",
    "ann": "manager-password",
    "lou": "leadership-password",
    "rita": "rep-password",
}


@pytest.fixture(scope="module")
def users_file(tmp_path_factory):
    path = tmp_path_factory.mktemp("users") / "users.csv"
    add_user(path, "ada", role="admin", password=PASSWORDS["ada"])
    add_user(path, "ann", role="manager", password=PASSWORDS["ann"], display_name="Ann Lee")
    add_user(path, "lou", role="leadership", password=PASSWORDS["lou"])
    add_user(path, "rita", role="rep", password=PASSWORDS["rita"], rep_id="R01")
    add_user(path, "Lee@Example.com", role="leadership", password=None, display_name="Lee")
    return path


@pytest.fixture
def with_users(users_file, monkeypatch):
    monkeypatch.setenv(USERS_ENV, str(users_file))
    return users_file


def _run(at: AppTest) -> AppTest:
    at.run()
    assert not at.exception, [e.value for e in at.exception]
    return at


def _signed_in(username: str, password: str | None = None) -> AppTest:
    at = _run(AppTest.from_file(APP, default_timeout=TIMEOUT_S))
    return _sign_in(at, username, password)


def _sign_in(at: AppTest, username: str, password: str | None = None) -> AppTest:
    at.text_input(key="sign_in_username").input(username)
    at.text_input(key="sign_in_password").input(password or PASSWORDS[username])
    at.button[0].click()
    return _run(at)


def _titles(at: AppTest) -> list[str]:
    return [t.value for t in at.title]


def test_no_sign_in_configured_runs_for_one_person_and_says_so(monkeypatch):
    monkeypatch.delenv(USERS_ENV, raising=False)
    at = _run(AppTest.from_file(APP, default_timeout=TIMEOUT_S))
    assert any("No sign-in configured" in c.value for c in at.sidebar.caption)
    assert at.sidebar.text_input(key="user_name")


class TestSignIn:
    def test_sign_in_screen_first(self, with_users):
        at = _run(AppTest.from_file(APP, default_timeout=TIMEOUT_S))
        assert _titles(at) == ["terrmap"]
        assert at.text_input(key="sign_in_password").proto.type == 1  # PASSWORD
        assert not at.sidebar.caption

    def test_wrong_password_refused(self, with_users):
        at = _signed_in("ann", "not the password")
        assert [e.value for e in at.error] == ["Wrong username or password."]
        assert _titles(at) == ["terrmap"]

    def test_password_not_kept_in_the_session(self, with_users):
        at = _signed_in("ann")
        assert at.session_state["sign_in_password"] == ""
        assert PASSWORDS["ann"] not in repr(at.session_state["signed_in_user"])

    @pytest.mark.parametrize(
        ("username", "first_page"),
        [
            ("ada", "Map editor"),
            ("ann", "Map editor"),
            ("lou", "Territories"),
            ("rita", "Rep view"),
        ],
    )
    def test_each_role_lands_on_its_first_page(self, with_users, username, first_page):
        at = _signed_in(username)
        assert first_page in _titles(at)
        assert any("Signed in as" in m.value for m in at.sidebar.markdown)

    def test_sign_out(self, with_users):
        at = _signed_in("ann")
        at.sidebar.button(key="sign_out").click()
        _run(at)
        assert _titles(at) == ["terrmap"]

    def test_user_removed_from_file_is_signed_out(self, with_users, tmp_path, monkeypatch):
        other = tmp_path / "users.csv"
        add_user(other, "ann", role="manager", password=PASSWORDS["ann"])
        monkeypatch.setenv(USERS_ENV, str(other))
        at = _signed_in("ann")
        assert "Map editor" in _titles(at)
        add_user(other, "ann", role="rep", password=PASSWORDS["ann"], rep_id="R02")
        _run(at)
        assert _titles(at) == ["terrmap"]


class TestRoles:
    @pytest.mark.parametrize(
        ("username", "pages"),
        [
            (
                "lou",
                {"territories", "balance", "rep_view", "scenarios", "compare", "export"}
                | {"workflow", "audit"},
            ),
            ("rita", {"rep_view", "workflow"}),
        ],
    )
    def test_navigation_holds_only_the_roles_pages(self, with_users, username, pages):
        at = _signed_in(username)
        with pytest.raises(ValueError, match="Known pages") as refused:
            at.switch_page("pages/map_editor.py")
        listed = str(refused.value).split("Known pages:")[1]
        known = set(re.findall(r"pages/(\w+)\.py", listed))
        assert known == pages

    @pytest.mark.parametrize("page", ["map_editor", "territories", "export", "scenarios"])
    def test_a_page_run_directly_refuses_a_rep(self, with_users, page):
        from terrmap.playbook.roles import User

        at = AppTest.from_file(str(ROOT / "pages" / f"{page}.py"), default_timeout=TIMEOUT_S)
        at.session_state["_terrmap_shell_run"] = True
        at.session_state["signed_in_user"] = User("rita", "rita", "rep", "R01")
        _run(at)
        assert [e.value for e in at.error] == ["This page is not open to your role."]
        assert not at.title

    def test_rep_sees_only_their_territory(self, with_users):
        at = _signed_in("rita")
        choice = at.selectbox(key="rep_view_rep")
        assert choice.options == ["James Gallagher"]
        assert choice.value == "R01"

    def test_rep_cannot_pick_another_rep_through_session_state(self, with_users):
        at = AppTest.from_file(APP, default_timeout=TIMEOUT_S)
        at.session_state["rep_view_rep"] = "R02"
        _run(at)
        _sign_in(at, "rita")
        assert at.selectbox(key="rep_view_rep").options == ["James Gallagher"]
        assert [h.value for h in at.header] == ["James Gallagher"]
        assert "Grace Ishikawa" not in " ".join(c.value for c in at.caption)

    def test_rep_ignores_a_working_copy_in_the_url(self, with_users):
        manager = _signed_in("ann")
        manager.switch_page("pages/rep_view.py")
        _run(manager)
        manager.selectbox(key="rep_view_rep").select("R02")
        _run(manager)
        at = AppTest.from_file(APP, default_timeout=TIMEOUT_S)
        at.query_params["wc"] = "someone-elses-copy"
        at.query_params["rep"] = "R02"
        _run(at)
        _sign_in(at, "rita")
        assert at.selectbox(key="rep_view_rep").options == ["James Gallagher"]
        assert "working_copy_restored" not in at.session_state

    def test_rep_has_no_undo_or_edit_controls(self, with_users):
        at = _signed_in("rita")
        keys = {b.key for b in at.sidebar.button}
        assert "undo" not in keys and "sign_out" in keys


def test_signed_in_user_is_the_author_of_a_saved_scenario(with_users):
    from terrmap.store.scenarios import ScenarioStore, default_db_path

    at = _signed_in("ann")
    at.switch_page("pages/scenarios.py")
    _run(at)
    assert not [t for t in at.text_input if t.key == "scenario_author"]
    at.text_input(key="scenario_name").input("Signed-in save")
    at.button(key="save_new").click()
    _run(at)
    saved = [s for s in ScenarioStore(default_db_path()).list() if s.name == "Signed-in save"]
    assert [s.author for s in saved] == ["Ann Lee (ann)"]


def _oidc_app(user: dict) -> AppTest:
    at = AppTest.from_file(APP, default_timeout=TIMEOUT_S)
    at.secrets["auth"] = {
        "redirect_uri": "http://localhost:8501/oauth2callback",
        "cookie_secret": "a test secret",
        "client_id": "terrmap",
        "client_secret": "test",
        "server_metadata_url": "http://localhost:9/.well-known/openid-configuration",
    }
    at.user = user
    return _run(at)


class TestOidc:
    def test_signed_out_sees_only_the_identity_provider_button(self, with_users):
        at = _oidc_app({"is_logged_in": False})
        assert [b.label for b in at.button] == ["Sign in"]
        assert not [t for t in at.text_input if t.key == "sign_in_password"]
        assert _titles(at) == ["terrmap"]

    def test_signed_in_user_gets_the_role_of_their_email(self, with_users):
        at = _oidc_app({"is_logged_in": True, "email": "lee@example.com"})
        assert "Territories" in _titles(at)
        assert at.session_state["signed_in_user"].role == "leadership"
        assert any("Signed in as **Lee**" in m.value for m in at.sidebar.markdown)

    def test_unknown_email_has_no_role(self, with_users):
        at = _oidc_app({"is_logged_in": True, "email": "stranger@example.com"})
        assert "has no role in terrmap" in at.error[0].value
        assert [b.label for b in at.button] == ["Sign out"]
        assert _titles(at) == ["terrmap"]
