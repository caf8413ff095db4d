"""SQLite (the embedded default): a block that reads and then writes inside a savepoint (a new
plan version takes the next version number) survives another connection's commit in between.

Without the write lock taken at the savepoint, the block's first SELECT fixes a snapshot that the
other commit makes stale, and the INSERT fails at once with "database is locked".
"""

from __future__ import annotations

import threading
from pathlib import Path

from sqlalchemy import text
from sqlalchemy.orm import Session

from api.db.base import make_engine


def test_a_savepoint_block_that_reads_then_writes_survives_a_concurrent_commit(
    tmp_path: Path,
) -> None:
    engine = make_engine(f"sqlite:///{tmp_path / 'lock.db'}")
    with engine.begin() as connection:
        connection.execute(text("CREATE TABLE versions (n INTEGER PRIMARY KEY, who TEXT)"))
        connection.execute(text("INSERT INTO versions VALUES (1, 'first')"))

    other_done = threading.Event()
    other_errors: list[BaseException] = []

    def other_writer() -> None:
        try:
            with engine.begin() as connection:
                connection.execute(text("INSERT INTO versions (who) VALUES ('other')"))
        except BaseException as exc:  # reported by the assertion below
            other_errors.append(exc)
        finally:
            other_done.set()

    with Session(engine) as session:
        with session.begin_nested():
            top = session.execute(text("SELECT max(n) FROM versions")).scalar_one()
            writer = threading.Thread(target=other_writer)
            writer.start()
            # The other writer waits for this block's lock (or, without it, commits now).
            other_done.wait(timeout=1.0)
            session.execute(text("INSERT INTO versions VALUES (:n, 'block')"), {"n": top + 1})
        session.commit()
    writer.join(timeout=30)

    assert not writer.is_alive()
    assert other_errors == []
    with engine.connect() as connection:
        rows = connection.execute(text("SELECT n, who FROM versions ORDER BY n")).all()
    assert [tuple(r) for r in rows] == [(1, "first"), (2, "block"), (3, "other")]
    engine.dispose()


def test_a_savepoint_inside_a_writing_transaction_nests_in_it(tmp_path: Path) -> None:
    engine = make_engine(f"sqlite:///{tmp_path / 'nest.db'}")
    with engine.begin() as connection:
        connection.execute(text("CREATE TABLE t (n INTEGER PRIMARY KEY)"))
    with Session(engine) as session:
        session.execute(text("INSERT INTO t VALUES (1)"))
        with session.begin_nested():
            session.execute(text("INSERT INTO t VALUES (2)"))
        nested = session.begin_nested()
        session.execute(text("INSERT INTO t VALUES (3)"))
        nested.rollback()
        session.commit()
    with engine.connect() as connection:
        assert connection.execute(text("SELECT n FROM t ORDER BY n")).scalars().all() == [1, 2]
    engine.dispose()
