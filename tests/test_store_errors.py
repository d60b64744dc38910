"""A database that cannot be used says so in one line: damaged, read-only, full disk, unreachable."""

from __future__ import annotations

import contextlib
import errno
import os
import shutil
from pathlib import Path

import pytest
from mounts import read_only_view, small_disk

from terrmap.geo.workspace import build_workspace
from terrmap.store.database import unavailable_error
from terrmap.store.scenarios import ScenarioStore, StoreUnavailableError

FIXTURE = Path(__file__).parent / "fixtures" / "store_v1.sqlite"


@pytest.fixture
def workspace(grid_accounts, grid_territories, grid_reps):
    return build_workspace(grid_accounts, grid_territories, grid_reps, name="Grid")


def _one_line_for_the_user(error: StoreUnavailableError, folder: Path, name: str) -> None:
    text = str(error)
    assert "\n" not in text
    assert str(folder) not in text and "/" not in text
    assert name in text
    assert error.__cause__ is None and error.__suppress_context__  # no driver chain to print


class TestUnreadable:
    def test_garbage(self, tmp_path):
        path = tmp_path / "garbage.sqlite"
        path.write_bytes(b"this is not a database\n" * 200)
        with pytest.raises(StoreUnavailableError) as caught:
            ScenarioStore(path)
        assert caught.value.reason == "unreadable"
        assert not caught.value.can_read
        _one_line_for_the_user(caught.value, tmp_path, "garbage.sqlite")
        assert path.read_bytes() == b"this is not a database\n" * 200  # left as it was

    @pytest.mark.parametrize("keep", [0.5, 0.01])
    def test_truncated(self, tmp_path, keep):
        data = FIXTURE.read_bytes()
        path = tmp_path / "truncated.sqlite"
        path.write_bytes(data[: int(len(data) * keep)])
        with pytest.raises(StoreUnavailableError, match="truncated.sqlite is unreadable") as caught:
            ScenarioStore(path)
        _one_line_for_the_user(caught.value, tmp_path, "truncated.sqlite")


class TestReadOnlyFileSystem:
    def test_reads_work_writes_are_refused(self, tmp_path, workspace):
        source = tmp_path / "db"
        store = ScenarioStore(source / "shared.sqlite")
        dataset = store.save_dataset(workspace)
        plan = workspace.initial_plan.reassign(["ACC-a"], "NE", author="Ann")
        info = store.save(plan, dataset_id=dataset, name="Q3", author="Ann")
        store.close()
        with read_only_view(source) as mounted:
            reader = ScenarioStore(mounted / "shared.sqlite")
            try:
                assert reader.read_only
                assert [i.name for i in reader.list()] == ["Q3"]
                assert reader.open(info.scenario_id, workspace).plan.assignment.equals(
                    plan.assignment
                )
                with pytest.raises(StoreUnavailableError) as caught:
                    reader.save(plan, dataset_id=dataset, name="Q4")
                assert caught.value.reason == "read-only" and caught.value.can_read
                _one_line_for_the_user(caught.value, mounted, "shared.sqlite")
                with pytest.raises(StoreUnavailableError, match="read-only"):
                    reader.autosave("k", plan, dataset_id=dataset)
            finally:
                reader.close()


class TestFullDisk:
    def test_nothing_saved_reads_still_work_and_saving_resumes(self, workspace):
        with small_disk("1m") as disk:
            store = ScenarioStore(disk / "full.sqlite")
            try:
                dataset = store.save_dataset(workspace)
                plan = workspace.initial_plan.reassign(["ACC-a"], "NE", author="Ann")
                first = store.save(plan, dataset_id=dataset, name="Q3", author="Ann")
                filler = disk / "filler"
                with contextlib.suppress(OSError), filler.open("wb") as handle:
                    while True:
                        handle.write(b"\0" * 4096)
                        handle.flush()
                notes = "x" * 200_000  # more than any page left
                with pytest.raises(StoreUnavailableError) as caught:
                    store.save(plan, dataset_id=dataset, name="Q4", note=notes)
                assert caught.value.reason == "full" and caught.value.can_read
                _one_line_for_the_user(caught.value, disk, "full.sqlite")
                assert [i.name for i in store.list()] == ["Q3"]
                filler.unlink()
                second = store.save(plan, dataset_id=dataset, name="Q4", note=notes)
                assert {i.scenario_id for i in store.list()} == {
                    first.scenario_id,
                    second.scenario_id,
                }
            finally:
                store.close()


class TestServer:
    def test_unreachable_server(self):
        import socket

        with socket.socket() as probe:  # a port nobody listens on
            probe.bind(("127.0.0.1", 0))
            port = probe.getsockname()[1]
        with pytest.raises(StoreUnavailableError) as caught:
            ScenarioStore(f"postgresql://ann:secret@127.0.0.1:{port}/plans?connect_timeout=3")
        assert caught.value.reason == "unreachable"
        assert "secret" not in str(caught.value)
        assert str(caught.value).startswith(f"The scenario database plans on 127.0.0.1:{port}")


class TestTranslation:
    @pytest.mark.parametrize(
        ("code", "reason"), [(errno.ENOSPC, "full"), (errno.EROFS, "read-only"), (errno.EIO, "io")]
    )
    def test_os_errors(self, code, reason):
        found = unavailable_error(OSError(code, os.strerror(code), "/srv/x.sqlite"), "x.sqlite")
        assert found.reason == reason
        assert "/srv" not in str(found)

    def test_other_errors_are_not_hidden(self):
        assert unavailable_error(ValueError("bug"), "x.sqlite") is None

    def test_the_message_never_names_the_folder(self, tmp_path):
        deep = tmp_path / "a" / "b"
        deep.mkdir(parents=True)
        (deep / "d.sqlite").write_bytes(b"junk" * 1000)
        with pytest.raises(StoreUnavailableError) as caught:
            ScenarioStore(deep / "d.sqlite")
        assert "a/b" not in str(caught.value)
        shutil.rmtree(deep)
