#!/usr/bin/env python3
"""Whole-server load benchmark of Jumeau (the figures of docs/benchmarks.md).

Starts `jumeau serve` (release build) on a fresh data directory, loads N street lights,
then drives it with wrk (Debian package `wrk`) from the same machine:
batch upsert, single GET, query by type + q, and `within` a polygon. Prints a Markdown
table. Every loop is bounded in time and targets 127.0.0.1 only.

Usage: python3 bench/load/run.py [--entities 100000] [--duration 20] [--connections 16]
                                 [--store postgres://USER@HOST:PORT/EMPTY_DATABASE]
"""
import argparse, json, os, random, re, shutil, subprocess, sys, tempfile, time, urllib.request

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
KEY = "bench-admin-key-" + "%032x" % random.getrandbits(128)
TENANT = "bench"


def start_server(binary, data, store=None):
    env = dict(os.environ, JUMEAU_ADMIN_KEY=KEY, JUMEAU_LOG="warn,jumeau=info")
    store_args = ["--store", store] if store else []
    proc = subprocess.Popen([binary, "serve", "--data", data, "--listen", "127.0.0.1:0"] + store_args,
                            env=env, stderr=subprocess.PIPE, text=True)
    deadline = time.time() + 30
    while time.time() < deadline:
        line = proc.stderr.readline()
        m = re.search(r"listens on http://(\S+)", line)
        if m:
            return proc, m.group(1)
    proc.kill()
    sys.exit("the server did not start")


def post(addr, path, body):
    req = urllib.request.Request(f"http://{addr}{path}", data=json.dumps(body).encode(), method="POST",
                                 headers={"Content-Type": "application/json", "NGSILD-Tenant": TENANT,
                                          "Authorization": f"Bearer {KEY}"})
    with urllib.request.urlopen(req, timeout=120) as r:
        return r.status


def entity(i, rng):
    return {
        "id": f"urn:ngsi-ld:Streetlight:b{i}", "type": "Streetlight",
        "location": {"type": "GeoProperty", "value": {"type": "Point", "coordinates": [
            round(2.20 + rng.random() * 0.28, 6), round(48.80 + rng.random() * 0.11, 6)]}},
        "powerRating": {"type": "Property", "value": rng.randint(10, 200), "unitCode": "WTT"},
        "status": {"type": "Property", "value": "ok" if rng.random() < 0.95 else "defectiveLamp"},
        "lampTechnology": {"type": "Property", "value": rng.choice(["LED", "LED", "HPS", "MH"])},
        "powerState": {"type": "Property", "value": "off"},
        # The attribute the update runs change: present from the start, so that an update
        # changes a value (and appends to an existing history), as a dimming command does.
        "dimmingLevel": {"type": "Property", "value": 100, "unitCode": "P1"},
        "refStreetlightControlCabinet": {"type": "Relationship", "object": f"urn:ngsi-ld:StreetlightControlCabinet:c{i // 40}"},
    }


def rss_kib(pid):
    with open(f"/proc/{pid}/status") as f:
        for line in f:
            if line.startswith("VmRSS:"):
                return int(line.split()[1])
    return 0


def peak_kib(pid):
    with open(f"/proc/{pid}/status") as f:
        for line in f:
            if line.startswith("VmHWM:"):
                return int(line.split()[1])
    return 0


def wrk(addr, script, duration, connections, entities):
    env = dict(os.environ, JUMEAU_ADMIN_KEY=KEY, JUMEAU_BENCH_TENANT=TENANT, JUMEAU_BENCH_ENTITIES=str(entities))
    out = subprocess.run(["wrk", "-t2", f"-c{connections}", f"-d{duration}s", "--timeout", "10s",
                          "-s", os.path.join("bench", "load", script), f"http://{addr}"],
                         env=env, cwd=ROOT, capture_output=True, text=True, timeout=duration + 60)
    m = re.search(r"RESULT (.*)", out.stdout)
    if not m:
        sys.exit(f"wrk failed: {out.stdout}\n{out.stderr}")
    return dict(kv.split("=") for kv in m.group(1).split())


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--entities", type=int, default=100_000)
    ap.add_argument("--duration", type=int, default=20)
    ap.add_argument("--connections", type=int, default=16)
    ap.add_argument("--binary", default=os.path.join(ROOT, "target", "release", "jumeau"))
    ap.add_argument("--only", default="", help="comma-separated scripts to run (e.g. upsert,get)")
    ap.add_argument("--store", default=None, help="run on PostgreSQL: the URL of an empty database")
    ap.add_argument("--settle", action="store_true",
                    help="on PostgreSQL, VACUUM ANALYZE after the load and again after the "
                         "updates (what autovacuum does some minutes later), so that the reads "
                         "measure a settled database, not one that autovacuum is still going "
                         "through beside them")
    args = ap.parse_args()
    if not shutil.which("wrk"):
        sys.exit("wrk is needed: apt-get install wrk")
    data = tempfile.mkdtemp(prefix="jumeau-bench-")
    proc, addr = start_server(args.binary, data, args.store)
    try:
        rng = random.Random(42)
        t0 = time.time()
        for first in range(0, args.entities, 1000):
            post(addr, "/ngsi-ld/v1/entityOperations/upsert",
                 [entity(i, rng) for i in range(first, min(first + 1000, args.entities))])
        load_s = time.time() - t0
        rss_loaded = rss_kib(proc.pid)
        settles = []

        def settle(after):
            if args.settle and args.store:
                t1 = time.time()
                subprocess.run(["psql", args.store, "-q", "-c", "VACUUM ANALYZE"], check=True)
                settles.append(f"VACUUM ANALYZE after the {after} took {time.time() - t1:.1f} s")

        settle("load")
        rows = [("load (upsert 1,000 per request, new entities)", f"{args.entities / load_s:,.0f} entities/s", "", "")]
        # Throughput runs saturate the server with many connections; latency runs use as
        # many connections as cores, so that p95 measures the work, not the queue.
        for name, script, unit, conns in [
            ("batch upsert, 100 entities/request, 1 changed attribute", "upsert.lua", 100, args.connections),
            ("batch upsert, as above, 64 connections", "upsert.lua", 100, 64),
            ("single-entity GET", "get.lua", 1, args.connections),
            ("type + q, at most 100 returned (2 connections)", "query.lua", 1, 2),
            ("type + q, at most 100 returned", "query.lua", 1, args.connections),
            ("within a polygon (~300 m), at most 100 returned (2 connections)", "within.lua", 1, 2),
            ("within a polygon (~300 m), at most 100 returned", "within.lua", 1, args.connections),
        ]:
            if args.only and script.removesuffix(".lua") not in args.only.split(","):
                continue
            if script != "upsert.lua" and any(n.startswith("batch upsert") for n, *_ in rows) \
                    and not any("updates" in s for s in settles):
                settle("updates")
            r = wrk(addr, script, args.duration, conns, args.entities)
            rate = float(r["rps"]) * unit
            label = "entity updates/s" if unit > 1 else "requests/s"
            rows.append((name, f"{rate:,.0f} {label}", f"{float(r['p50_ms']):.2f} / {float(r['p95_ms']):.2f} / {float(r['p99_ms']):.2f}",
                         f"{r['errors']} / {r['non2xx']}"))
        rss_end = rss_kib(proc.pid)
        hwm = peak_kib(proc.pid)
        print(f"entities: {args.entities:,}; wrk -t2 -c{args.connections} (or -c2) -d{args.duration}s on this machine ({os.cpu_count()} cores){''.join('; ' + s for s in settles)}\n")
        print("| scenario | throughput | latency p50 / p95 / p99 (ms) | errors / non-2xx |")
        print("|---|---|---|---|")
        for r in rows:
            print("| " + " | ".join(r) + " |")
        print(f"\nresident memory: {rss_loaded / 1024:.0f} MiB after loading, {rss_end / 1024:.0f} MiB after the runs, peak {hwm / 1024:.0f} MiB")
        print(f"data directory: {sum(os.path.getsize(os.path.join(data, f)) for f in os.listdir(data)) / 2**20:.0f} MiB")
    finally:
        proc.kill()
        proc.wait()
        shutil.rmtree(data, ignore_errors=True)


if __name__ == "__main__":
    main()
