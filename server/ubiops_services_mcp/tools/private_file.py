"""The SQLite file beside the audit log (previews, spent approval codes): private, and never through a link.

It holds service configurations and decides whether an approval code was spent, so it is opened only as a regular
file of this user (0600), never through a symbolic link (nor SQLite's companion files); a file that cannot be
used this way costs only what it remembers: the table is then kept in memory, for this process alone.
"""

from __future__ import annotations

import errno
import logging
import os
import sqlite3
import stat
from pathlib import Path
from typing import Final

from ..audit import make_private

logger = logging.getLogger(__name__)

_COMPANIONS: Final = ("-journal", "-wal", "-shm")  # files SQLite opens beside the database, following links


def open_sqlite(path: Path | None, table_ddl: str, what: str) -> sqlite3.Connection:
    """A connection to `path` with its table made, or to memory when there is no path or it cannot be used."""
    if path is not None:
        try:
            return _with_table(_open_file(path), table_ddl)
        except (OSError, sqlite3.Error) as exc:
            logger.warning("%s kept in memory only: %s cannot be used (%s)", what, path, exc)
    return _with_table(sqlite3.connect(":memory:", check_same_thread=False, isolation_level=None), table_ddl)


def _open_file(path: Path) -> sqlite3.Connection:
    """The file, never through a symbolic link and private to this user (0600), as a connection."""
    path.parent.mkdir(parents=True, exist_ok=True)
    for companion in (path.with_name(path.name + suffix) for suffix in _COMPANIONS):
        if companion.is_symlink():
            raise OSError(errno.ELOOP, "a symbolic link, never followed", str(companion))
    try:
        fd = os.open(path, os.O_RDWR | os.O_CREAT | os.O_NOFOLLOW | os.O_CLOEXEC, 0o600)
    except OSError as exc:
        if exc.errno == errno.ELOOP:
            raise OSError(errno.ELOOP, "a symbolic link, never followed", str(path)) from None
        raise
    try:
        opened = os.fstat(fd)
        if not stat.S_ISREG(opened.st_mode):
            raise OSError(errno.EINVAL, "not a regular file", str(path))
        make_private(fd, path)
        db = sqlite3.connect(str(path), timeout=1, check_same_thread=False, isolation_level=None)
        try:
            now = os.lstat(path)  # SQLite opened the path again: it must still be the file checked above
        except OSError:
            db.close()
            raise
        if (now.st_dev, now.st_ino) != (opened.st_dev, opened.st_ino):
            db.close()
            raise OSError(errno.ELOOP, "replaced while it was opened", str(path))
        return db
    finally:
        os.close(fd)


def _with_table(db: sqlite3.Connection, table_ddl: str) -> sqlite3.Connection:
    """The connection with its table; closed if the table cannot be made, so no connection is left open."""
    try:
        db.execute(table_ddl)
    except BaseException:
        db.close()
        raise
    return db
