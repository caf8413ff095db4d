"""An erased client's notes and address do not stay readable in the bytes of the SQLite file or
its write-ahead log (secure_delete + a checkpoint after the erasure)."""

from __future__ import annotations

import sqlite3
import threading
from pathlib import Path

from fastapi.testclient import TestClient

from api.app import create_app
from api.auth import Role, issue_token
from api.db.base import make_engine, purge_freed_content
from api.settings import Settings

NOTE = "Hat Angst vor Hunden 7Q4X"
ADDRESS = "Geheimgasse 77, 64711 Erbach"
NAME = "Zofia Kowalczyk-Brandt"


def _raw(db_file: Path) -> bytes:
    """The database file and its -wal / -journal, as bytes on disk."""
    paths = [db_file, *(db_file.with_name(db_file.name + s) for s in ("-wal", "-journal"))]
    return b"".join(path.read_bytes() for path in paths if path.exists())


def test_erased_personal_data_leaves_the_sqlite_file(tmp_path: Path) -> None:
    db_file = tmp_path / "vanplan.db"
    app = create_app(Settings(database_url=f"sqlite:///{db_file}", osm_file=None))
    with TestClient(app) as client:
        with app.state.db.session() as session:
            headers = {"Authorization": f"Bearer {issue_token(session, Role.DISPATCHER).secret}"}
        created = client.post(
            "/v1/clients",
            json={
                "id": "c1",
                "name": NAME,
                "address": ADDRESS,
                "location": [8.99, 49.66],
                "notes": NOTE,
            },
            headers=headers,
        )
        assert created.status_code == 201, created.text
        visit = client.post(
            "/v1/visits",
            json={"id": "v1", "client_id": "c1", "duration_minutes": 30, "address": ADDRESS},
            headers=headers,
        )
        assert visit.status_code == 201, visit.text
        before = _raw(db_file)
        for secret in (NOTE, ADDRESS, NAME):
            assert secret.encode() in before  # the test looks at the right bytes

        erased = client.post("/v1/clients/c1/erase", headers=headers)
        assert erased.status_code == 200, erased.text

        after = _raw(db_file)
        for secret in (NOTE, ADDRESS, NAME):
            assert secret.encode() not in after, secret
        # The database still works after the checkpoint.
        assert client.get("/v1/clients/c1", headers=headers).json()["erased"] is True


def test_the_checkpoint_waits_for_a_reader_of_the_wal(tmp_path: Path) -> None:
    """A reader still on the write-ahead log blocks the checkpoint longer than SQLite's busy
    timeout (5 s): the erased content must leave the ``-wal`` once the reader is done, not stay."""
    db_file = tmp_path / "wal.db"
    engine = make_engine(f"sqlite:///{db_file}")
    try:
        with engine.begin() as connection:
            connection.exec_driver_sql("CREATE TABLE notes (text TEXT)")
            connection.exec_driver_sql("INSERT INTO notes VALUES (?)", (NOTE,))
        reader = sqlite3.connect(db_file, check_same_thread=False)
        reader.execute("BEGIN")
        assert reader.execute("SELECT text FROM notes").fetchall() == [(NOTE,)]  # on the WAL
        done = threading.Timer(6.0, reader.rollback)  # longer than the busy timeout
        done.start()
        try:
            with engine.begin() as connection:
                connection.exec_driver_sql("DELETE FROM notes")
            purge_freed_content(engine)
        finally:
            done.join()
            reader.close()
        assert NOTE.encode() not in _raw(db_file)
    finally:
        engine.dispose()
