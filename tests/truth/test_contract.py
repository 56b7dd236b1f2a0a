"""The TruthSource contract: every test runs against local git and against GitHub (PyGithub + FakeGitHub)."""

from __future__ import annotations

import json

import pytest

from nexus_agent.truth import NULL_SHA, TruthSource, blob_sha
from nexus_agent.wire.errors import Conflict, InvalidInput, NotFound, SecretLeakRefused

pytestmark = pytest.mark.anyio

APP = "registry/apps/quote-engine.json"


async def test_it_is_a_truth_source(truth: TruthSource) -> None:
    assert isinstance(truth, TruthSource)
    assert truth.description


async def test_a_missing_file_is_not_found_on_read_and_none_on_get(truth: TruthSource) -> None:
    with pytest.raises(NotFound) as caught:
        await truth.read(APP)
    assert "quote-engine.json" in caught.value.message
    assert await truth.get(APP) is None
    assert await truth.list("registry") == []


async def test_written_bytes_read_back_with_their_git_blob_sha(truth: TruthSource) -> None:
    content = b'{"slug": "quote-engine"}\n'
    commit = await truth.write(APP, content, "Register quote-engine")
    assert commit is not None and len(commit.sha) == 40
    assert commit.message == "Register quote-engine"
    assert commit.committed_at is not None
    assert await truth.read(APP) == content
    found = await truth.get(APP)
    assert found is not None and found.content == content and found.sha == blob_sha(content)


async def test_binary_and_empty_files_round_trip(truth: TruthSource) -> None:
    await truth.write("backups/quote-engine/db.bin", bytes(range(256)), "Back up quote-engine")
    await truth.write_many({"backups/quote-engine/raw.bin": b"\xff\xfe\x00", "analysis/empty.txt": b""}, "Two files")
    assert await truth.read("backups/quote-engine/db.bin") == bytes(range(256))
    assert await truth.read("backups/quote-engine/raw.bin") == b"\xff\xfe\x00"
    assert await truth.read("analysis/empty.txt") == b""


async def test_writing_the_same_content_again_makes_no_commit(truth: TruthSource) -> None:
    await truth.write(APP, b"one\n", "First")
    before = await truth.history()
    assert await truth.write(APP, b"one\n", "Again") is None
    assert await truth.history() == before


async def test_history_lists_the_commits_that_changed_a_path_newest_first(truth: TruthSource) -> None:
    await truth.write(APP, b"v1\n", "Register quote-engine")
    await truth.write("registry/apps/other.json", b"x\n", "Register other")
    await truth.write(APP, b"v2\n", "Update quote-engine: version 2")
    history = await truth.history(APP)
    assert [c.message for c in history] == ["Update quote-engine: version 2", "Register quote-engine"]
    assert [c.message for c in await truth.history(APP, limit=1)] == ["Update quote-engine: version 2"]
    assert (await truth.history())[0].message == "Update quote-engine: version 2"
    assert await truth.history("registry/apps/never.json") == []


async def test_list_is_recursive_sorted_and_limited_to_the_folder(truth: TruthSource) -> None:
    await truth.write_many(
        {
            "registry/apps/b.json": b"b",
            "registry/apps/a.json": b"a",
            "registry/apps-old/c.json": b"c",
            "instructions/a/1.json": b"i",
        },
        "Seed",
    )
    assert await truth.list("registry/apps") == ["registry/apps/a.json", "registry/apps/b.json"]
    assert await truth.list("registry/apps/") == ["registry/apps/a.json", "registry/apps/b.json"]
    assert await truth.list("registry") == [
        "registry/apps-old/c.json",
        "registry/apps/a.json",
        "registry/apps/b.json",
    ]
    everything = await truth.list()
    assert {"instructions/a/1.json", "registry/apps/a.json"} <= set(everything)
    assert everything == sorted(everything)


async def test_delete_removes_the_file_in_a_commit(truth: TruthSource) -> None:
    await truth.write(APP, b"x\n", "Register quote-engine")
    commit = await truth.delete(APP, "Remove quote-engine")
    assert commit.message == "Remove quote-engine"
    assert await truth.get(APP) is None
    assert [c.message for c in await truth.history(APP)] == ["Remove quote-engine", "Register quote-engine"]
    with pytest.raises(NotFound):
        await truth.delete(APP, "Remove it again")


async def test_write_many_is_one_commit_with_writes_and_deletes(truth: TruthSource) -> None:
    await truth.write_many({"a/1.txt": b"1", "a/2.txt": b"2"}, "Seed")
    before = len(await truth.history(limit=100))
    commit = await truth.write_many(
        {"a/1.txt": None, "a/2.txt": b"two", "a/3.txt": b"3", "a/never-existed.txt": None}, "Rework folder a"
    )
    assert commit is not None and commit.message == "Rework folder a"
    history = await truth.history(limit=100)
    assert len(history) == before + 1 and history[0].sha == commit.sha
    assert await truth.list("a") == ["a/2.txt", "a/3.txt"]
    assert await truth.read("a/2.txt") == b"two"


async def test_write_many_without_changes_makes_no_commit(truth: TruthSource) -> None:
    await truth.write_many({"a/1.txt": b"1"}, "Seed")
    before = await truth.history()
    assert await truth.write_many({"a/1.txt": b"1", "a/gone.txt": None}, "Nothing") is None
    assert await truth.history() == before


async def test_a_stale_expected_sha_is_a_conflict_and_writes_nothing(truth: TruthSource) -> None:
    await truth.write(APP, b"v1\n", "v1")
    read = await truth.get(APP)
    assert read is not None
    await truth.write(APP, b"v2 by someone else\n", "v2", expected_sha=read.sha)
    with pytest.raises(Conflict) as caught:
        await truth.write(APP, b"v2 by me\n", "mine", expected_sha=read.sha)
    assert "changed since it was read" in caught.value.message
    assert caught.value.hint
    assert await truth.read(APP) == b"v2 by someone else\n"
    with pytest.raises(Conflict):
        await truth.delete(APP, "delete stale", expected_sha=read.sha)


async def test_null_sha_means_the_file_must_not_exist_yet(truth: TruthSource) -> None:
    assert await truth.write(APP, b"first\n", "create", expected_sha=NULL_SHA) is not None
    with pytest.raises(Conflict):
        await truth.write(APP, b"second\n", "create again", expected_sha=NULL_SHA)
    assert await truth.read(APP) == b"first\n"


@pytest.mark.parametrize(
    "path",
    ["", "/etc/passwd", "../outside.json", "registry/../../x", "registry//apps", "registry/apps/", "a\\b.json",
     "registry/./x", ".git/config", "a/.GIT/hooks/pre-commit", "bad\x00name", ".nexus/issues/1.json"],
)  # fmt: skip
async def test_unsafe_paths_are_refused_before_anything_is_written(truth: TruthSource, path: str) -> None:
    before = await truth.history()
    with pytest.raises(InvalidInput):
        await truth.write(path, b"x", "bad path")
    with pytest.raises(InvalidInput):
        await truth.write_many({path: b"x"}, "bad path")
    with pytest.raises(InvalidInput):
        await truth.delete(path, "bad path")
    assert await truth.history() == before


async def test_an_empty_message_or_text_content_is_refused(truth: TruthSource) -> None:
    with pytest.raises(InvalidInput):
        await truth.write(APP, b"x", "   ")
    with pytest.raises(InvalidInput, match="must be bytes"):
        await truth.write(APP, "text", "text is not bytes")  # type: ignore[arg-type]
    with pytest.raises(InvalidInput, match="must be bytes"):
        await truth.write_many({APP: "text"}, "text is not bytes")  # type: ignore[dict-item]


# -- issues ------------------------------------------------------------------------------------
REG = ["registration", "satellite-app", "pending-approval"]


async def test_issues_are_created_listed_and_filtered_by_labels_and_state(truth: TruthSource) -> None:
    first = await truth.create_issue("[Registration] Quote Engine", "Please register it.", REG)
    second = await truth.create_issue("Question", "Unrelated", ["question"])
    assert (first.number, second.number) == (1, 2)
    assert first.state == "open" and first.labels == REG and first.body == "Please register it."
    assert [i.number for i in await truth.list_issues()] == [2, 1]
    assert [i.number for i in await truth.list_issues(["registration", "pending-approval"])] == [1]
    assert await truth.list_issues(["registration", "approved"]) == []
    assert (await truth.get_issue(1)).title == "[Registration] Quote Engine"


async def test_comments_are_added_and_listed_oldest_first(truth: TruthSource) -> None:
    issue = await truth.create_issue("[Registration] Quote Engine", "", REG)
    one = await truth.comment(issue.number, "Looks good.")
    await truth.comment(issue.number, "Approved by the owner.")
    assert one.body == "Looks good." and one.id > 0
    assert [c.body for c in await truth.list_comments(issue.number)] == ["Looks good.", "Approved by the owner."]
    assert (await truth.get_issue(issue.number)).comments == 2


async def test_labels_are_set_added_and_removed(truth: TruthSource) -> None:
    issue = await truth.create_issue("[Registration] Quote Engine", "", REG)
    issue = await truth.remove_label(issue.number, "pending-approval")
    assert issue.labels == ["registration", "satellite-app"]
    issue = await truth.add_labels(issue.number, ["approved", "registration"])
    assert issue.labels == ["registration", "satellite-app", "approved"]
    issue = await truth.remove_label(issue.number, "not-there")
    assert issue.labels == ["registration", "satellite-app", "approved"]
    issue = await truth.set_labels(issue.number, ["changes-requested"])
    assert issue.labels == ["changes-requested"]
    assert [i.number for i in await truth.list_issues(["changes-requested"])] == [issue.number]


async def test_closed_issues_leave_the_open_list(truth: TruthSource) -> None:
    issue = await truth.create_issue("[Registration] Quote Engine", "", REG)
    closed = await truth.close_issue(issue.number)
    assert closed.state == "closed" and closed.closed_at is not None
    assert await truth.list_issues() == []
    assert [i.number for i in await truth.list_issues(state="closed")] == [issue.number]
    assert [i.number for i in await truth.list_issues(state="all")] == [issue.number]
    assert (await truth.close_issue(issue.number)).state == "closed"


async def test_unknown_issues_are_not_found_and_bad_arguments_invalid(truth: TruthSource) -> None:
    with pytest.raises(NotFound):
        await truth.get_issue(99)
    with pytest.raises(NotFound):
        await truth.comment(99, "hello")
    with pytest.raises(InvalidInput):
        await truth.create_issue("  ", "", [])
    with pytest.raises(InvalidInput):
        await truth.create_issue("Title", "", ["a,b"])
    with pytest.raises(InvalidInput):
        await truth.list_issues(state="merged")
    issue = await truth.create_issue("Title", "", [])
    with pytest.raises(InvalidInput, match="comment is empty"):
        await truth.comment(issue.number, "  ")


async def test_issues_do_not_show_up_as_files_of_the_layout(truth: TruthSource) -> None:
    await truth.create_issue("[Registration] Quote Engine", "", REG)
    assert await truth.list("registry") == []


async def test_a_write_that_would_leak_a_secret_is_refused_and_names_where(truth: TruthSource) -> None:
    # Built at run time so the repository itself holds nothing that looks like a token.
    token = "ghp_" + "A1b2C3d4E5f6G7h8I9j0" * 2
    body = json.dumps({"slug": "quote-engine", "webhook": {"secret": token}}).encode()
    with pytest.raises(SecretLeakRefused) as refused:
        await truth.write("registry/apps/quote-engine.json", body, "Register quote-engine")
    assert "registry/apps/quote-engine.json" in str(refused.value)
    assert token not in str(refused.value)
    with pytest.raises(SecretLeakRefused):
        await truth.create_issue("[Registration] Quote Engine", f"token: {token}", ["registration"])
    assert await truth.get("registry/apps/quote-engine.json") is None
