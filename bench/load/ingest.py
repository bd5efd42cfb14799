#!/usr/bin/env python3
"""Sensor ingestion benchmark of Jumeau (docs/benchmarks.md, section "Ingestion").

Starts a Mosquitto broker and `jumeau serve --mqtt` (release build) on fresh data, registers
the devices, then measures from the same machine, targeting 127.0.0.1 only, every loop
bounded in time:

1. HTTP: wrk with bench/load/ingest.lua posts batches of generic uplinks whose raw payload
   the native decoder decodes; throughput counts uplinks acknowledged (journaled), then the
   time until the last one is applied to the twin. Meanwhile a probe posts one reading every
   100 ms (--probe-every) and polls until the entity shows it: receipt-to-queryable latency
   under load, as a client sees it.
2. MQTT: the example load generator (crates/jumeau-ingest/examples/mqtt_load.rs) publishes
   ChirpStack uplinks with QoS 1; throughput counts uplinks applied to the twin. The same
   HTTP probe runs meanwhile.

For both, the server logs (target jumeau_ingest::latency, debug) how long after its receipt
every message became queryable; the script reads that log and reports the distribution over
every message of the scenario ("server" in the table), beside the probe's. The probes above
--outlier ms are listed with their time, to match them with the server's log: --server-log
FILE keeps that log, with the store's slow commits, checkpoints and folds and the MQTT
journal batches (debug).

Usage: python3 bench/load/ingest.py [--devices 1000] [--duration 20] [--connections 8]
       [--mqtt-messages 200000] [--mqtt-rate 0] [--probe-every 0.1] [--server-log FILE]
--mqtt-rate R publishes R messages/s in all, evenly spaced (an offered load: the latency at that
throughput); 0, the default, publishes as fast as the broker takes them (the saturation
throughput, where latency only measures the queue).
Build first: cargo build --release -p jumeau && cargo build --release -p jumeau-ingest --example mqtt_load
"""
import argparse, json, os, signal, shutil, socket, subprocess, sys, tempfile, threading, time, urllib.error, urllib.parse, urllib.request

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import run  # noqa: E402  (start_server, wrk, rss_kib, KEY, TENANT)

ROOT = run.ROOT


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def start_mosquitto(folder, inflight=1000):
    port = free_port()
    conf = os.path.join(folder, "mosquitto.conf")
    with open(conf, "w") as f:
        f.write(f"listener {port} 127.0.0.1\nallow_anonymous true\npersistence false\n"
                f"max_queued_messages 1000000\nmax_inflight_messages {inflight}\n")
    binary = shutil.which("mosquitto") or "/usr/sbin/mosquitto"
    proc = subprocess.Popen([binary, "-c", conf], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    deadline = time.time() + 10
    while time.time() < deadline:
        try:
            socket.create_connection(("127.0.0.1", port), timeout=1).close()
            return proc, port
        except OSError:
            time.sleep(0.05)
    proc.kill()
    sys.exit("mosquitto did not start (apt-get install mosquitto)")


def request(addr, method, path, body=None):
    data = None if body is None else json.dumps(body).encode()
    req = urllib.request.Request(f"http://{addr}{path}", data=data, method=method,
                                 headers={"Content-Type": "application/json", "NGSILD-Tenant": run.TENANT,
                                          "Authorization": f"Bearer {run.KEY}"})
    with urllib.request.urlopen(req, timeout=60) as r:
        text = r.read()
        return r.status, (json.loads(text) if text else None)


def device(eui, i):
    return {"devEui": eui, "entityId": f"urn:ngsi-ld:AirQualityObserved:bench-{eui}", "entityType": "AirQualityObserved",
            "profile": "elsys/ers-co2", "intervalSeconds": 3600,
            "mappings": [{"field": "temperature", "attribute": "temperature", "unitCode": "CEL", "min": -40, "max": 85},
                         {"field": "humidity", "attribute": "relativeHumidity", "unitCode": "P1", "scale": 0.01, "min": 0, "max": 1},
                         {"field": "co2", "attribute": "co2", "unitCode": "59", "min": 0, "max": 10000}]}


def counters(addr):
    _, stats = request(addr, "GET", "/ingest/stats")
    total = {}
    for c in stats["counters"]:
        t = total.setdefault(c["source"], [0, 0, 0, 0])
        for i, k in enumerate(["received", "accepted", "duplicated", "rejected"]):
            t[i] += c[k]
    return stats["inFlight"], total


def wait_applied(addr, source, expected, limit_s):
    deadline = time.time() + limit_s
    while time.time() < deadline:
        in_flight, total = counters(addr)
        done = sum(total.get(source, [0, 0, 0, 0])[1:])
        if done >= expected and in_flight == 0:
            return time.time()
        time.sleep(0.1)
    sys.exit(f"{source}: not every uplink was applied within {limit_s} s: {counters(addr)}")


class ServerLog:
    """Reads the server's log: keeps it in a file if asked, and gathers the receipt-to-
    queryable times the server logs for every batch (`ms*count` pairs) under the current
    scenario."""

    MARK = "queryable after receipt (ms*messages): "

    def __init__(self, proc, path):
        self.proc, self.file = proc, (open(path, "w") if path else None)
        self.scenario, self.times, self.lock = None, {}, threading.Lock()
        threading.Thread(target=self.read, daemon=True).start()

    def read(self):
        # Keep reading, so that a full pipe never blocks the server.
        for line in self.proc.stderr:
            if self.file:
                self.file.write(line)
                self.file.flush()
            at = line.find(self.MARK)
            if at < 0:
                continue
            with self.lock:
                counts = self.times.setdefault(self.scenario, {})
                for pair in line[at + len(self.MARK):].strip().split(","):
                    ms, _, n = pair.partition("*")
                    if ms.isdigit() and n.isdigit():
                        counts[int(ms)] = counts.get(int(ms), 0) + int(n)

    def start(self, scenario):
        with self.lock:
            self.scenario = scenario

    def summary(self, scenario):
        """p50 / p99 / p99.9 / max over every message of a scenario, in ms."""
        with self.lock:
            counts = sorted(self.times.get(scenario, {}).items())
        total = sum(n for _, n in counts)
        if not total:
            return "no server log (build with this version)"

        def at(p):
            rank, seen = p / 100 * total, 0
            for ms, n in counts:
                seen += n
                if seen >= rank:
                    return ms
            return counts[-1][0]

        return (f"server, every message: p50 {at(50)} / p99 {at(99)} / p99.9 {at(99.9)} / "
                f"max {counts[-1][0]} ms ({total:,} messages)")


class Probe(threading.Thread):
    """Posts one reading every `every` seconds and measures until the entity shows it; keeps
    (start time, latency) per probe."""

    def __init__(self, addr, eui, every):
        super().__init__(daemon=True)
        self.addr, self.eui, self.every, self.stop = addr, eui, every, threading.Event()
        self.samples = []

    @property
    def latencies(self):
        return [d for _, d in self.samples]

    def report(self, outlier_ms):
        """The probe's percentiles, and its probes above `outlier_ms` with their UTC time."""
        slow = [f"{time.strftime('%H:%M:%S', time.gmtime(t))}.{int(t % 1 * 1000):03d} UTC: {d * 1000:.0f} ms"
                for t, d in self.samples if d * 1000 > outlier_ms]
        if slow:
            print(f"probes above {outlier_ms} ms: " + "; ".join(slow), file=sys.stderr)
        lat = self.latencies
        return (f"probe p50 {pct(lat, 50) * 1000:.0f} / p99 {pct(lat, 99) * 1000:.0f} / "
                f"max {max(lat, default=float('nan')) * 1000:.0f} ms ({len(lat)} probes, {len(slow)} above {outlier_ms} ms)")

    # Frame counters go on from one probe to the next: a repeated (DevEUI, fCnt) is a copy.
    next_f_cnt = 0

    def run(self):
        entity = f"urn:ngsi-ld:AirQualityObserved:bench-{self.eui}"
        path = "/ngsi-ld/v1/entities/" + urllib.parse.quote(entity, safe="") + "?options=keyValues&attrs=co2"
        while not self.stop.is_set():
            Probe.next_f_cnt += 1
            f_cnt = Probe.next_f_cnt
            value = 400 + f_cnt % 5000
            t0 = time.time()
            t = time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(1_800_000_000 + f_cnt))
            request(self.addr, "POST", "/ingest/http",
                    {"devEui": self.eui, "time": t, "fCnt": f_cnt, "object": {"co2": value}})
            while time.time() - t0 < 30:
                try:
                    _, e = request(self.addr, "GET", path)
                    if e.get("co2") == value:
                        self.samples.append((t0, time.time() - t0))
                        break
                except urllib.error.HTTPError:
                    pass
                time.sleep(0.005)
            self.stop.wait(self.every)


def pct(values, p):
    if not values:
        return float("nan")
    s = sorted(values)
    return s[min(len(s) - 1, int(round(p / 100 * (len(s) - 1))))]


def main():
    # Stop the server and the broker on SIGTERM too (the finally clause below).
    signal.signal(signal.SIGTERM, lambda *_: sys.exit("terminated"))
    ap = argparse.ArgumentParser()
    ap.add_argument("--devices", type=int, default=1000)
    ap.add_argument("--duration", type=int, default=20)
    ap.add_argument("--connections", type=int, default=8)
    ap.add_argument("--batch", type=int, default=100)
    ap.add_argument("--mqtt-messages", type=int, default=200_000)
    ap.add_argument("--mqtt-rate", type=int, default=0,
                    help="messages/s offered over MQTT, evenly spaced; 0: as fast as possible")
    ap.add_argument("--target", default=os.path.join(ROOT, "target"))
    ap.add_argument("--only", choices=["http", "mqtt"], help="run one scenario")
    ap.add_argument("--binary", help="the jumeau binary (default: <target>/release/jumeau)")
    ap.add_argument("--inflight", type=int, default=1000,
                    help="Mosquitto's max_inflight_messages: unacknowledged publishes sent to Jumeau")
    ap.add_argument("--probe-every", type=float, default=0.1,
                    help="seconds between the end of a probe and the next")
    ap.add_argument("--outlier", type=float, default=1000,
                    help="probes slower than this many ms are listed with their time")
    ap.add_argument("--server-log", help="keep the server's log (with the store's debug timings) in this file")
    args = ap.parse_args()
    binary = args.binary or os.path.join(args.target, "release", "jumeau")
    loader = os.path.join(args.target, "release", "examples", "mqtt_load")
    for b in (binary, loader):
        if not os.path.exists(b):
            sys.exit(f"{b} is missing; build it first (see the usage)")
    if not shutil.which("wrk"):
        sys.exit("wrk is needed: apt-get install wrk")
    folder = tempfile.mkdtemp(prefix="jumeau-ingest-bench-")
    broker, port = start_mosquitto(folder, args.inflight)
    os.environ["JUMEAU_MQTT"] = f"mqtt://127.0.0.1:{port}?tenant={run.TENANT}&client_id=jumeau-bench"
    # run.start_server sets the log filter; a wrapper sets the one this benchmark reads.
    log = "warn,jumeau=info,jumeau_ingest::latency=debug"
    if args.server_log:
        log += ",jumeau_store::sqlite=debug,jumeau_ingest::mqtt=debug"
    wrapper = os.path.join(folder, "jumeau")
    with open(wrapper, "w") as f:
        f.write(f"#!/bin/sh\nJUMEAU_LOG='{log}' exec '{os.path.abspath(binary)}' \"$@\"\n")
    os.chmod(wrapper, 0o755)
    proc, addr = run.start_server(wrapper, os.path.join(folder, "data"))
    server_log = ServerLog(proc, args.server_log)
    print(f"server on {addr}, broker on {port}", file=sys.stderr)
    rows = []
    try:
        generic = [f"00c0{i:012x}" for i in range(args.devices)]
        chirp = [f"00b0{i:012x}" for i in range(args.devices)]
        probe_eui = "00d0000000000001"
        for first in range(0, args.devices, 500):
            request(addr, "POST", "/ingest/devices", [device(e, i) for i, e in enumerate(generic[first:first + 500])])
            request(addr, "POST", "/ingest/devices", [device(e, i) for i, e in enumerate(chirp[first:first + 500])])
        request(addr, "POST", "/ingest/devices", device(probe_eui, 0))
        print("devices registered", file=sys.stderr)

        if args.only != "mqtt":
            # 1. HTTP, batched generic uplinks, decoded natively.
            server_log.start("http")
            probe = Probe(addr, probe_eui, args.probe_every)
            probe.start()
            os.environ["JUMEAU_BENCH_DEVICES"] = str(args.devices)
            os.environ["JUMEAU_BENCH_BATCH"] = str(args.batch)
            t0 = time.time()
            r = run.wrk(addr, "ingest.lua", args.duration, args.connections, args.devices)
            acked = int(r["requests"]) * args.batch - int(r["non2xx"]) * args.batch
            t_applied = wait_applied(addr, "generic", acked, 600)
            probe.stop.set()
            probe.join(timeout=40)
            wall = t_applied - t0
            rows.append((f"HTTP /ingest/http, {args.batch} uplinks/request, native decoding, {args.connections} connections",
                         f"{acked / float(r['duration_s']):,.0f} uplinks/s acknowledged; {acked / wall:,.0f} uplinks/s applied "
                         f"({acked:,} in {wall:.1f} s)",
                         f"request p50 {float(r['p50_ms']):.1f} / p99 {float(r['p99_ms']):.1f} ms; "
                         f"receipt to queryable: {server_log.summary('http')}; {probe.report(args.outlier)}",
                         f"{r['errors']} / {r['non2xx']}"))
            print(f"HTTP: {rows[-1]}", file=sys.stderr)

        if args.only != "http":
            # 2. MQTT, ChirpStack uplinks with decoded objects, QoS 1.
            _, before = counters(addr)
            base = sum(before.get("chirpstack", [0, 0, 0, 0])[1:])
            server_log.start("mqtt")
            probe = Probe(addr, probe_eui, args.probe_every)
            probe.start()
            t0 = time.time()
            out = subprocess.run([loader, "--port", str(port), "--devices", str(args.devices),
                                  "--messages", str(args.mqtt_messages), "--clients", "2",
                                  "--rate", str(args.mqtt_rate)],
                                 capture_output=True, text=True, timeout=900)
            if out.returncode != 0:
                sys.exit(f"mqtt_load failed: {out.stdout}\n{out.stderr}")
            published = time.time() - t0
            t_applied = wait_applied(addr, "chirpstack", base + args.mqtt_messages, 300)
            probe.stop.set()
            probe.join(timeout=40)
            wall = t_applied - t0
            offered = f"{args.mqtt_rate:,}/s offered" if args.mqtt_rate else "as fast as possible"
            rows.append((f"MQTT (Mosquitto on loopback), ChirpStack uplinks, QoS 1, 2 publishers, {offered}",
                         f"{args.mqtt_messages / wall:,.0f} uplinks/s applied ({args.mqtt_messages:,} in {wall:.1f} s; "
                         f"published in {published:.1f} s)",
                         f"receipt to queryable: {server_log.summary('mqtt')}; HTTP meanwhile: {probe.report(args.outlier)}",
                         "-"))
            print(f"MQTT: {rows[-1]}", file=sys.stderr)

        in_flight, total = counters(addr)
        print(f"devices: {args.devices:,} per source; wrk -t2 -c{args.connections} -d{args.duration}s; "
              f"{os.cpu_count()} cores\n")
        print("| scenario | throughput | latency | errors / non-2xx |")
        print("|---|---|---|---|")
        for row in rows:
            print("| " + " | ".join(row) + " |")
        print(f"\ncounters (received, accepted, duplicated, rejected) per source: {total}")
        print(f"resident memory: {run.rss_kib(proc.pid) / 1024:.0f} MiB, peak {run.peak_kib(proc.pid) / 1024:.0f} MiB")
    finally:
        proc.kill()
        proc.wait()
        broker.kill()
        broker.wait()
        shutil.rmtree(folder, ignore_errors=True)


if __name__ == "__main__":
    main()
