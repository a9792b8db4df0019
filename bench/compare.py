"""`make bench`: inferledger and DuckDB doing the same work, side by side, in one run.

For each size (default 1M and 3M requests) it writes the synthetic log once (`inferledger
synth`), then runs `inferledger run` and bench/duckdb_baseline.py on it, each as a child
process, and reads the child's wall time and peak resident memory (os.wait4). The machine
is shared and noisy: the two run in turn BENCH_REPEAT times (default 3, alternating which
goes first), and the median time and the highest peak of each are reported; the ratios
(inferledger / DuckDB) are the figures to read. It also reports what publishing the
tables as Delta commits costs (the run's own figure) beside the journal of renames it
replaced (emulated on the same folder), and the peak memory before publication (the run
summary's) beside the whole run's.

Then the realistic mix (bench/mix.py: forty days of three request logs, 675,000 requests,
and a self-hosted pool's DCGM samples each minute and hourly FOCUS bill) against
bench/duckdb_mix.py, the same way; it reports the ratio to DuckDB and the time per request
read against the first size's (the mix's cost per row beside the bench's). BENCH_MIX=0
leaves the mix out.

Usage: compare.py INFERLEDGER_BINARY WORK_DIR SIZE [SIZE ...]
"""
import os
import shutil
import subprocess
import sys
import time


def measure(argv):
    """Runs argv; returns (seconds, peak RSS bytes, stdout+stderr)."""
    start = time.monotonic()
    child = subprocess.Popen(argv, stdout=subprocess.PIPE, stderr=subprocess.STDOUT)
    output = child.stdout.read().decode(errors="replace")
    _, status, usage = os.wait4(child.pid, 0)
    seconds = time.monotonic() - start
    if os.waitstatus_to_exitcode(status) != 0:
        sys.exit(f"{' '.join(argv)} failed:\n{output}")
    return seconds, usage.ru_maxrss * 1024, output


def published_seconds(output):
    """What the run said its publication (files moved in, Delta commits, manifest) took."""
    for part in output.replace(";", "\n").splitlines():
        part = part.strip()
        if part.startswith("published ") and " tables in " in part:
            return float(part.split(" tables in ")[1].split()[0])
    return float("nan")


def before_publication_mib(output):
    """The run's peak memory before it published (its summary line's `peak memory`)."""
    for part in output.split(";"):
        if "peak memory " in part:
            return int(part.split("peak memory ")[1].split()[0])
    return 0


def journal_publication_seconds(out):
    """The previous publication protocol on the same folder, emulated: a journal written
    and flushed, then two renames per table folder and per day partition (the old one
    aside, the new one in), as inferledger did before its tables were Delta tables."""
    aside = os.path.join(out, ".bench-aside")
    os.makedirs(aside, exist_ok=True)
    moves = []
    for table in sorted(os.listdir(out)):
        path = os.path.join(out, table)
        if table.startswith((".", "_")) or not os.path.isdir(path):
            continue
        days = [d for d in os.listdir(path) if d.startswith("date=")]
        moves += [os.path.join(table, d) for d in days] if days else [table]
    start = time.monotonic()
    journal = os.path.join(out, ".bench-journal.json")
    with open(journal, "w") as f:
        f.write("\n".join(moves))
        f.flush()
        os.fsync(f.fileno())
    for i, move in enumerate(moves):
        os.rename(os.path.join(out, move), os.path.join(aside, str(i)))
    for i, move in enumerate(moves):
        os.rename(os.path.join(aside, str(i)), os.path.join(out, move))
    os.remove(journal)
    seconds = time.monotonic() - start
    os.rmdir(aside)
    return seconds, len(moves) * 2


def rows_read(output):
    """The rows the run read (its summary line's `N rows read`)."""
    for line in output.splitlines():
        if line.startswith("inferledger: ") and " rows read " in line:
            return int(line.split("inferledger: ")[1].split()[0])
    return 0


def side_by_side(ours_argv, theirs_argv, ours_out, theirs_out, repeat):
    """Runs both `repeat` times in turn (alternating which goes first), each from an empty
    output folder; returns each one's runs."""
    runs = {"ours": [], "theirs": []}
    for attempt in range(repeat):
        order = ["ours", "theirs"] if attempt % 2 == 0 else ["theirs", "ours"]
        for who in order:
            out = ours_out if who == "ours" else theirs_out
            shutil.rmtree(out, ignore_errors=True)
            if who == "theirs":
                os.makedirs(out)
            runs[who].append(measure(ours_argv if who == "ours" else theirs_argv))
    return runs


def summarise(runs):
    """The median wall time, the highest peak memory and the last run's output."""
    times = sorted(r[0] for r in runs)
    return times[len(times) // 2], max(r[1] for r in runs), runs[-1][2]


def main():
    binary, work, sizes = sys.argv[1], sys.argv[2], [int(s) for s in sys.argv[3:]]
    repeat = max(1, int(os.environ.get("BENCH_REPEAT", "3")))
    here = os.path.dirname(os.path.abspath(__file__))
    rows = []
    publications = []
    for size in sizes:
        folder = os.path.join(work, f"{size}")
        logs = os.path.join(folder, "logs")
        os.makedirs(logs, exist_ok=True)
        log = os.path.join(logs, "requests.jsonl")
        if not os.path.exists(log):
            subprocess.run([binary, "--quiet", "synth", "--requests", str(size), "--out", log], check=True)
        config = os.path.join(folder, "inferledger.toml")
        with open(config, "w") as f:
            f.write('[[requests]]\npath = "logs"\nformat = "openai"\n')
        ours_argv = [binary, "run", "--quiet", "--config", config, "--out", os.path.join(folder, "out")]
        theirs_argv = [sys.executable, os.path.join(here, "duckdb_baseline.py"), log, os.path.join(folder, "duckdb_out")]
        runs = side_by_side(ours_argv, theirs_argv, os.path.join(folder, "out"),
                            os.path.join(folder, "duckdb_out"), repeat)
        ours, theirs = summarise(runs["ours"]), summarise(runs["theirs"])
        publish_times = sorted(published_seconds(r[2]) for r in runs["ours"])
        journal_seconds, renames = journal_publication_seconds(os.path.join(folder, "out"))
        # Each run's own pair: its peak before publication (its summary line) and its whole
        # run's peak (wait4); runs differ, so pairs are compared run by run.
        pairs = [(before_publication_mib(r[2]), r[1] / 2**20) for r in runs["ours"]]
        publications.append((size, publish_times[len(publish_times) // 2], journal_seconds, renames,
                             max(p[0] for p in pairs), max(p[1] for p in pairs),
                             max(p[1] - p[0] for p in pairs)))
        print(f"{size:,} requests, seconds per run: inferledger "
              + " ".join(f"{r[0]:.2f}" for r in runs["ours"])
              + ", DuckDB " + " ".join(f"{r[0]:.2f}" for r in runs["theirs"]))
        megabytes = os.path.getsize(log) / 1e6
        rows.append((size, megabytes, ours, theirs))
        print(ours[2].strip().splitlines()[-1])
        print(theirs[2].strip().splitlines()[-1])
    print()
    print(f"{'requests':>10} {'log MB':>8} | {'inferledger s':>13} {'peak MiB':>9} | {'DuckDB s':>9} {'peak MiB':>9} | {'time ratio':>10} {'memory ratio':>12}")
    for size, megabytes, ours, theirs in rows:
        print(
            f"{size:>10,} {megabytes:>8.0f} | {ours[0]:>13.2f} {ours[1] / 2**20:>9.0f} | {theirs[0]:>9.2f} {theirs[1] / 2**20:>9.0f}"
            f" | {ours[0] / theirs[0]:>9.2f}x {ours[1] / theirs[1]:>11.2f}x"
        )
    print()
    print("publication: Delta commits (one per table, files moved in, manifest) against the journal of renames it replaced")
    print(f"{'requests':>10} | {'Delta s':>8} | {'journal s':>9} {'renames':>8} | {'peak MiB before':>15} {'peak MiB whole run':>18} {'most added by a run':>19}")
    for size, delta_s, journal_s, renames, before, whole, added in publications:
        print(f"{size:>10,} | {delta_s:>8.2f} | {journal_s:>9.3f} {renames:>8} | {before:>15} {whole:>18.0f} {added:>19.0f}")
    if len(rows) > 1:
        (s0, _, o0, _), (s1, _, o1, _) = rows[0], rows[-1]
        print(f"\ninferledger time from {s0:,} to {s1:,} requests: x{o1[0] / o0[0]:.2f} for x{s1 / s0:.0f} the rows (linear: x{s1 / s0:.1f})")
    if os.environ.get("BENCH_MIX", "1") != "0":
        mix_folder = os.path.join(work, "mix")
        subprocess.run([sys.executable, os.path.join(here, "mix.py"), mix_folder], check=True)
        ours_argv = [binary, "run", "--quiet", "--config", os.path.join(mix_folder, "inferledger.toml"),
                     "--out", os.path.join(mix_folder, "out")]
        theirs_argv = [sys.executable, os.path.join(here, "duckdb_mix.py"), mix_folder,
                       os.path.join(mix_folder, "duckdb_out")]
        runs = side_by_side(ours_argv, theirs_argv, os.path.join(mix_folder, "out"),
                            os.path.join(mix_folder, "duckdb_out"), repeat)
        ours, theirs = summarise(runs["ours"]), summarise(runs["theirs"])
        print()
        print("realistic mix, seconds per run: inferledger " + " ".join(f"{r[0]:.2f}" for r in runs["ours"])
              + ", DuckDB " + " ".join(f"{r[0]:.2f}" for r in runs["theirs"]))
        print(ours[2].strip().splitlines()[-1])
        print(theirs[2].strip().splitlines()[-1])
        mix_rows = rows_read(ours[2])
        mix_us = ours[0] / max(mix_rows, 1) * 1e6
        print(f"{'':>10} {'rows':>9} | {'inferledger s':>13} {'peak MiB':>9} | {'DuckDB s':>9} {'peak MiB':>9} | {'time ratio':>10} | {'µs/row':>7}")
        print(f"{'mix':>10} {mix_rows:>9,} | {ours[0]:>13.2f} {ours[1] / 2**20:>9.0f} | {theirs[0]:>9.2f} {theirs[1] / 2**20:>9.0f}"
              f" | {ours[0] / theirs[0]:>9.2f}x | {mix_us:>7.2f}")
        if rows:
            size, _, bench_ours, bench_theirs = rows[0]
            bench_us = bench_ours[0] / size * 1e6
            print(f"\nratios to report: inferledger / DuckDB on the {size:,}-request bench {bench_ours[0] / bench_theirs[0]:.2f}x"
                  f" (goal 0.8x); on the mix {ours[0] / theirs[0]:.2f}x; the mix's time per row / the bench's"
                  f" {mix_us / bench_us:.2f}x ({mix_us:.2f} µs against {bench_us:.2f} µs; goal 1.5x)")


if __name__ == "__main__":
    main()
