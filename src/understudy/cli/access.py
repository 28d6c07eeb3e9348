"""`understudy api-keys ...` and `understudy reviewers ...`: who may use a server.

A key is printed once, when it is made, and never again; the file keeps only its hash.
"""

from __future__ import annotations

import typer

KEYS_OPTION = typer.Option(
    None, "--keys", help="The key file (default: $UNDERSTUDY_KEYS, else ~/.understudy/keys.sqlite)."
)

api_keys = typer.Typer(no_args_is_help=True, help="API keys for `understudy serve`: create, list, revoke.")
reviewers = typer.Typer(no_args_is_help=True, help="Reviewer accounts for the review desk: add, list, remove.")


def _store(path: str | None, *, create: bool = True):
    from ..serve.keys import KeyStore

    return KeyStore(path, create=create)


def _guarded(fn):
    """fn() with the CLI's one error path (a UserError printed as plain text on stderr, exit 2)."""
    from .main import _console, _run

    return _run(fn, _console(True))


def _table(title: str, columns: list[str], rows: list[list[str]]) -> None:
    """Plain aligned columns: a name is never cut or folded to fit the terminal."""
    widths = [max([len(c)] + [len(str(r[i])) for r in rows]) for i, c in enumerate(columns)]
    typer.echo(title)
    for row in [columns] + rows:
        typer.echo("  ".join(str(v).ljust(w) for v, w in zip(row, widths)).rstrip())
    if not rows:
        typer.echo("(none)")


@api_keys.command("create")
def create(
    name: str = typer.Argument(..., help="A name for the key: who or what uses it (e.g. website, crm-sync)."),
    role: str = typer.Option("client", "--role", help="client (ask the model) or reviewer (also the review queue)."),
    keys: str | None = KEYS_OPTION,
):
    """Make an API key. It is shown once: store it where the caller keeps secrets."""
    store = _guarded(lambda: _store(keys))
    key = _guarded(lambda: store.create_key(name, role))
    typer.echo(key)
    typer.echo(f"key '{name}' ({role}) made in {store.path}; it is shown this once only.", err=True)


@api_keys.command("list")
def list_keys(keys: str | None = KEYS_OPTION):
    """The keys a server accepts (their names, roles and last four characters, never the keys)."""
    store = _store(keys)
    rows = [
        [k["name"], k["role"], "…" + k["ends_with"], k["created"], k["revoked"] or "active"] for k in store.list_keys()
    ]
    _table(f"API keys in {store.path}", ["name", "role", "ends with", "created", "revoked"], rows)


@api_keys.command("revoke")
def revoke(name: str = typer.Argument(..., help="The key's name."), keys: str | None = KEYS_OPTION):
    """Revoke a key: from now on a server answers it with 403."""
    _guarded(lambda: _store(keys, create=False).revoke(name))
    typer.echo(f"key '{name}' revoked")


@reviewers.command("add")
def add(
    name: str = typer.Argument(..., help="The reviewer's login name."),
    keys: str | None = KEYS_OPTION,
    password_env: str | None = typer.Option(
        None, "--password-env", help="Read the password from this environment variable instead of asking."
    ),
):
    """Add a reviewer (or set a reviewer's password). The password is asked for, never taken as an argument."""
    import os

    from ..errors import UserError

    def password() -> str:
        if not password_env:
            return typer.prompt("password", hide_input=True, confirmation_prompt=True)
        if not os.environ.get(password_env):
            raise UserError(f"environment variable {password_env} is empty or not set")
        return os.environ[password_env]

    _guarded(lambda: _store(keys).add_reviewer(name, password()))
    typer.echo(f"reviewer '{name}' can log in at /review")


@reviewers.command("list")
def list_reviewers(keys: str | None = KEYS_OPTION):
    """The reviewer accounts."""
    store = _store(keys)
    _table(
        f"reviewers in {store.path}", ["name", "created"], [[r["name"], r["created"]] for r in store.list_reviewers()]
    )


@reviewers.command("remove")
def remove(name: str = typer.Argument(..., help="The reviewer's login name."), keys: str | None = KEYS_OPTION):
    """Remove a reviewer and end their sessions."""
    _guarded(lambda: _store(keys, create=False).remove_reviewer(name))
    typer.echo(f"reviewer '{name}' removed")
