"""Install on a server, checked: the wheel, `pip install understudy[serve]` in a fresh virtual environment, and
`understudy serve` of a real run folder answering over HTTP behind an API key.

    .venv/bin/python scripts/check_install.py [--run DIR] [--keep] [--unpinned-resolve]

Steps, each timed: build the wheel from a clean copy of the sources (what the Dockerfile copies); make a fresh
venv; `pip install -c requirements.txt "understudy-*.whl[serve]"` (dependencies from the package index, at the
lock's versions); check that torch was not pulled; make a tiny run folder with the dev venv (`understudy
distill`, scripts/build_tiny_run.py) unless --run names one; in the fresh venv: `understudy api-keys create`,
`understudy serve RUN --keys K --port P`, wait for /health, POST /v1/classify with the key, 401 without one
and with a wrong one, /metrics; stop the server. Then a transformer student served from the same venv must
stop with the message naming `understudy[serve,transformer]`. Exits non-zero with the reason on any failure.

scripts/check_dockerfile.py uses these functions to run the Dockerfile's steps the same way.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
import urllib.error
import urllib.request
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
DEV_PYTHON = ROOT / ".venv" / "bin" / "python"
LOCK = ROOT / "requirements.txt"
# Packages that must never come with `understudy[serve]`: a plain torch resolve pulls GBs of CUDA.
HEAVY = ("torch", "triton", "nvidia-")
_START = time.monotonic()


class CheckFailed(Exception):
    """A check that did not pass: the message says what, and what was seen."""


def say(message: str) -> None:
    print(f"[{time.monotonic() - _START:6.1f}s] {message}", flush=True)


def tail(text: str, lines: int = 40) -> str:
    return "\n".join((text or "").strip().splitlines()[-lines:])


def sh(
    cmd: list[str] | str,
    what: str,
    *,
    cwd: Path | None = None,
    env: dict | None = None,
    timeout: float = 600,
    check: bool = True,
) -> subprocess.CompletedProcess:
    """Run a command (a list, or a string for /bin/sh -c), output captured; a failure raises CheckFailed."""
    try:
        proc = subprocess.run(
            cmd,
            cwd=cwd,
            env=env,
            shell=isinstance(cmd, str),
            text=True,
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            timeout=timeout,
            stdin=subprocess.DEVNULL,
        )
    except subprocess.TimeoutExpired as exc:
        raise CheckFailed(f"{what}: still running after {timeout:.0f}s: {cmd}\n{tail(str(exc.output or ''))}") from None
    if check and proc.returncode != 0:
        shown = cmd if isinstance(cmd, str) else " ".join(map(str, cmd))
        raise CheckFailed(f"{what} failed (exit {proc.returncode}): {shown}\n{tail(proc.stdout)}")
    return proc


# --- the wheel -------------------------------------------------------------------------------------------


def copy_sources(dest: Path) -> Path:
    """pyproject.toml, README.md and src/ (no caches, no egg-info): a clean tree, as the Dockerfile copies it.

    Building from the working tree would leave build/ there and could pick up stale files from an old build/."""
    dest.mkdir(parents=True, exist_ok=True)
    for name in ("pyproject.toml", "README.md"):
        shutil.copy2(ROOT / name, dest / name)
    shutil.copytree(ROOT / "src", dest / "src", ignore=shutil.ignore_patterns("__pycache__", "*.pyc", "*.egg-info"))
    return dest


def build_wheel(out: Path, work: Path, python: str | Path = sys.executable) -> Path:
    """`pip wheel --no-deps` of a clean copy of the sources into `out`; the wheel's path."""
    src = copy_sources(work / "wheel-src")
    out.mkdir(parents=True, exist_ok=True)
    sh([str(python), "-m", "pip", "wheel", "--no-deps", "--wheel-dir", str(out), str(src)], "building the wheel")
    wheels = sorted(out.glob("understudy-*.whl"))
    if len(wheels) != 1:
        raise CheckFailed(f"expected one understudy wheel in {out}, found {[w.name for w in wheels]}")
    return wheels[0]


# --- a fresh virtual environment -------------------------------------------------------------------------


@dataclass
class Venv:
    path: Path

    @property
    def bin(self) -> Path:
        return self.path / "bin"

    @property
    def python(self) -> Path:
        return self.bin / "python"

    def env(self, extra: dict | None = None) -> dict:
        """The environment of a shell with this venv activated (its bin first on PATH), nothing of the dev venv."""
        env = {k: v for k, v in os.environ.items() if k not in ("VIRTUAL_ENV", "PYTHONPATH", "PYTHONHOME")}
        env["PATH"] = f"{self.bin}{os.pathsep}{env.get('PATH', '')}"
        env["VIRTUAL_ENV"] = str(self.path)
        env.update(extra or {})
        return env


def fresh_venv(path: Path) -> Venv:
    """A new venv from the base interpreter (python -m venv): no package but pip."""
    sh([sys.executable, "-m", "venv", str(path)], "making a fresh venv")
    venv = Venv(path)
    listed = installed(venv)
    if set(listed) - {"pip", "setuptools"}:
        raise CheckFailed(f"the fresh venv at {path} is not empty: {sorted(listed)}")
    return venv


def installed(venv: Venv) -> dict[str, str]:
    out = sh([str(venv.python), "-m", "pip", "list", "--format", "json"], "listing the venv's packages").stdout
    return {p["name"].lower(): p["version"] for p in json.loads(out)}


def install_serve(venv: Venv, wheel: Path) -> None:
    """What a server's admin runs: pip install "understudy-*.whl[serve]", pinned to the lock's versions."""
    sh(
        [str(venv.python), "-m", "pip", "install", "-c", str(LOCK), f"{wheel}[serve]"],
        "pip install of the wheel with the serve extra",
        env=venv.env(),
        timeout=900,
    )


def check_no_torch(venv: Venv) -> None:
    """torch (and CUDA) must not come with the serve extra: `import torch` fails, and pip lists none of it."""
    heavy = sorted(n for n in installed(venv) if any(n == h or (h.endswith("-") and n.startswith(h)) for h in HEAVY))
    if heavy:
        raise CheckFailed(f"understudy[serve] pulled heavy packages: {', '.join(heavy)}")
    proc = sh([str(venv.python), "-c", "import torch"], "import torch", env=venv.env(), check=False)
    if proc.returncode == 0 or "No module named 'torch'" not in proc.stdout:
        raise CheckFailed(
            f"`import torch` should fail in the serve venv; it gave exit {proc.returncode}: {proc.stdout}"
        )


def unpinned_resolve(venv: Venv, wheel: Path, work: Path) -> list[str]:
    """What `pip install understudy[serve]` would pull from the index today, without the lock: a dry run."""
    report = work / "resolve.json"
    sh(
        [str(venv.python), "-m", "pip", "install", "--dry-run", "--ignore-installed", "--report", str(report)]
        + [f"{wheel}[serve]"],
        "an unpinned dry-run resolve",
        env=venv.env(),
        timeout=900,
    )
    names = sorted(i["metadata"]["name"].lower() for i in json.loads(report.read_text())["install"])
    heavy = [n for n in names if any(n == h or (h.endswith("-") and n.startswith(h)) for h in HEAVY)]
    if heavy:
        raise CheckFailed(f"an unpinned resolve of understudy[serve] pulls {', '.join(heavy)}")
    return names


# --- something to serve ----------------------------------------------------------------------------------


def dev_python() -> Path:
    if not DEV_PYTHON.is_file():
        raise CheckFailed(f"no dev venv at {DEV_PYTHON.parent.parent}: run `make install` first (it builds the run)")
    return DEV_PYTHON


def build_run(run: Path) -> Path:
    """A real run folder (`understudy distill` of a tiny static student), made with the dev venv."""
    sh([str(dev_python()), str(ROOT / "scripts" / "build_tiny_run.py"), str(run)], "building the tiny run folder")
    if not (run / "stages.json").is_file() or not (run / "student" / "student.json").is_file():
        raise CheckFailed(f"{run} is not a finished run folder (stages.json or student/student.json missing)")
    return run


TRANSFORMER_STUDENT = """\
import sys
sys.path.insert(0, {tests!r})
from conftest import build_tiny_bert
from understudy.recipe import StudentSpec
from understudy.students.transformer import TransformerStudent
base = build_tiny_bert({base!r})
TransformerStudent.from_base(base, ["great", "other"], StudentSpec(kind="transformer", base=str(base))).save({out!r})
"""


def build_transformer_student(out: Path) -> Path:
    """A tiny transformer student folder (made with the dev venv, which has torch)."""
    code = TRANSFORMER_STUDENT.format(tests=str(ROOT / "tests"), base=str(out.parent / "tiny-bert"), out=str(out))
    sh([str(dev_python()), "-c", code], "building a tiny transformer student")
    return out


# --- the server ------------------------------------------------------------------------------------------


def make_key(venv: Venv, keys: Path, name: str = "ci", *, env: dict | None = None, pass_keys: bool = True) -> str:
    """`understudy api-keys create NAME [--keys KEYS]` in the venv: the key it prints once; the file must exist.

    pass_keys=False leaves the file to the environment (UNDERSTUDY_KEYS, as the Dockerfile sets it)."""
    cmd = [str(venv.bin / "understudy"), "api-keys", "create", name] + (["--keys", str(keys)] if pass_keys else [])
    proc = sh(cmd, "understudy api-keys create", env=env or venv.env(), timeout=120)
    key = next((w for w in proc.stdout.split() if w.startswith("us_")), None)
    if not key or not keys.is_file():
        raise CheckFailed(f"`understudy api-keys create` printed no key or wrote no {keys}:\n{proc.stdout}")
    return key


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@contextmanager
def server(cmd: list[str], base: str, log: Path, *, env: dict, cwd: Path | None = None, wait: float = 120):
    """Start `cmd` in the background, wait until GET {base}/health answers 200; stop it (SIGINT, then SIGKILL)."""
    with open(log, "w") as fh:
        proc = subprocess.Popen(
            cmd, stdout=fh, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL, env=env, cwd=cwd, start_new_session=True
        )
    try:
        deadline = time.monotonic() + wait
        while True:
            if proc.poll() is not None:
                raise CheckFailed(
                    f"the server exited ({proc.returncode}) before /health answered:\n{tail(log.read_text())}"
                )
            try:
                if http("GET", base + "/health")[0] == 200:
                    break
            except OSError:
                pass
            if time.monotonic() > deadline:
                raise CheckFailed(f"/health did not answer within {wait:.0f}s:\n{tail(log.read_text())}")
            time.sleep(0.25)
        yield proc
    finally:
        if proc.poll() is None:
            proc.send_signal(signal.SIGINT)  # what Ctrl+C does: uvicorn shuts down cleanly
            try:
                proc.wait(timeout=15)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait(timeout=15)


def http(method: str, url: str, body: dict | None = None, key: str | None = None) -> tuple[int, str]:
    """(status, body text); HTTP errors are answers here, not exceptions."""
    headers = {"Content-Type": "application/json"} if body is not None else {}
    if key:
        headers["Authorization"] = f"Bearer {key}"
    data = json.dumps(body).encode() if body is not None else None
    req = urllib.request.Request(url, data=data, headers=headers, method=method)
    try:
        with urllib.request.urlopen(req, timeout=30) as resp:
            return resp.status, resp.read().decode()
    except urllib.error.HTTPError as exc:
        return exc.code, exc.read().decode(errors="replace")


def probe(base: str, key: str) -> dict:
    """The checks of a served classifier: /health open; /v1/classify with the key; 401 without or with a bad one."""
    status, text = http("GET", base + "/health")
    health = json.loads(text)
    if status != 200 or health.get("status") != "ok" or health.get("task") != "text-classification":
        raise CheckFailed(f"GET /health: {status} {text}")
    say(f"  GET  /health -> 200 {text}")
    status, text = http("POST", base + "/v1/classify", {"text": "great coffee, I love it"}, key)
    if status != 200:
        raise CheckFailed(f"POST /v1/classify with the key: {status} {text}")
    answer = json.loads(text)
    classes = answer.get("classes") or []
    results = answer.get("results") or []
    if len(results) != 1 or results[0].get("label") not in classes:
        raise CheckFailed(f"POST /v1/classify: no label among the classes {classes} in {text}")
    probs = results[0].get("probabilities") or {}
    if set(probs) != set(classes) or abs(sum(probs.values()) - 1) > 1e-3:
        raise CheckFailed(f"POST /v1/classify: probabilities do not cover the classes and sum to 1: {text}")
    deferred = (
        f", deferred to a human (review item {results[0].get('review_id')})" if results[0].get("defer_to_human") else ""
    )
    say(f"  POST /v1/classify with the key -> 200, label {results[0]['label']!r} of {classes}{deferred}")
    for what, bad in (("without a key", None), ("with a wrong key", "us_" + "x" * 43)):
        status, text = http("POST", base + "/v1/classify", {"text": "great coffee"}, bad)
        if status != 401:
            raise CheckFailed(f"POST /v1/classify {what}: expected 401, got {status} {text}")
        say(f"  POST /v1/classify {what} -> 401")
    status, text = http("GET", base + "/metrics", key=key)
    if status != 200 or "understudy" not in text:
        raise CheckFailed(f"GET /metrics with the key: {status} {text[:300]}")
    say("  GET  /metrics with the key -> 200 (Prometheus text)")
    return health


def check_transformer_hint(venv: Venv, student: Path, keys: Path) -> str:
    """A transformer student in a serve-only install stops at start with the extra to add, not a traceback."""
    proc = sh(
        [str(venv.bin / "understudy"), "serve", str(student), "--keys", str(keys), "--port", str(free_port())],
        "serving a transformer student without torch",
        env=venv.env({"COLUMNS": "1000"}),
        timeout=120,
        check=False,
    )
    out = " ".join(proc.stdout.split())
    if proc.returncode != 2 or "understudy[serve,transformer]" not in out or "Traceback" in out:
        raise CheckFailed(
            f"serving a transformer student without torch should stop (exit 2) naming understudy[serve,transformer]; "
            f"it gave exit {proc.returncode}:\n{tail(proc.stdout)}"
        )
    return out


# --- the whole check -------------------------------------------------------------------------------------


def get_run(run: Path | None, work: Path) -> Path:
    """The run folder to serve: `run` if it is one already, else one built there (default: in `work`)."""
    if run is not None and (run / "stages.json").is_file():
        say(f"run folder: {run} (reused)")
        return run
    run = run or work / "run"
    say("building a tiny run folder with the dev venv (understudy distill of a static student) ...")
    build_run(run)
    say(f"run folder: {run}")
    return run


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument(
        "--run", type=Path, help="the run folder to serve; built there if it is not one (default: a temp one)"
    )
    ap.add_argument("--keep", action="store_true", help="keep the temp folder (venv, wheel, logs)")
    ap.add_argument("--unpinned-resolve", action="store_true", help="also dry-run resolve understudy[serve] unpinned")
    args = ap.parse_args(argv)
    work = Path(tempfile.mkdtemp(prefix="understudy-check-install-"))
    say(f"check_install: working in {work}")
    try:
        wheel = build_wheel(work / "dist", work)
        say(f"built {wheel.name} ({wheel.stat().st_size // 1024} KiB) with pip wheel --no-deps")
        venv = fresh_venv(work / "venv")
        say(f"fresh venv at {venv.path} ({sh([str(venv.python), '--version'], 'python').stdout.strip()})")
        install_serve(venv, wheel)
        packages = installed(venv)
        say(f"pip install -c requirements.txt '{wheel.name}[serve]': {len(packages)} packages")
        check_no_torch(venv)
        say("torch not installed: `import torch` fails in the serve venv, and no torch/triton/nvidia-* package")
        if args.unpinned_resolve:
            names = unpinned_resolve(venv, wheel, work)
            say(f"unpinned dry-run resolve: {len(names)} packages, no torch/triton/nvidia-*")
        run = get_run(args.run, work)
        keys = work / "keys" / "keys.sqlite"
        key = make_key(venv, keys)
        say(f"understudy api-keys create ci --keys {keys}: a key ({key[:3]}...{key[-4:]})")
        port = free_port()
        base = f"http://127.0.0.1:{port}"
        cmd = [str(venv.bin / "understudy"), "serve", str(run), "--keys", str(keys), "--port", str(port)]
        say(f"understudy serve {run} --keys {keys} --port {port} (in the fresh venv) ...")
        with server(cmd, base, work / "serve.log", env=venv.env()):
            say(f"  /health answered at {base}")
            probe(base, key)
        say("server stopped")
        student = build_transformer_student(work / "transformer" / "model")
        out = check_transformer_hint(venv, student, keys)
        say(f"a transformer student without torch: exit 2, {out[out.find('needs') :][:140]}...")
    except CheckFailed as exc:
        say(f"FAILED: {exc}")
        say(f"left {work} for a look")
        return 1
    say(f"check_install: OK in {time.monotonic() - _START:.0f}s")
    if not args.keep:
        shutil.rmtree(work, ignore_errors=True)
    else:
        say(f"kept {work}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
