"""The SQLite response cache (``cache="responses.db"``): entries survive restarts and are
shared by the processes of one host; LRU by size. Imported only when asked for."""

from __future__ import annotations

import sqlite3
import threading
import time

from ..cache.key import digest
from .memory import MemoryStore

__all__ = ["SqliteStore"]

_SCHEMA = "CREATE TABLE IF NOT EXISTS cache (key TEXT PRIMARY KEY, value BLOB, expires REAL, used REAL, size INTEGER)"


class SqliteStore(MemoryStore):
    """The cache in a SQLite file (WAL); limits, budgets and cooldowns stay in memory."""

    def __init__(self, path: str) -> None:
        super().__init__()
        self.path = path
        self._db_lock = threading.Lock()
        self._db = sqlite3.connect(path, check_same_thread=False, isolation_level=None, timeout=10.0)
        self._db.execute("PRAGMA journal_mode=WAL")
        self._db.execute("PRAGMA synchronous=NORMAL")
        self._db.execute(_SCHEMA)
        self._db.execute("CREATE INDEX IF NOT EXISTS cache_used ON cache (used)")

    def __repr__(self) -> str:
        return f"SqliteStore({self.path!r})"

    def cache_get(self, key: bytes) -> bytes | None:
        return self._get(digest(key))

    def _get(self, key: str) -> bytes | None:
        now = time.time()
        with self._db_lock:
            row = self._db.execute("SELECT value, expires FROM cache WHERE key = ?", (key,)).fetchone()
            if row is None:
                return None
            if row[1] and row[1] <= now:
                self._db.execute("DELETE FROM cache WHERE key = ?", (key,))
                return None
            self._db.execute("UPDATE cache SET used = ? WHERE key = ?", (now, key))
            return bytes(row[0])

    def cache_put(self, key: bytes, value: bytes, ttl_s: float | None, max_bytes: int) -> None:
        self._put(digest(key), value, ttl_s, max_bytes)

    def _put(self, key: str, value: bytes, ttl_s: float | None, max_bytes: int) -> None:
        if len(value) > max_bytes:
            return
        now = time.time()
        with self._db_lock:
            self._db.execute("BEGIN IMMEDIATE")
            try:
                self._db.execute(
                    "INSERT OR REPLACE INTO cache VALUES (?, ?, ?, ?, ?)",
                    (key, value, now + ttl_s if ttl_s else 0.0, now, len(value)),
                )
                self._db.execute("DELETE FROM cache WHERE expires > 0 AND expires <= ?", (now,))
                total = self._db.execute("SELECT COALESCE(SUM(size), 0) FROM cache").fetchone()[0]
                while total > max_bytes:
                    victim = self._db.execute("SELECT key, size FROM cache ORDER BY used LIMIT 1").fetchone()
                    if victim is None:
                        break
                    self._db.execute("DELETE FROM cache WHERE key = ?", (victim[0],))
                    total -= victim[1]
                self._db.execute("COMMIT")
            except BaseException:
                self._db.execute("ROLLBACK")
                raise

    def close(self) -> None:
        with self._db_lock:
            self._db.close()  # idempotent
