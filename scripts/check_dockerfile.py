"""The Dockerfile, checked: built and run where a docker engine answers, else its steps run here.

    .venv/bin/python scripts/check_dockerfile.py [--run DIR] [--steps] [--keep]

Always: the Dockerfile is parsed and its promises checked (python:3.11-slim, the wheel with the serve extra pinned
by requirements.txt, a non-root USER, EXPOSE 8000, a HEALTHCHECK on /health, /model and /keys as volumes, the CMD
`understudy serve /model --host 0.0.0.0 ... --keys /keys/keys.sqlite`), and .dockerignore keeps every COPY source.

With an engine (`docker info` succeeds): docker build; a key made by the image (`understudy api-keys create`) in
the /keys volume; docker run with a tiny run folder as /model; /health, /v1/classify with and without the key,
/metrics (the same probes as scripts/check_install.py); the HEALTHCHECK turning healthy; no torch in the image.

Without one (as on CI, whose machine has the docker client but no daemon): the steps run in a fresh venv standing
in for the image. Every absolute path of the image maps into a folder here (the volumes /model and /keys to the
run folder and a key folder, as `docker run -v` would); COPY copies from the context as .dockerignore filters it;
ENV is applied; the RUN lines that are pip commands run as written (pip wheel in the builder stage, pip install
in the final one) with /bin/sh -c; the other RUN lines (useradd, mkdir, chown: they would change this machine),
USER, EXPOSE and VOLUME are checked, not run. Then the image's own `understudy api-keys create`, then its CMD,
with the port mapped as `docker run -p` would and 0.0.0.0 bound as 127.0.0.1 (a container's 0.0.0.0 is its own
network); the same probes; the HEALTHCHECK command must exit 0. The output says which of the two it did.
"""

from __future__ import annotations

import argparse
import json
import re
import shlex
import shutil
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

from check_install import (  # noqa: E402  (the shared steps: one venv, one server, one set of probes)
    ROOT,
    CheckFailed,
    Venv,
    check_no_torch,
    free_port,
    fresh_venv,
    get_run,
    http,
    installed,
    make_key,
    probe,
    say,
    server,
    sh,
    tail,
)

DOCKERFILE = ROOT / "Dockerfile"
DOCKERIGNORE = ROOT / ".dockerignore"
BASE = "python:3.11-slim"
PORT = 8000
VOLUMES = ("/model", "/keys")
KEY_FILE = "/keys/keys.sqlite"


@dataclass
class Instr:
    line: int
    stage: int
    keyword: str
    args: str

    def __str__(self) -> str:
        return f"line {self.line}: {self.keyword} {self.args}"


@dataclass
class Stage:
    index: int
    base: str
    name: str | None
    instrs: list[Instr] = field(default_factory=list)


def parse(path: Path = DOCKERFILE) -> list[Stage]:
    """The Dockerfile's stages and instructions (continuation lines joined, comments dropped)."""
    stages: list[Stage] = []
    pending, start = "", 0
    for number, raw in enumerate(path.read_text(encoding="utf-8").splitlines(), 1):
        line = raw.strip()
        if not pending and (not line or line.startswith("#")):
            continue
        if pending and line.startswith("#"):  # a comment inside a continued instruction is dropped
            continue
        if not pending:
            start = number
        if line.endswith("\\"):
            pending += line[:-1] + " "
            continue
        text, pending = pending + line, ""
        keyword, _, args = text.partition(" ")
        keyword, args = keyword.upper(), args.strip()
        if keyword == "FROM":
            words = args.split()
            name = words[2] if len(words) >= 3 and words[1].upper() == "AS" else None
            stages.append(Stage(len(stages), words[0], name))
        elif not stages:
            raise CheckFailed(f"{path}:{start}: {keyword} before the first FROM")
        stages[-1].instrs.append(Instr(start, stages[-1].index, keyword, args))
    if not stages:
        raise CheckFailed(f"{path}: no FROM")
    return stages


def exec_form(args: str) -> list[str] | None:
    """A JSON-array (exec form) argument list, or None for the shell form."""
    if args.startswith("["):
        try:
            value = json.loads(args)
        except json.JSONDecodeError as exc:
            raise CheckFailed(f"not valid JSON (exec form): {args} ({exc})") from None
        if not (isinstance(value, list) and all(isinstance(v, str) for v in value)):
            raise CheckFailed(f"exec form must be a list of strings: {args}")
        return value
    return None


def command_of(args: str) -> list[str]:
    """CMD's or HEALTHCHECK CMD's command as docker runs it: exec form as is, shell form under /bin/sh -c."""
    form = exec_form(args)
    return form if form is not None else ["/bin/sh", "-c", args]


def healthcheck_command(args: str) -> list[str]:
    """HEALTHCHECK [--options] CMD ...: the command."""
    found = re.match(r"((?:--\S+\s+)*)CMD\s+(.+)", args, re.S | re.I)
    if not found:
        raise CheckFailed(f"HEALTHCHECK without a CMD: {args}")
    return command_of(found.group(2).strip())


def env_pairs(args: str) -> dict[str, str]:
    words = shlex.split(args)
    if words and "=" not in words[0]:  # the old `ENV KEY value` form
        return {words[0]: " ".join(words[1:])}
    return dict(w.split("=", 1) for w in words)


def copy_parts(args: str) -> tuple[str | None, list[str], str]:
    """(--from stage or None, sources, destination) of a COPY."""
    words = shlex.split(args)
    origin = None
    while words and words[0].startswith("--"):
        flag = words.pop(0)
        if flag.startswith("--from="):
            origin = flag.split("=", 1)[1]
        elif flag.startswith(("--chown=", "--chmod=", "--link")):
            continue
        else:
            raise CheckFailed(f"COPY flag this check does not know: {flag}")
    form = exec_form(" ".join(words)) if words and words[0].startswith("[") else None
    words = form or words
    if len(words) < 2:
        raise CheckFailed(f"COPY needs a source and a destination: {args}")
    return origin, words[:-1], words[-1]


# --- the promises, read from the file --------------------------------------------------------------------


def static_checks(stages: list[Stage]) -> list[str]:
    """What the issue asks of the image, checked on the parsed file; returns what was checked, as lines."""
    done = []
    final = stages[-1]
    for stage in stages:
        if stage.base != BASE:
            raise CheckFailed(f"stage {stage.index} is FROM {stage.base}, not {BASE}")
    done.append(f"every stage is FROM {BASE}")
    kinds = [i.keyword for i in final.instrs]
    runs = [i for i in final.instrs if i.keyword == "RUN"]
    installs = [i for i in runs if re.match(r"(python3? -m )?pip3? install\b", i.args)]
    if len(installs) != 1:
        raise CheckFailed(f"the final stage should have one RUN pip install; it has {[str(i) for i in installs]}")
    install = installs[0]
    if "[serve]" not in install.args or "understudy-" not in install.args or "requirements.txt" not in install.args:
        raise CheckFailed(
            f"the final stage's pip install should install the understudy wheel [serve] with -c requirements.txt: {install}"
        )
    if "torch" in install.args:
        raise CheckFailed(f"the serve image must not install torch: {install}")
    done.append(f"one pip install, of the wheel with the serve extra, pinned by requirements.txt ({install})")
    users = [i for i in final.instrs if i.keyword == "USER"]
    if not users or users[-1].args.split(":")[0] in ("root", "0"):
        raise CheckFailed("the final stage runs as root: add a USER that is not root")
    if not any("useradd" in i.args and users[-1].args.split(":")[0] in i.args.split() for i in runs):
        raise CheckFailed(f"USER {users[-1].args}: no RUN useradd makes that user")
    if final.instrs.index(users[-1]) < final.instrs.index(install):
        raise CheckFailed("USER comes before the pip install: install as root, then drop to the user")
    done.append(f"runs as USER {users[-1].args} (made by useradd), after the install")
    if not any(i.keyword == "EXPOSE" and str(PORT) in i.args.split() for i in final.instrs):
        raise CheckFailed(f"no EXPOSE {PORT}")
    done.append(f"EXPOSE {PORT}")
    health = [i for i in final.instrs if i.keyword == "HEALTHCHECK"]
    if len(health) != 1 or f":{PORT}/health" not in health[0].args:
        raise CheckFailed(
            f"one HEALTHCHECK on http://127.0.0.1:{PORT}/health expected; found {[str(h) for h in health]}"
        )
    done.append("HEALTHCHECK on /health")
    volumes = set()
    for i in final.instrs:
        if i.keyword == "VOLUME":
            volumes |= set(exec_form(i.args) or i.args.split())
    if not set(VOLUMES) <= volumes:
        raise CheckFailed(f"VOLUME should name {', '.join(VOLUMES)}; it names {sorted(volumes)}")
    done.append(f"VOLUME {' '.join(VOLUMES)}")
    cmds = [i for i in final.instrs if i.keyword == "CMD"]
    if len(cmds) != 1:
        raise CheckFailed(f"one CMD expected in the final stage; found {len(cmds)}")
    cmd = command_of(cmds[0].args)
    want = ["understudy", "serve", "/model"]
    if cmd[:3] != want or _opt(cmd, "--host") != "0.0.0.0" or _opt(cmd, "--keys") != KEY_FILE:
        raise CheckFailed(f"CMD should be `understudy serve /model --host 0.0.0.0 --keys {KEY_FILE}`: {cmds[0]}")
    if (_opt(cmd, "--port") or str(PORT)) != str(PORT):
        raise CheckFailed(f"CMD serves on port {_opt(cmd, '--port')}, EXPOSE says {PORT}")
    done.append(f"CMD {' '.join(cmd)}")
    if "ENTRYPOINT" in kinds:
        raise CheckFailed("an ENTRYPOINT would change what CMD and `docker run IMAGE understudy ...` mean")
    return done


def _opt(cmd: list[str], name: str) -> str | None:
    return cmd[cmd.index(name) + 1] if name in cmd and cmd.index(name) + 1 < len(cmd) else None


# --- .dockerignore ---------------------------------------------------------------------------------------


def ignore_patterns(path: Path = DOCKERIGNORE) -> list[tuple[bool, re.Pattern]]:
    """(exclude?, regex) per line, in order: docker's rules (last match wins; `!` re-includes)."""
    out = []
    if not path.is_file():
        return out
    for raw in path.read_text(encoding="utf-8").splitlines():
        line = raw.strip()
        if not line or line.startswith("#"):
            continue
        include = line.startswith("!")
        pattern = line[1:].strip() if include else line
        pattern = pattern.strip("/")
        out.append((not include, re.compile(_glob(pattern))))
    return out


def _glob(pattern: str) -> str:
    regex, i = "", 0
    while i < len(pattern):
        if pattern.startswith("**/", i):
            regex, i = regex + "(?:.*/)?", i + 3
        elif pattern.startswith("**", i):
            regex, i = regex + ".*", i + 2
        elif pattern[i] == "*":
            regex, i = regex + "[^/]*", i + 1
        elif pattern[i] == "?":
            regex, i = regex + "[^/]", i + 1
        else:
            regex, i = regex + re.escape(pattern[i]), i + 1
    return regex + r"\Z"


def ignored(rel: str, patterns) -> bool:
    """Whether the context path `rel` (relative, '/'-separated) is left out of the build context."""
    parts = rel.split("/")
    excluded = False
    for exclude, regex in patterns:
        # a pattern that matches a parent folder covers what is inside it, as docker's matcher does
        if any(regex.match("/".join(parts[:n])) for n in range(1, len(parts) + 1)):
            excluded = exclude
    return excluded


def check_dockerignore(stages: list[Stage]) -> list[str]:
    patterns = ignore_patterns()
    if not patterns:
        raise CheckFailed("no .dockerignore: the build context would carry .venv, runs and .git")
    for must in (".venv/bin/python", ".git/HEAD", "runs/demo/report.json", "src/understudy/__pycache__/x.pyc"):
        if not ignored(must, patterns):
            raise CheckFailed(f".dockerignore lets {must} into the build context")
    for stage in stages:
        for i in stage.instrs:
            if i.keyword not in ("COPY", "ADD"):
                continue
            origin, sources, _ = copy_parts(i.args)
            if origin is not None:
                continue
            for source in sources:
                rel = source.strip("/").removeprefix("./") or "."
                if rel != "." and ignored(rel, patterns):
                    raise CheckFailed(f".dockerignore leaves out {source}, which {i} copies")
                if not (ROOT / rel).exists():
                    raise CheckFailed(f"{i}: {source} is not in the repository")
    return ["the context is only what the COPY lines use (.venv, .git, runs and caches left out)"]


# --- with a docker engine ----------------------------------------------------------------------------------


def engine() -> str | None:
    """None when a docker engine answers; else why not (no client, or a client with no daemon)."""
    if shutil.which("docker") is None:
        return "no docker command"
    try:
        proc = subprocess.run(["docker", "info"], capture_output=True, text=True, timeout=30, stdin=subprocess.DEVNULL)
    except subprocess.TimeoutExpired:
        return "`docker info` did not answer in 30s"
    if proc.returncode != 0:
        why = " ".join((proc.stderr or proc.stdout).split())[:200]
        return f"`docker info` failed (exit {proc.returncode}): {why}"
    return None


def with_docker(run: Path, work: Path) -> None:
    tag = f"understudy-check:{int(time.time())}"
    name = tag.replace(":", "-")
    say(f"docker build -t {tag} {ROOT} ...")
    sh(["docker", "build", "-t", tag, str(ROOT)], "docker build", timeout=1800)
    say("image built")
    model = work / "model"  # a copy: the container's user writes the review queue into it
    shutil.copytree(run, model)
    keys = work / "keys"
    keys.mkdir()
    for path in [work, *model.rglob("*"), model, keys]:
        path.chmod(0o777 if path.is_dir() else 0o666)
    try:
        out = sh(
            ["docker", "run", "--rm", "-v", f"{keys}:/keys", tag, "understudy", "api-keys", "create", "ci"],
            "api-keys create in the image",
        ).stdout
        key = next((w for w in out.split() if w.startswith("us_")), None)
        if not key or not (keys / "keys.sqlite").is_file():
            raise CheckFailed(f"`understudy api-keys create ci` in the image made no key in /keys:\n{out}")
        say("docker run IMAGE understudy api-keys create ci: a key in the /keys volume")
        port = free_port()
        sh(
            ["docker", "run", "-d", "--name", name, "-p", f"127.0.0.1:{port}:{PORT}"]
            + ["-v", f"{model}:/model", "-v", f"{keys}:/keys", tag],
            "docker run",
        )
        base = f"http://127.0.0.1:{port}"
        say(f"docker run -d -p {port}:{PORT} -v RUN:/model -v KEYS:/keys {tag}")
        deadline = time.monotonic() + 120
        while True:
            try:
                if http("GET", base + "/health")[0] == 200:
                    break
            except OSError:
                pass
            state = sh(["docker", "inspect", "-f", "{{.State.Status}}", name], "docker inspect").stdout.strip()
            if state != "running" or time.monotonic() > deadline:
                logs = sh(["docker", "logs", name], "docker logs", check=False).stdout
                raise CheckFailed(f"the container ({state}) did not answer /health:\n{tail(logs)}")
            time.sleep(0.5)
        probe(base, key)
        proc = sh(["docker", "exec", name, "python", "-c", "import torch"], "import torch in the image", check=False)
        if proc.returncode == 0:
            raise CheckFailed("torch is installed in the serve image")
        say("no torch in the image")
        deadline = time.monotonic() + 150
        while (
            h := sh(["docker", "inspect", "-f", "{{.State.Health.Status}}", name], "docker inspect").stdout.strip()
        ) != "healthy":
            if h == "unhealthy" or time.monotonic() > deadline:
                raise CheckFailed(f"the HEALTHCHECK says {h}")
            time.sleep(2)
        say("docker says the container is healthy (its HEALTHCHECK)")
    finally:
        subprocess.run(["docker", "rm", "-f", name], capture_output=True, stdin=subprocess.DEVNULL)
        subprocess.run(["docker", "rmi", "-f", tag], capture_output=True, stdin=subprocess.DEVNULL)


# --- without one: the steps, run here -----------------------------------------------------------------------

_ABS = re.compile(r"(?:^|(?<=[\s\"'=(]))/[^\s\"'()$;&|]*")


class Image:
    """A folder standing in for the image's file system, with the volumes and the port as `docker run` maps them."""

    def __init__(self, root: Path, volumes: dict[str, Path], port: int):
        self.root, self.volumes, self.port = root, volumes, port
        root.mkdir(parents=True, exist_ok=True)

    def path(self, image_path: str) -> Path:
        for mount, host in self.volumes.items():
            if image_path == mount or image_path.startswith(mount + "/"):
                return host / image_path[len(mount) :].lstrip("/")
        return self.root / image_path.lstrip("/")

    def text(self, text: str) -> str:
        """Every absolute path in a command mapped; the port as published; 0.0.0.0 as loopback."""
        text = _ABS.sub(lambda m: str(self.path(m.group(0))), text)
        text = re.sub(rf"(127\.0\.0\.1|localhost):{PORT}\b", rf"\g<1>:{self.port}", text)
        return text

    def argv(self, cmd: list[str]) -> list[str]:
        out = [self.text(c) for c in cmd]
        for i, word in enumerate(out[:-1]):
            if word == "--port" and out[i + 1] == str(PORT):
                out[i + 1] = str(self.port)
            if word == "--host" and out[i + 1] == "0.0.0.0":
                out[i + 1] = "127.0.0.1"
        return out


def _copy(src: Path, dest: Path, *, to_dir: bool, patterns, context: Path | None) -> None:
    if src.is_dir():
        for item in sorted(src.rglob("*")):
            rel = item.relative_to(src)
            if context is not None and ignored(item.relative_to(context).as_posix(), patterns):
                continue
            target = dest / rel
            if item.is_dir():
                target.mkdir(parents=True, exist_ok=True)
            else:
                target.parent.mkdir(parents=True, exist_ok=True)
                shutil.copy2(item, target)
    else:
        target = dest / src.name if to_dir else dest
        target.parent.mkdir(parents=True, exist_ok=True)
        shutil.copy2(src, target)


def run_stage(stage: Stage, image: Image, venv: Venv, names: dict[str, int], notes: list[str]) -> dict:
    """Run one stage's steps in `image` with `venv` as its Python; returns its ENV."""
    env: dict[str, str] = {}
    workdir = "/"
    patterns = ignore_patterns()
    label = f"stage {stage.index}" + (f" ({stage.name})" if stage.name else "")
    for i in stage.instrs:
        if i.keyword == "FROM":
            say(f"{label}: FROM {stage.base}: a fresh venv ({venv.path}) stands in for it")
        elif i.keyword == "WORKDIR":
            workdir = i.args if i.args.startswith("/") else f"{workdir.rstrip('/')}/{i.args}"
            image.path(workdir).mkdir(parents=True, exist_ok=True)
        elif i.keyword == "ENV":
            env.update({k: image.text(v) for k, v in env_pairs(i.args).items()})
            say(f"{label}: ENV {i.args}")
        elif i.keyword == "COPY":
            origin, sources, dest = copy_parts(i.args)
            dest_image = dest if dest.startswith("/") else f"{workdir.rstrip('/')}/{dest}"
            target = image.path(dest_image)
            to_dir = dest.endswith("/") or len(sources) > 1
            for source in sources:
                if origin is None:
                    src, context = ROOT / source.removeprefix("./"), ROOT
                else:
                    if origin not in names:
                        raise CheckFailed(f"{i}: no stage named {origin}")
                    src, context = image.path(source), None
                if not src.exists():
                    raise CheckFailed(f"{i}: {source} does not exist")
                _copy(src, target, to_dir=to_dir, patterns=patterns, context=context)
            say(f"{label}: COPY {i.args}")
        elif i.keyword == "RUN":
            if not re.match(r"(python3? -m )?pip3? (install|wheel)\b", i.args):
                notes.append(f"not run here (it would change this machine): {i}")
                say(f"{label}: RUN {i.args[:70]}... not run here (not a pip step)")
                continue
            command = image.text(i.args)
            say(f"{label}: RUN {i.args}")
            t0 = time.monotonic()
            sh(
                ["/bin/sh", "-c", command],
                f"the Dockerfile's {i}",
                cwd=image.path(workdir),
                env=venv.env(env),
                timeout=1200,
            )
            say(f"{label}:   done in {time.monotonic() - t0:.0f}s")
        elif i.keyword in ("USER", "EXPOSE", "VOLUME", "HEALTHCHECK", "CMD", "LABEL", "ARG"):
            continue  # checked above (static_checks); HEALTHCHECK and CMD run once the stages are done
        else:
            raise CheckFailed(f"{i}: an instruction this check does not know how to run")
    return env


def steps_here(stages: list[Stage], run: Path, work: Path) -> list[str]:
    notes: list[str] = []
    keys = work / "keys"
    keys.mkdir()
    port = free_port()
    image = Image(work / "image", {"/model": run, "/keys": keys}, port)
    venv = fresh_venv(work / "venv")
    names = {s.name: s.index for s in stages if s.name}
    env: dict[str, str] = {}
    for stage in stages:  # one venv for all: the builder stage's pip wheel installs nothing into it
        env = run_stage(stage, image, venv, names, notes)
    final = stages[-1]
    say(f"the final stage's venv: {len(installed(venv))} packages")
    check_no_torch(venv)
    say("no torch in it: `import torch` fails, no torch/triton/nvidia-* package")
    key_file = Path(env.get("UNDERSTUDY_KEYS", str(image.path(KEY_FILE))))
    key = make_key(venv, key_file, env=venv.env(env), pass_keys=False)
    say(f"IMAGE understudy api-keys create ci: a key in {key_file} (the /keys volume, by ENV UNDERSTUDY_KEYS)")
    cmd = image.argv(command_of(next(i for i in final.instrs if i.keyword == "CMD").args))
    say(f"CMD, as `docker run -p {port}:{PORT} -v {run}:/model -v {keys}:/keys` would run it: {' '.join(cmd)}")
    base = f"http://127.0.0.1:{port}"
    with server(cmd, base, work / "serve.log", env=venv.env(env), cwd=image.path("/")):
        say(f"  /health answered at {base}")
        probe(base, key)
        check = image.argv(healthcheck_command(next(i for i in final.instrs if i.keyword == "HEALTHCHECK").args))
        sh(check, "the HEALTHCHECK command", env=venv.env(env), timeout=30)
        say("  the HEALTHCHECK command exits 0")
    say("server stopped")
    return notes


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument(
        "--run", type=Path, help="the run folder to serve; built there if it is not one (default: a temp one)"
    )
    ap.add_argument("--steps", action="store_true", help="run the steps here even where a docker engine answers")
    ap.add_argument("--keep", action="store_true", help="keep the temp folder")
    args = ap.parse_args(argv)
    work = Path(tempfile.mkdtemp(prefix="understudy-check-dockerfile-"))
    t0 = time.monotonic()
    say(f"check_dockerfile: {DOCKERFILE}, working in {work}")
    try:
        stages = parse()
        for line in static_checks(stages) + check_dockerignore(stages):
            say(f"checked in the file: {line}")
        why_not = "--steps given" if args.steps else engine()
        run = get_run(args.run, work)
        if why_not is None:
            say("MODE: a docker engine answers: building and running the image")
            with_docker(run, work)
            done = "built the image with docker, ran it and probed it"
        else:
            say(f"MODE: no docker engine ({why_not}): running the Dockerfile's steps here, in a fresh venv")
            notes = steps_here(stages, run, work)
            for note in notes:
                say(note)
            done = "ran the Dockerfile's pip steps and its CMD in a fresh venv (no image was built)"
    except CheckFailed as exc:
        say(f"FAILED: {exc}")
        say(f"left {work} for a look")
        return 1
    say(f"check_dockerfile: OK in {time.monotonic() - t0:.0f}s: {done}")
    if args.keep:
        say(f"kept {work}")
    else:
        shutil.rmtree(work, ignore_errors=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
