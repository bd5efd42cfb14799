#!/usr/bin/env python3
"""PostgreSQL's own COPY rate of the rows the load benchmark writes: the ceiling the
PostgreSQL store is compared with in docs/benchmarks.md.

Creates a scratch database on the cluster, tables shaped like the store's `entities`,
`attr_values` and `geo_values` (same columns, keys and indexes), and COPYs the same N
street lights as bench/load/run.py (entity documents, one value-index row per scalar
attribute, one PostGIS point each), in one transaction per table, durably.

Usage: python3 bench/load/pg_copy.py --admin postgres://postgres@127.0.0.1:55432/postgres
                                     [--entities 100000]
"""
import argparse, io, json, os, random, subprocess, sys, time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from run import entity  # noqa: E402  the same rows as the load benchmark

SCHEMA = """
CREATE EXTENSION IF NOT EXISTS postgis;
CREATE TABLE entities (tenant_id text COLLATE "C" NOT NULL, id text COLLATE "C" NOT NULL,
    seq bigint NOT NULL, doc text NOT NULL, PRIMARY KEY (tenant_id, id));
CREATE UNIQUE INDEX entities_seq ON entities (tenant_id, seq);
CREATE TABLE attr_values (tenant_id text COLLATE "C" NOT NULL, eseq bigint NOT NULL,
    attr text COLLATE "C" NOT NULL, vt text NOT NULL, num double precision, txt text COLLATE "C");
CREATE INDEX attr_values_entity ON attr_values (tenant_id, eseq, attr);
CREATE INDEX attr_values_number ON attr_values (tenant_id, attr, num) WHERE num IS NOT NULL;
CREATE INDEX attr_values_txt ON attr_values (tenant_id, attr, txt);
CREATE TABLE geo_values (tenant_id text COLLATE "C" NOT NULL, eseq bigint NOT NULL,
    attr text COLLATE "C" NOT NULL, geom geometry(Geometry, 4326) NOT NULL);
CREATE INDEX geo_values_entity ON geo_values (tenant_id, eseq);
CREATE INDEX geo_values_geom ON geo_values USING gist (geom);
"""


def psql(url, *args, stdin=None):
    return subprocess.run(["psql", url, "-v", "ON_ERROR_STOP=1", "-q", *args], input=stdin,
                          capture_output=True, text=True, check=True)


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--admin", required=True, help="URL of a role that may create databases")
    ap.add_argument("--entities", type=int, default=100_000)
    args = ap.parse_args()
    db = f"jumeau_copy_{os.getpid()}"
    psql(args.admin, "-c", f"CREATE DATABASE {db}")
    url = args.admin.rsplit("/", 1)[0] + "/" + db
    try:
        psql(url, "-c", SCHEMA)
        rng = random.Random(42)
        ents, vals, geos = io.StringIO(), io.StringIO(), io.StringIO()
        for i in range(args.entities):
            e = entity(i, rng)
            ents.write(f"bench\t{e['id']}\t{i}\t{json.dumps(e)}\n".replace("\\", "\\\\"))
            for name in ("powerRating", "status", "lampTechnology", "powerState"):
                v = e[name]["value"]
                if isinstance(v, int):
                    vals.write(f"bench\t{i}\t{name}\tn\t{v}\t\\N\n")
                else:
                    vals.write(f"bench\t{i}\t{name}\ts\t\\N\t{v}\n")
            vals.write(f"bench\t{i}\trefStreetlightControlCabinet\tr\t\\N\t{e['refStreetlightControlCabinet']['object']}\n")
            lon, lat = e["location"]["value"]["coordinates"]
            geos.write(f"bench\t{i}\tlocation\tSRID=4326;POINT({lon} {lat})\n")
        timings = []
        for table, data in (("entities", ents), ("attr_values", vals), ("geo_values", geos)):
            t0 = time.time()
            psql(url, "-c", f"\\copy {table} FROM STDIN", stdin=data.getvalue())
            timings.append((table, data.getvalue().count("\n"), time.time() - t0))
        total = sum(t for _, _, t in timings)
        for table, rows, t in timings:
            print(f"{table}: {rows:,} rows in {t:.2f} s ({rows / t:,.0f} rows/s)")
        print(f"all three tables: {args.entities / total:,.0f} entities/s (synchronous_commit on)")
    finally:
        psql(args.admin, "-c", f"DROP DATABASE IF EXISTS {db}")


if __name__ == "__main__":
    main()
