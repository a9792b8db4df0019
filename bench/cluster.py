"""`make bench-cluster`: `sql` in-process against `sql --cluster` on a local Apache Ballista
cluster of 1 and of 2 executors, on the `requests` table of the benchmark's 1M-request run
(`make bench` makes it). Prints each query's median wall time of three runs and the rows
per second each executor slot sustained.

Usage: cluster.py INFERLEDGER_BINARY RUN_OUTPUT_FOLDER
"""
import os
import shutil
import socket
import statistics
import subprocess
import sys
import tempfile
import time

QUERIES = {
    "group by team, feature, model": "SELECT team, feature, model, COUNT(*) AS n, SUM(cost_usd) AS cost, "
    "SUM(input_tokens) AS input FROM requests GROUP BY team, feature, model ORDER BY team, feature, model",
    "distinct interactions per model": "SELECT model, COUNT(DISTINCT interaction_id) AS n FROM requests GROUP BY model ORDER BY model",
    "top 100 costliest requests": "SELECT request_id, cost_usd FROM requests ORDER BY cost_usd DESC, request_id LIMIT 100",
}


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def wait_for(port):
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        try:
            socket.create_connection(("127.0.0.1", port), timeout=1).close()
            return
        except OSError:
            time.sleep(0.1)
    sys.exit(f"nothing listens on port {port}")


def timed(argv):
    start = time.monotonic()
    done = subprocess.run(argv, stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    if done.returncode != 0:
        sys.exit(f"{' '.join(argv)} failed:\n{done.stderr.decode()}")
    return time.monotonic() - start, done.stdout


def main():
    binary, out = sys.argv[1], os.path.abspath(sys.argv[2])
    rows = int(timed([binary, "sql", "--format", "csv", "--out", out, "SELECT COUNT(*) FROM requests"])[1].split()[1])
    layouts = [("in-process (sql)", 0, 0), ("1 executor x 2 tasks", 1, 2), ("2 executors x 1 task", 2, 1)]
    results = {}
    answers = {}
    for name, executors, tasks in layouts:
        processes, work = [], tempfile.mkdtemp()
        cluster = []
        if executors:
            port = free_port()
            processes.append(subprocess.Popen([binary, "cluster", "scheduler", "--port", str(port)],
                                              stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL))
            wait_for(port)
            for n in range(executors):
                flight, grpc = free_port(), free_port()
                os.makedirs(os.path.join(work, str(n)))
                processes.append(subprocess.Popen(
                    [binary, "cluster", "executor", "--scheduler", f"127.0.0.1:{port}", "--port", str(flight),
                     "--grpc-port", str(grpc), "--concurrent-tasks", str(tasks), "--work-dir", os.path.join(work, str(n))],
                    stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL))
                wait_for(flight)
            cluster = ["--cluster", f"df://127.0.0.1:{port}"]
        try:
            for label, query in QUERIES.items():
                argv = [binary, "sql", "--format", "csv", "--out", out, *cluster, query]
                runs = [timed(argv) for _ in range(3)]
                results[(name, label)] = statistics.median(t for t, _ in runs)
                answers.setdefault(label, set()).add(runs[0][1])
        finally:
            for p in processes:
                p.kill()
                p.wait()
            shutil.rmtree(work, ignore_errors=True)
    for label, found in answers.items():
        if len(found) != 1:
            sys.exit(f"{label}: the layouts gave different answers")
    print(f"requests: {rows:,} rows; median of 3 runs, seconds (the client's own start included)")
    print(f"{'query':<34}" + "".join(f"{name:>24}" for name, _, _ in layouts))
    for label in QUERIES:
        print(f"{label:<34}" + "".join(f"{results[(name, label)]:>24.2f}" for name, _, _ in layouts))
    for name, executors, tasks in layouts[1:]:
        total = sum(results[(name, label)] for label in QUERIES)
        slots = executors * tasks
        print(f"{name}: {len(QUERIES) * rows / total / 1e6:.2f} M rows/s in all, "
              f"{len(QUERIES) * rows / total / executors / 1e6:.2f} M rows/s per executor ({slots} task slots)")


if __name__ == "__main__":
    main()
