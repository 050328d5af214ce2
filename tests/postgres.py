"""A throwaway PostgreSQL cluster for the tests: initdb in a temp dir, listening only on 127.0.0.1,
started once per session and removed after it, with a fresh database for every test that asks.

PostgreSQL refuses to run as root, so as root the cluster belongs to the ``postgres`` system user.
Without PostgreSQL binaries the tests that need it are skipped, saying why.
"""

from __future__ import annotations

import glob
import itertools
import os
import pwd
import shutil
import subprocess
import tempfile
from collections.abc import Iterator
from pathlib import Path

import psycopg
import pytest

from tests.conftest import closed_port

SUPERUSER = "postgres"
START_ATTEMPTS = 3  # a free port may be taken between probing it and the server binding it


def _binaries() -> Path | None:
    """The directory holding initdb and pg_ctl: on the PATH, else the newest Debian install."""
    on_path = shutil.which("initdb")
    if on_path is not None and shutil.which("pg_ctl") is not None:
        return Path(on_path).resolve().parent
    installed = sorted(glob.glob("/usr/lib/postgresql/*/bin/initdb"), key=lambda path: float(path.split("/")[4]))
    return Path(installed[-1]).parent if installed else None


class Cluster:
    """A running cluster in ``root``, run as ``owner`` (None: as this process's user)."""

    def __init__(self, *, binaries: Path, root: Path, owner: str | None) -> None:
        self.binaries = binaries
        self.root = root
        self.owner = owner
        self.data = root / "data"
        self.port = 0
        self._names = itertools.count()

    def run(self, program: str, *args: str) -> None:
        command = [str(self.binaries / program), *args]
        if self.owner is not None:
            command = ["runuser", "-u", self.owner, "--", *command]
        done = subprocess.run(command, check=False, capture_output=True, text=True)
        if done.returncode != 0:
            raise RuntimeError(f"{program} failed ({done.returncode}): {done.stderr.strip()}")

    def start(self) -> None:
        self.run("initdb", "--pgdata", str(self.data), "--username", SUPERUSER, "--auth", "trust", "--no-sync")
        log = self.root / "log"
        for attempt in range(START_ATTEMPTS):
            self.port = closed_port()
            # A throwaway cluster: nothing needs to survive a crash, so nothing is flushed.
            options = f"-c listen_addresses=127.0.0.1 -p {self.port} -k {self.root} -c fsync=off"
            options += " -c synchronous_commit=off -c full_page_writes=off"
            try:
                self.run(
                    "pg_ctl", "start", "--wait", "--pgdata", str(self.data), "--log", str(log), "--options", options
                )
                return
            except RuntimeError as failure:
                if attempt == START_ATTEMPTS - 1:
                    raise RuntimeError(f"{failure}\n{log.read_text()}") from None

    def stop(self) -> None:
        self.run("pg_ctl", "stop", "--wait", "--mode", "fast", "--pgdata", str(self.data))

    def url(self, database: str) -> str:
        return f"postgresql://{SUPERUSER}@127.0.0.1:{self.port}/{database}"

    def create_database(self) -> str:
        name = f"test_{next(self._names)}"
        with psycopg.connect(self.url("postgres"), autocommit=True) as admin:
            admin.execute(f"CREATE DATABASE {name}")
        return name

    def drop_database(self, name: str) -> None:
        with psycopg.connect(self.url("postgres"), autocommit=True) as admin:
            admin.execute(f"DROP DATABASE {name} WITH (FORCE)")


@pytest.fixture(scope="session")
def postgres_cluster() -> Iterator[Cluster]:
    binaries = _binaries()
    if binaries is None:
        pytest.skip("PostgreSQL is not installed: no initdb on the PATH or in /usr/lib/postgresql/*/bin")
    owner = None
    if os.geteuid() == 0:
        try:
            pwd.getpwnam(SUPERUSER)
        except KeyError:
            pytest.skip(f"PostgreSQL refuses to run as root and there is no {SUPERUSER!r} user to run it as")
        owner = SUPERUSER
    root = Path(tempfile.mkdtemp(prefix="candlecast-pg-"))
    if owner is not None:
        shutil.chown(root, owner)
    cluster = Cluster(binaries=binaries, root=root, owner=owner)
    try:
        cluster.start()
        yield cluster
        cluster.stop()
    finally:
        shutil.rmtree(root, ignore_errors=True)


@pytest.fixture
def postgres_url(postgres_cluster: Cluster) -> Iterator[str]:
    """The URL of a fresh, empty database, dropped after the test."""
    name = postgres_cluster.create_database()
    yield postgres_cluster.url(name)
    postgres_cluster.drop_database(name)
