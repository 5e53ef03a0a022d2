"""A throw-away PostgreSQL + PostGIS server for the tests: initdb on a temp folder,
listening on loopback only, stopped at the end of the session.

Debian's packages (``postgresql``, ``postgresql-15-postgis-3``) are installed by
``make test``. initdb refuses to run as root, so as root the server runs as the
``postgres`` user Debian creates.
"""

from __future__ import annotations

import contextlib
import glob
import os
import shutil
import socket
import subprocess
from pathlib import Path

REQUIRED = os.environ.get("TOWNMAP_TEST_POSTGIS", "") == "required"


def pg_bin() -> Path | None:
    """The newest installed PostgreSQL's program folder, if PostGIS is installed for it."""
    for folder in sorted(glob.glob("/usr/lib/postgresql/*/bin"), reverse=True):
        version = Path(folder).parent.name
        if glob.glob(f"/usr/share/postgresql/{version}/extension/postgis.control"):
            return Path(folder)
    return None


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


class PgServer:
    """One server; ``url(schema)`` gives a workspace URL in its own schema."""

    def __init__(self, root: Path) -> None:
        binaries = pg_bin()
        if binaries is None:
            raise RuntimeError("PostgreSQL with PostGIS is not installed (make test installs it)")
        self.bin = binaries
        self.root = root
        self.data = root / "pgdata"
        self.port = _free_port()
        self._as_user = ["runuser", "-u", "postgres", "--"] if os.geteuid() == 0 else []
        root.mkdir(parents=True, exist_ok=True)
        if self._as_user:
            shutil.chown(root, "postgres", "postgres")
            os.chmod(root, 0o700)

    def _run(self, *args: str) -> None:
        done = subprocess.run(
            [*self._as_user, *args], capture_output=True, text=True, timeout=120, check=False
        )
        if done.returncode:
            raise RuntimeError(f"{Path(args[0]).name} failed: {done.stderr or done.stdout}")

    def start(self) -> PgServer:
        self._run(
            str(self.bin / "initdb"), "-D", str(self.data), "-A", "trust", "-U", "townmap",
            "-E", "UTF8", "--locale=C.UTF-8", "--no-sync",
        )  # fmt: skip
        options = (
            f"-c listen_addresses=127.0.0.1 -p {self.port} -k {self.root} "
            "-c max_connections=200 -c shared_buffers=256MB -c max_locks_per_transaction=256"
        )
        self._run(
            str(self.bin / "pg_ctl"), "-D", str(self.data), "-o", options,
            "-l", str(self.root / "server.log"), "-w", "-t", "60", "start",
        )  # fmt: skip
        import psycopg

        with psycopg.connect(self.dsn("postgres"), autocommit=True) as con:
            con.execute("CREATE DATABASE townmap")
        with psycopg.connect(self.dsn("townmap"), autocommit=True) as con:
            con.execute("CREATE EXTENSION IF NOT EXISTS postgis")
        return self

    def dsn(self, db: str = "townmap") -> str:
        return f"postgresql://townmap@127.0.0.1:{self.port}/{db}"

    def url(self, schema: str) -> str:
        """A workspace location: this server's database, one schema per workspace."""
        return f"{self.dsn()}?schema={schema}"

    def stop(self) -> None:
        with contextlib.suppress(RuntimeError):
            self._run(str(self.bin / "pg_ctl"), "-D", str(self.data), "-m", "immediate", "stop")
