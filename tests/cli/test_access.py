"""`understudy api-keys` and `understudy reviewers`: a key shown once, stored hashed, listed without it."""

from __future__ import annotations

from typer.testing import CliRunner

from understudy.cli.main import app
from understudy.serve.keys import KeyStore


def test_a_key_is_shown_once_stored_hashed_and_revoked(tmp_path):
    keys = str(tmp_path / "keys.sqlite")
    made = CliRunner().invoke(app, ["api-keys", "create", "website-with-a-long-name-for-the-crm", "--keys", keys])
    assert made.exit_code == 0, made.output
    key = made.stdout.strip().splitlines()[0]
    assert key.startswith("us_") and len(key) > 40
    assert key.encode() not in (tmp_path / "keys.sqlite").read_bytes()
    listed = CliRunner().invoke(app, ["api-keys", "list", "--keys", keys])
    assert listed.exit_code == 0 and key not in listed.output and key[-4:] in listed.output
    assert "website-with-a-long-name-for-the-crm  client" in listed.output  # whole, never cut
    assert KeyStore(keys).check_key(key).name == "website-with-a-long-name-for-the-crm"
    assert (
        CliRunner()
        .invoke(app, ["api-keys", "revoke", "website-with-a-long-name-for-the-crm", "--keys", keys])
        .exit_code
        == 0
    )
    assert KeyStore(keys).check_key(key) == "revoked"
    again = CliRunner().invoke(app, ["api-keys", "revoke", "nobody", "--keys", keys])
    assert again.exit_code == 2 and "no active key named 'nobody'" in again.output


def test_bad_names_and_roles_are_plain_errors(tmp_path):
    keys = str(tmp_path / "keys.sqlite")
    bad_role = CliRunner().invoke(app, ["api-keys", "create", "x", "--role", "admin", "--keys", keys])
    assert bad_role.exit_code == 2 and "client, reviewer" in bad_role.output
    bad_name = CliRunner().invoke(app, ["api-keys", "create", "[red]x\n", "--keys", keys])
    assert bad_name.exit_code == 2 and "key name must be" in bad_name.output
    twice = [CliRunner().invoke(app, ["api-keys", "create", "crm", "--keys", keys]) for _ in range(2)]
    assert twice[0].exit_code == 0 and twice[1].exit_code == 2 and "exists already" in twice[1].output


def test_reviewers_log_in_with_their_password_only(tmp_path, monkeypatch):
    keys = str(tmp_path / "keys.sqlite")
    monkeypatch.setenv("DESK_PASSWORD", "correct horse battery")
    added = CliRunner().invoke(app, ["reviewers", "add", "dr.who", "--password-env", "DESK_PASSWORD", "--keys", keys])
    assert added.exit_code == 0, added.output
    assert "correct horse" not in added.output
    store = KeyStore(keys)
    assert store.login("dr.who", "wrong password!") is None and store.login("nobody", "correct horse battery") is None
    token = store.login("dr.who", "correct horse battery")
    assert store.session(token).name == "dr.who" and store.session(token).role == "reviewer"
    assert b"correct horse" not in (tmp_path / "keys.sqlite").read_bytes()
    short = CliRunner().invoke(app, ["reviewers", "add", "x", "--password-env", "NOPE", "--keys", keys])
    assert short.exit_code == 2 and "NOPE" in short.output
    assert CliRunner().invoke(app, ["reviewers", "remove", "dr.who", "--keys", keys]).exit_code == 0
    assert store.session(token) is None  # removing a reviewer ends their sessions
