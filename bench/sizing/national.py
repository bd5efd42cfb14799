#!/usr/bin/env python3
"""Sizing on paper of a national Jumeau deployment on PostgreSQL + Citus.

Every figure below is an assumption written where it is used, so that a reader can change
one and rerun: `python3 bench/sizing/national.py`. The output is the table of
docs/scaling.md.
"""

DAY = 86_400

# (asset, units, share connected, attributes per report, reports per day, note)
FLOWS = [
    ("points lumineux (node controllers)", 11_000_000, 0.25, 2, 46,
     "state + power every 15 min over ~11.5 h of night on average"),
    ("armoires (meters, controllers)", 370_000, 0.50, 3, 144,
     "energy index, current, state every 10 min; ~30 lamps per armoire"),
    ("water meters (AMR)", 850_000, 1.0, 1, 24, "hourly index"),
    ("water network sensors", 150_000, 1.0, 1.5, 288,
     "pressure, flow, level, acoustic every 5 min"),
    ("public buildings: energy meters", 400_000, 1.0, 1, 50,
     "electricity load curve every 30 min + daily gas/heat"),
    ("public buildings: comfort sensors", 400_000 * 0.25 * 3, 1.0, 3, 144,
     "a quarter of buildings, 3 sensors each: temperature, humidity, CO2 every 10 min"),
    ("climate risks: gauges, weather, fire", 20_000, 1.0, 2, 96, "every 15 min"),
]
# Link metrics of each uplink on its Device entity (rssi, snr, battery): kept raw 7 days.
DEVICE_ATTRS_PER_UPLINK = 3

# Bytes per stored row, PostgreSQL heap + its B-tree entry (24 B tuple header, keys,
# timestamp, value), measured order of magnitude for narrow rows; columnar compression of
# closed partitions (Citus columnar, zstd) divides numeric time series by ~8.
RAW_ROW = 100
ROLLUP_ROW = 110
COLUMNAR_RATIO = 8

RAW_DAYS = 396          # 13 months raw: a full year to compare with the same month
HOT_DAYS = 31           # the open month stays in row storage
HOURLY_YEARS = 10
DAILY_YEARS = 30
ENTITY_BYTES = 3_000    # JSON-LD document, value index rows, geometry, indexes
ENTITIES = 11_000_000 + 370_000 + 1_000_000 + 400_000 + 120_000 + 4_500_000 + 2_000_000
# lamps, armoires, water assets, buildings, comfort sensors, Device entities, pipes+roads

WORKER_DISK_TB = 4.0    # NVMe per Citus worker, filled to 70 %
WORKER_ROWS_PER_S = 25_000  # sustained batched inserts per worker with indexes + rollups


def main():
    rows = []
    total_day = 0.0
    uplinks_day = 0.0
    series = 0.0
    hourly_rows_day = 0.0
    for name, units, share, attrs, per_day, note in FLOWS:
        n = units * share
        inst = n * attrs * per_day
        total_day += inst
        uplinks_day += n * per_day
        series += n * attrs
        active_hours = min(24.0, per_day / 4.0) if per_day < 96 else 24.0
        if name.startswith("points lumineux"):
            active_hours = 12.0
        hourly_rows_day += n * attrs * active_hours
        rows.append((name, n, inst, note))
    device_day = uplinks_day * DEVICE_ATTRS_PER_UPLINK

    print("| flow | connected units | instances/day | assumption |")
    print("|---|---:|---:|---|")
    for name, n, inst, note in rows:
        print(f"| {name} | {n:,.0f} | {inst/1e6:,.1f} M | {note} |")
    print(f"| **readings** | | **{total_day/1e6:,.0f} M** | {total_day/DAY:,.0f}/s on average |")
    print(f"| device link metrics | {uplinks_day/1e6:,.0f} M uplinks/day | {device_day/1e6:,.0f} M | rssi, snr, battery per uplink |")
    print()

    tb = 1e12
    raw_hot = total_day * HOT_DAYS * RAW_ROW / tb
    raw_cold = total_day * (RAW_DAYS - HOT_DAYS) * RAW_ROW / COLUMNAR_RATIO / tb
    device = device_day * 7 * RAW_ROW / tb
    hourly_year = hourly_rows_day * 365 * ROLLUP_ROW / tb
    hourly = hourly_year * HOURLY_YEARS / COLUMNAR_RATIO
    daily_year = series * 365 * ROLLUP_ROW / tb
    daily = daily_year * DAILY_YEARS / COLUMNAR_RATIO
    entities = ENTITIES * ENTITY_BYTES / tb
    total = raw_hot + raw_cold + device + hourly + daily + entities
    print("| storage (steady state, one copy) | TB |")
    print("|---|---:|")
    print(f"| raw readings, open month (row storage) | {raw_hot:.1f} |")
    print(f"| raw readings, 12 closed months (columnar) | {raw_cold:.1f} |")
    print(f"| device link metrics, 7 days | {device:.1f} |")
    print(f"| hourly rollups, {HOURLY_YEARS} years (columnar; {hourly_year:.1f} TB/year before compression) | {hourly:.1f} |")
    print(f"| daily rollups, {DAILY_YEARS} years (columnar; {daily_year:.2f} TB/year before compression) | {daily:.1f} |")
    print(f"| entities ({ENTITIES/1e6:.0f} M) | {entities:.2f} |")
    print(f"| **total** | **{total:.1f}** |")
    print()
    peak = (total_day / DAY) * 3 + device_day / DAY * 3
    by_disk = total / (WORKER_DISK_TB * 0.7)
    by_writes = peak / WORKER_ROWS_PER_S
    print(f"series: {series/1e6:.1f} M; hourly rollup rows/day: {hourly_rows_day/1e6:.0f} M")
    print(f"peak writes (3x the average, lighting at dusk): {peak:,.0f} rows/s")
    print(f"workers for disk: {by_disk:.1f}; for writes: {by_writes:.1f}")


if __name__ == "__main__":
    main()
