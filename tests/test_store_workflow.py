"""Review workflow and audit trail: propose, comment, review, publish, restore; append-only log."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta

import pytest
import sqlalchemy as sa

from terrmap.geo.workspace import build_workspace
from terrmap.store.scenarios import ScenarioStore, WorkflowError


@pytest.fixture
def workspace(grid_accounts, grid_territories, grid_reps):
    return build_workspace(grid_accounts, grid_territories, grid_reps, name="Grid")


@pytest.fixture
def dataset(store, workspace):
    return store.save_dataset(workspace)


@pytest.fixture
def saved(store, workspace, dataset):
    """Ann's scenario: a, b to NE, then c to NW (two moves)."""
    plan = workspace.initial_plan.reassign(["ACC-a", "ACC-b"], "NE", author="Ann")
    plan = plan.reassign(["ACC-c"], "NW", author="Ann")
    return store.save(plan, dataset_id=dataset, name="Q3", author="Ann")


def _approved(store, scenario_id):
    store.propose(scenario_id, "Ann", "ready for review")
    store.review(scenario_id, "Lee", "approve", "fine")


class TestStatus:
    def test_the_happy_path(self, store, saved):
        sid = saved.scenario_id
        assert store.status(sid) == "draft"
        assert store.propose(sid, "Ann", "ready") == "proposed"
        assert store.status(sid) == "proposed"
        assert store.review(sid, "Lee", "approve", "good") == "approved"
        publication = store.publish(sid, "Lee", date(2027, 1, 1))
        assert store.status(sid) == "published"
        assert store.info(sid).status == "published"
        assert (publication.scenario_id, publication.version, publication.published_by) == (
            sid,
            1,
            "Lee",
        )
        assert publication.effective_date == date(2027, 1, 1)
        events = store.reviews(sid)
        assert list(events["kind"]) == ["propose", "approve"]
        assert list(events["actor"]) == ["Ann", "Lee"]

    def test_reject_then_propose_again(self, store, saved):
        sid = saved.scenario_id
        store.propose(sid, "Ann", "first try")
        assert store.review(sid, "Lee", "reject", "too many moves in the north") == "rejected"
        assert store.propose(sid, "Ann", "second try") == "proposed"

    def test_a_save_sends_an_approved_scenario_back_to_draft(
        self, store, workspace, dataset, saved
    ):
        _approved(store, saved.scenario_id)
        opened = store.open(saved.scenario_id, workspace)
        store.save(
            opened.plan.reassign(["ACC-d"], "SW"),
            dataset_id=dataset,
            scenario_id=saved.scenario_id,
            expected_version=1,
            author="Ann",
        )
        assert store.status(saved.scenario_id) == "draft"
        with pytest.raises(WorkflowError, match="it is draft"):
            store.publish(saved.scenario_id, "Lee", date(2027, 1, 1))

    def test_unknown_scenario(self, store):
        with pytest.raises(KeyError, match="no scenario 'nope'"):
            store.status("nope")


class TestInvalidTransitions:
    def test_review_needs_a_proposal(self, store, saved):
        with pytest.raises(WorkflowError, match="cannot review scenario 'Q3': it is draft"):
            store.review(saved.scenario_id, "Lee", "approve", "ok")

    def test_nobody_approves_their_own_proposal(self, store, saved):
        store.propose(saved.scenario_id, "Ann", "ready")
        with pytest.raises(WorkflowError, match="Ann proposed scenario 'Q3' and cannot approve"):
            store.review(saved.scenario_id, "Ann", "approve", "self")
        assert store.status(saved.scenario_id) == "proposed"
        # Withdrawing (rejecting) one's own proposal is allowed.
        assert store.review(saved.scenario_id, "Ann", "reject", "withdrawn") == "rejected"

    def test_a_rejected_scenario_cannot_be_published(self, store, saved):
        store.propose(saved.scenario_id, "Ann", "ready")
        store.review(saved.scenario_id, "Lee", "reject", "no")
        with pytest.raises(WorkflowError, match="cannot publish scenario 'Q3': it is rejected"):
            store.publish(saved.scenario_id, "Lee", date(2027, 1, 1))
        assert store.publications().empty

    def test_proposed_twice(self, store, saved):
        store.propose(saved.scenario_id, "Ann", "ready")
        with pytest.raises(WorkflowError, match="it is proposed"):
            store.propose(saved.scenario_id, "Ann", "again")

    @pytest.mark.parametrize(
        ("decision", "note", "message"),
        [("maybe", "x", "decision must be"), ("reject", "  ", "rejection needs a note")],
    )
    def test_bad_review(self, store, saved, decision, note, message):
        store.propose(saved.scenario_id, "Ann", "ready")
        with pytest.raises(ValueError, match=message):
            store.review(saved.scenario_id, "Lee", decision, note)

    def test_bad_names_and_dates(self, store, saved):
        with pytest.raises(ValueError, match="author must be a non-empty name"):
            store.propose(saved.scenario_id, " ", "x")
        _approved(store, saved.scenario_id)
        with pytest.raises(ValueError, match="effective_date must be a date.*'next week'"):
            store.publish(saved.scenario_id, "Lee", "next week")

    def test_a_published_scenario_cannot_be_deleted(self, store, saved):
        _approved(store, saved.scenario_id)
        store.publish(saved.scenario_id, "Lee", date(2027, 1, 1))
        with pytest.raises(WorkflowError, match="was published"):
            store.delete(saved.scenario_id)
        assert store.info(saved.scenario_id).name == "Q3"


class TestComments:
    def test_on_the_plan_and_on_a_move(self, store, saved):
        first = store.comment(saved.scenario_id, "Lee", "why NE?")
        second = store.comment(saved.scenario_id, "Rep Cy", "c is mine", move_index=1)
        frame = store.comments(saved.scenario_id)
        assert list(frame["comment_id"]) == [first, second]
        assert list(frame["author"]) == ["Lee", "Rep Cy"]
        assert list(frame["text"]) == ["why NE?", "c is mine"]
        assert frame["move_index"].isna().iloc[0] and frame["move_index"].iloc[1] == 1
        assert list(frame["version"]) == [1, 1]

    @pytest.mark.parametrize("move_index", [2, -1])
    def test_a_move_that_is_not_there(self, store, saved, move_index):
        with pytest.raises(ValueError, match=f"move_index {move_index} is not a move.*2 moves"):
            store.comment(saved.scenario_id, "Lee", "?", move_index=move_index)
        assert store.comments(saved.scenario_id).empty

    def test_empty_text(self, store, saved):
        with pytest.raises(ValueError, match="needs text"):
            store.comment(saved.scenario_id, "Lee", "  ")


class TestPublications:
    def _two(self, store, workspace, dataset, saved):
        _approved(store, saved.scenario_id)
        first = store.publish(saved.scenario_id, "Lee", date(2026, 1, 1))
        other = store.save(
            workspace.initial_plan.reassign(["ACC-h"], "SW", author="Bo"),
            dataset_id=dataset,
            name="Q4",
            author="Bo",
        )
        store.propose(other.scenario_id, "Bo", "ready")
        store.review(other.scenario_id, "Lee", "approve", "ok")
        second = store.publish(other.scenario_id, "Lee", date(2026, 6, 1))
        return first, second

    def test_the_plan_in_force_follows_effective_dates(self, store, workspace, dataset, saved):
        first, second = self._two(store, workspace, dataset, saved)
        assert store.published(date(2025, 12, 31)) is None
        assert store.published(date(2026, 3, 1)) == first
        assert store.published("2026-06-01") == second
        assert store.published(datetime(2030, 1, 1, tzinfo=UTC)) == second
        history = store.publications()
        assert list(history["publication_id"]) == [first.publication_id, second.publication_id]
        assert list(history["scenario_name"]) == ["Q3", "Q4"]

    def test_restore_makes_an_old_plan_in_force_today(self, store, workspace, dataset, saved):
        first, second = self._two(store, workspace, dataset, saved)
        restored = store.restore_publication(first.publication_id, "Max")
        today = datetime.now(UTC).date()
        assert (restored.scenario_id, restored.version) == (first.scenario_id, first.version)
        assert (restored.restored_from, restored.published_by) == (first.publication_id, "Max")
        assert restored.effective_date == today
        assert store.published(today) == restored
        assert len(store.publications()) == 3

    def test_a_publication_keeps_its_version_after_later_saves(
        self, store, workspace, dataset, saved
    ):
        _approved(store, saved.scenario_id)
        publication = store.publish(saved.scenario_id, "Lee", date(2026, 1, 1))
        opened = store.open(saved.scenario_id, workspace)
        store.save(
            opened.plan.reassign(["ACC-e"], "SE"),
            dataset_id=dataset,
            scenario_id=saved.scenario_id,
            expected_version=1,
        )
        in_force = store.published(date(2026, 2, 1))
        assert in_force.version == publication.version == 1
        # The plan in force is version 1, whatever the scenario holds now.
        plan = store.open(in_force.scenario_id, workspace, version=in_force.version).plan
        assert plan.assignment.equals(opened.plan.assignment)

    def test_unknown_publication(self, store):
        with pytest.raises(KeyError, match="no publication 99"):
            store.restore_publication(99, "Max")


class TestAudit:
    def test_every_step_is_recorded(self, store, workspace, dataset, saved):
        _approved(store, saved.scenario_id)
        store.comment(saved.scenario_id, "Lee", "nice")
        store.publish(saved.scenario_id, "Lee", date(2026, 1, 1))
        store.audit("Lee", "export", saved.scenario_id, {"format": "csv"})
        log = store.audit_log()
        assert list(log["action"]) == ["save", "propose", "approve", "comment", "publish", "export"]
        assert list(log["actor"]) == ["Ann", "Ann", "Lee", "Lee", "Lee", "Lee"]
        assert set(log["target"]) == {saved.scenario_id}
        assert log["detail"].iloc[0]["version"] == 1
        assert log["detail"].iloc[-1] == {"format": "csv"}
        assert log["audit_id"].is_monotonic_increasing

    def test_filters(self, store, saved):
        store.audit("Lee", "sign_in", None, {})
        store.audit("Max", "sign_in", None, {})
        assert list(store.audit_log(actor="Lee")["action"]) == ["sign_in"]
        assert list(store.audit_log(action="sign_in")["actor"]) == ["Lee", "Max"]
        now = datetime.now(UTC)
        assert len(store.audit_log(since=now - timedelta(minutes=5))) == 3
        assert store.audit_log(until=now - timedelta(minutes=5)).empty
        assert store.audit_log(since=now + timedelta(minutes=5)).empty

    def test_a_failed_step_writes_no_audit_row(self, store, saved):
        with pytest.raises(WorkflowError):
            store.publish(saved.scenario_id, "Lee", date(2026, 1, 1))
        assert list(store.audit_log()["action"]) == ["save"]

    @pytest.mark.parametrize(
        "statement", ["UPDATE audit_log SET actor = 'x'", "DELETE FROM audit_log"]
    )
    def test_the_database_refuses_edits(self, store, saved, statement):
        with pytest.raises(sa.exc.DatabaseError, match="append-only"):
            with store.engine.begin() as connection:
                connection.exec_driver_sql(statement)
        assert list(store.audit_log()["actor"]) == ["Ann"]

    def test_no_edit_api(self):
        public = {name for name in dir(ScenarioStore) if not name.startswith("_")}
        assert {"audit", "audit_log"} <= public
        assert not {n for n in public if "audit" in n} - {"audit", "audit_log"}

    def test_bad_detail(self, store):
        with pytest.raises(ValueError, match="detail must be a dict"):
            store.audit("Lee", "export", None, ["csv"])
