"""What the Python tests share: a real `segserve serve` on a free loopback port (`serve`), a
private PostgreSQL server (`postgres`), request bodies (`png`, `multipart`), and a folder of
random stand-ins for the pretrained weights training starts from (`random_weights`)."""
import contextlib
import glob
import io
import json
import math
import os
import random
import re
import select
import shutil
import signal
import subprocess
import tempfile
import threading
import time
import uuid

from PIL import Image

REPO = os.path.abspath(os.path.join(os.path.dirname(__file__), ".."))
SPEC_PATH = os.path.join(REPO, "openapi.yaml")
TINY_MODEL = os.path.join(REPO, "Tests", "LDMSegTests", "Fixtures", "tiny_model")
# A miniature data root and CC BY photos (tools/reference/make_data_fixtures.py).
DATA = os.path.join(REPO, "Tests", "Fixtures", "data")
PHOTOS = sorted(glob.glob(os.path.join(REPO, "Tests", "Fixtures", "photos", "*.jpg")))
# torchvision's MobileNetV2 and EdgeNets' ESPNetv2 tensor names and shapes (tools/reference/make_data_fixtures.py).
MOBILENET_V2_LAYOUT = os.path.join(REPO, "Tests", "Fixtures", "mobilenet_v2_layout.json")
ESPNETV2_LAYOUT = os.path.join(REPO, "Tests", "Fixtures", "espnetv2_layout.json")


def binary(configuration):
    """`.build/<configuration>/segserve`, which `make test` builds."""
    path = os.path.join(REPO, ".build", configuration, "segserve")
    assert os.access(path, os.X_OK), f"{path} is missing: run `make test` (it builds debug and release)"
    return path


@contextlib.contextmanager
def serve(configuration="debug", **settings):
    """Yields (base URL, process) of a server (the tiny model unless `model=` names another);
    `settings` become SEGSERVE_* variables. A thread drains its stderr, so a long test never
    blocks the server on a full pipe; `process.log()` is what it wrote (all of it once it has
    exited). Stops it with SIGTERM and checks it exits cleanly."""
    with tempfile.TemporaryDirectory() as tmp:
        env = dict(os.environ, SEGSERVE_MODEL=TINY_MODEL, SEGSERVE_DATABASE=os.path.join(tmp, "jobs.sqlite"),
                   SEGSERVE_OPENAPI_PATH=SPEC_PATH, SEGSERVE_WEB_ROOT=os.path.join(REPO, "web"), SEGSERVE_WORKERS_THREADS="1")
        env.update({f"SEGSERVE_{k.upper()}": str(v) for k, v in settings.items()})
        proc = subprocess.Popen([binary(configuration), "serve", "--port", "0"], cwd=tmp, env=env,
                                stderr=subprocess.PIPE, text=True)
        try:
            port, seen, deadline = None, "", time.time() + 60
            while port is None and time.time() < deadline and proc.poll() is None:
                ready, _, _ = select.select([proc.stderr], [], [], 1)
                if ready:
                    seen += proc.stderr.readline()
                    match = re.search(r"address=127\.0\.0\.1:(\d+)", seen)
                    port = int(match.group(1)) if match else None
            assert port, f"segserve did not start: {seen}"
            lines = [seen]
            drain = threading.Thread(target=lambda: lines.extend(proc.stderr), daemon=True)
            drain.start()

            def log():
                if proc.poll() is not None:
                    drain.join(timeout=30)
                return "".join(lines)
            proc.log = log
            yield f"http://127.0.0.1:{port}", proc
            proc.send_signal(signal.SIGTERM)
            assert proc.wait(timeout=30) == 0
        finally:
            if proc.poll() is None:
                proc.kill()
                proc.wait()


def png(width=72, height=48, mode="RGB", fill=None):
    """A PNG of noise, or of one colour `fill`."""
    image = Image.new(mode, (width, height), fill) if fill is not None else Image.effect_noise((width, height), 64).convert(mode)
    out = io.BytesIO()
    image.save(out, format="PNG")
    return out.getvalue()


def random_weights(folder, seed=0):
    """`folder` laid out as training's --inputs (weights/taef2, weights/mobilenet_v2, weights/espnetv2) with
    randomly initialised weights of the right names and shapes, so training runs without the
    pretrained files."""
    import torch
    from segtools.reference import espnetv2
    from segtools.reference import ldmseg_reference as ref
    torch.manual_seed(seed)
    taef2 = os.path.join(folder, "weights", "taef2")
    os.makedirs(taef2, exist_ok=True)
    torch.save(ref.tiny_encoder(width=64, latent=32).state_dict(), os.path.join(taef2, "taef2_encoder.pth"))
    with open(MOBILENET_V2_LAYOUT) as f:
        layout = json.load(f)
    state = {}
    for name, shape in layout.items():
        if name.endswith("num_batches_tracked"):
            state[name] = torch.zeros(shape, dtype=torch.long)
        elif len(shape) > 1:  # LeCun-normal: with He-normal, activations grow through the 19 blocks
            state[name] = torch.randn(shape) * math.sqrt(1 / math.prod(shape[1:]))
        else:  # BatchNorm: identity
            state[name] = torch.ones(shape) if name.endswith(("weight", "running_var")) else torch.zeros(shape)
    mobilenet = os.path.join(folder, "weights", "mobilenet_v2")
    os.makedirs(mobilenet, exist_ok=True)
    torch.save(state, os.path.join(mobilenet, "mobilenet_v2-b0353104.pth"))
    os.makedirs(os.path.join(folder, "weights", "espnetv2"), exist_ok=True)
    torch.save(espnetv2.ESPNetv2Segmentation().state_dict(), os.path.join(folder, "weights", "espnetv2", espnetv2.CHECKPOINT))
    return str(folder)


def multipart(parts):
    """A multipart/form-data body of (name, content type, bytes) parts, and its headers."""
    boundary = uuid.uuid4().hex
    body = b""
    for name, content_type, data in parts:
        body += (f"--{boundary}\r\nContent-Disposition: form-data; name=\"{name}\"; filename=\"{name}\"\r\n"
                 f"Content-Type: {content_type}\r\n\r\n").encode() + data + b"\r\n"
    return body + f"--{boundary}--\r\n".encode(), {"Content-Type": f"multipart/form-data; boundary={boundary}"}


# A private PostgreSQL server: a fresh cluster in a temporary folder on a free loopback port
# (Debian's postgresql package provides the programs; `make test` installs it). PostgreSQL
# refuses to run as root, so as root the programs run as the package's postgres user.

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
