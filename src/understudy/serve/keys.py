"""Who may use a server: API keys (for programs) and reviewer accounts (for people at the review desk).

One SQLite file holds both. A key is shown once, when it is made; only its SHA-256 is stored (a key is 32
random bytes, so a fast hash is enough). A reviewer's password is stored as scrypt, which is slow on purpose.
A reviewer logs in for a session whose token is stored hashed too, so a stolen file opens nothing.

Roles: a `client` key may ask the model; a `reviewer` key may also read and decide the review queue.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import hmac
import os
import re
import secrets
import sqlite3
import threading
from dataclasses import dataclass
from pathlib import Path

from ..errors import UserError

ROLES = ("client", "reviewer")
KEY_PREFIX = "us_"
SESSION_HOURS = 12
_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._@-]{0,63}$")


def default_path() -> Path:
    """$UNDERSTUDY_KEYS, else keys.sqlite in $UNDERSTUDY_HOME (default ~/.understudy)."""
    if os.environ.get("UNDERSTUDY_KEYS"):
        return Path(os.environ["UNDERSTUDY_KEYS"]).expanduser()
    return Path(os.environ.get("UNDERSTUDY_HOME", "~/.understudy")).expanduser() / "keys.sqlite"


@dataclass(frozen=True)
class Principal:
    """Who made a request: an API key's name or a reviewer's name, with the role it holds."""

    name: str
    role: str
    via: str  # "key" or "session"

    def can(self, role: str) -> bool:
        return self.role == role or (role == "client" and self.role == "reviewer")


class KeyStore:
    def __init__(self, path: str | Path | None = None, *, create: bool = True):
        self.path = Path(path) if path else default_path()
        if not self.path.is_file() and not create:
            raise UserError(
                f"no key file at {self.path}: make a key first with `understudy api-keys create NAME`"
                " (or point --keys / UNDERSTUDY_KEYS at your key file)"
            )
        self.path.parent.mkdir(parents=True, exist_ok=True)
        self._local = threading.local()
        db = self._db()
        db.executescript("""
            create table if not exists api_keys (
                name text primary key, role text not null, hash text not null unique, hint text not null,
                created text not null, revoked text);
            create table if not exists reviewers (
                name text primary key, salt text not null, hash text not null, created text not null);
            create table if not exists sessions (
                hash text primary key, reviewer text not null, expires text not null);
        """)
        try:
            os.chmod(self.path, 0o600)  # hashes only, but still nobody else's business
        except OSError:
            pass

    def _db(self) -> sqlite3.Connection:
        db = getattr(self._local, "db", None)
        if db is None:  # one connection per thread: sqlite3 connections are not to be shared
            db = sqlite3.connect(self.path, isolation_level=None, timeout=30)
            db.execute("pragma journal_mode=wal")
            self._local.db = db
        return db

    # API keys -----------------------------------------------------------------------------------
    def create_key(self, name: str, role: str = "client") -> str:
        """Make a key; the key itself is returned once and never stored."""
        _check_name(name, "key name")
        if role not in ROLES:
            raise UserError(f"role {role!r} is not one of {', '.join(ROLES)}")
        if self._db().execute("select 1 from api_keys where name = ?", (name,)).fetchone():
            raise UserError(f"a key named {name!r} exists already: pick another name, or revoke it first")
        key = KEY_PREFIX + secrets.token_urlsafe(32)
        self._db().execute(
            "insert into api_keys (name, role, hash, hint, created) values (?, ?, ?, ?, ?)",
            (name, role, _sha(key), key[-4:], _now()),
        )
        return key

    def list_keys(self) -> list[dict]:
        rows = self._db().execute("select name, role, hint, created, revoked from api_keys order by created, name")
        return [dict(zip(("name", "role", "ends_with", "created", "revoked"), r)) for r in rows.fetchall()]

    def revoke(self, name: str) -> None:
        cur = self._db().execute("update api_keys set revoked = ? where name = ? and revoked is null", (_now(), name))
        if cur.rowcount == 0:
            known = [k["name"] for k in self.list_keys() if not k["revoked"]]
            raise UserError(f"no active key named {name!r}; active keys: {', '.join(known) or 'none'}")

    def check_key(self, key: str) -> Principal | str | None:
        """The key's principal; 'revoked' for a revoked key; None for a key this store never made."""
        row = self._db().execute("select name, role, revoked from api_keys where hash = ?", (_sha(key),)).fetchone()
        if row is None:
            return None
        return "revoked" if row[2] else Principal(row[0], row[1], "key")

    def has_keys(self) -> bool:
        return self._db().execute("select 1 from api_keys where revoked is null").fetchone() is not None

    # Reviewers ----------------------------------------------------------------------------------
    def add_reviewer(self, name: str, password: str) -> None:
        _check_name(name, "reviewer name")
        if len(password) < 10:
            raise UserError("a reviewer's password needs at least 10 characters")
        salt = secrets.token_hex(16)
        self._db().execute(
            "insert or replace into reviewers (name, salt, hash, created) values (?, ?, ?, ?)",
            (name, salt, _scrypt(password, salt), _now()),
        )

    def remove_reviewer(self, name: str) -> None:
        if self._db().execute("delete from reviewers where name = ?", (name,)).rowcount == 0:
            raise UserError(f"no reviewer named {name!r}")
        self._db().execute("delete from sessions where reviewer = ?", (name,))

    def list_reviewers(self) -> list[dict]:
        rows = self._db().execute("select name, created from reviewers order by name").fetchall()
        return [{"name": n, "created": c} for n, c in rows]

    def login(self, name: str, password: str) -> str | None:
        """A session token for a reviewer whose password matches; None otherwise (the same for either mistake)."""
        row = self._db().execute("select salt, hash from reviewers where name = ?", (name,)).fetchone()
        salt, stored = row if row else ("0" * 32, "")
        ok = hmac.compare_digest(_scrypt(password, salt), stored)  # hashed even for an unknown name: same time
        if not (row and ok):
            return None
        token = secrets.token_urlsafe(32)
        expires = dt.datetime.now(dt.UTC) + dt.timedelta(hours=SESSION_HOURS)
        db = self._db()
        db.execute("delete from sessions where expires < ?", (_now(),))
        db.execute("insert into sessions values (?, ?, ?)", (_sha(token), name, expires.isoformat(timespec="seconds")))
        return token

    def session(self, token: str) -> Principal | None:
        row = (
            self._db()
            .execute("select reviewer from sessions where hash = ? and expires >= ?", (_sha(token), _now()))
            .fetchone()
        )
        return Principal(row[0], "reviewer", "session") if row else None

    def logout(self, token: str) -> None:
        self._db().execute("delete from sessions where hash = ?", (_sha(token),))


def _check_name(name: str, what: str) -> None:
    if not _NAME.match(name or ""):
        raise UserError(f"{what} must be 1-64 letters, digits or . _ @ - (starting with a letter or digit)")


def _sha(text: str) -> str:
    return hashlib.sha256(text.encode("utf-8", "surrogatepass")).hexdigest()


def _scrypt(password: str, salt: str) -> str:
    return hashlib.scrypt(password.encode("utf-8", "surrogatepass"), salt=bytes.fromhex(salt), n=2**14, r=8, p=1).hex()


def _now() -> str:
    return dt.datetime.now(dt.UTC).isoformat(timespec="seconds")
