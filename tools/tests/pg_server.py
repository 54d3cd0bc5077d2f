"""A private PostgreSQL server for the Python tests: a fresh cluster in a temporary folder on a
free loopback port (Debian's postgresql package provides the programs; `make test` installs it).
PostgreSQL refuses to run as root, so as root the programs run as the package's postgres user."""
import contextlib
import glob
import os
import random
import shutil
import subprocess
import tempfile
import uuid


class PostgresServer:
    def __init__(self, folder):
        versions = sorted(glob.glob("/usr/lib/postgresql/*/bin"), key=lambda p: int(p.split("/")[-2]))
        assert versions, "no PostgreSQL server programs: install Debian's postgresql (make test-deps)"
        self.bin = versions[-1]
        self.folder = folder
        self.data = os.path.join(folder, "data")
        self.as_user = ["runuser", "-u", "postgres", "--"] if os.getuid() == 0 else []
        if os.getuid() == 0:
            shutil.chown(folder, "postgres")
        self._run("initdb", "-D", self.data, "-U", "postgres", "--auth=trust", "-E", "UTF8", "--no-sync")
        self.port = random.randint(20000, 50000)
        self.start()

    def _run(self, program, *args):
        with open(os.path.join(self.folder, "ctl.log"), "a") as log:
            subprocess.run(self.as_user + [os.path.join(self.bin, program), *args], check=True, stdout=log, stderr=log,
                           stdin=subprocess.DEVNULL, cwd="/tmp")

    def start(self):
        options = f"-p {self.port} -k {self.folder} -c listen_addresses=127.0.0.1 -c fsync=off -c max_connections=200"
        self._run("pg_ctl", "-D", self.data, "-w", "-l", os.path.join(self.folder, "server.log"), "-o", options, "start")

    def stop(self, mode="fast"):
        self._run("pg_ctl", "-D", self.data, "-m", mode, "-w", "stop")

    def sql(self, statement, database="postgres"):
        """Rows of one statement, each a list of text fields."""
        out = subprocess.run(self.as_user + [os.path.join(self.bin, "psql"), "-h", "127.0.0.1", "-p", str(self.port), "-U",
                                             "postgres", "-d", database, "-v", "ON_ERROR_STOP=1", "-At", "-F", "\t", "-c", statement],
                             check=True, capture_output=True, text=True, cwd="/tmp").stdout
        return [line.split("\t") for line in out.splitlines() if line]

    def new_database(self):
        name = "t_" + uuid.uuid4().hex
        self.sql(f"CREATE DATABASE {name}")
        return name, f"postgres://postgres@127.0.0.1:{self.port}/{name}"


@contextlib.contextmanager
def postgres():
    folder = tempfile.mkdtemp(prefix="segserve-pg-")
    os.chmod(folder, 0o755)
    server = PostgresServer(folder)
    try:
        yield server
    finally:
        with contextlib.suppress(Exception):
            server.stop("immediate")
        shutil.rmtree(folder, ignore_errors=True)
