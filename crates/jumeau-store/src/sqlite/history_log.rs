//! The log of numeric readings written by entity writes and not yet folded into chunks and
//! rollups (table `history_log`, in `temporal_log.sql`).
//!
//! Storing a reading in place rewrites the last chunk of its series and two rollup rows:
//! three pages scattered over the database, each written whole to the write-ahead log. A
//! logged reading is one row appended in order of arrival, on contiguous pages, plus one
//! entry of a small index by series. The writer folds the log into chunks and rollups when
//! it has been idle for [`IDLE_AFTER`], a slice of series at a time, and after every
//! transaction once the log holds more than [`LOG_LIMIT`] readings, so that the log stays
//! bounded under a steady load. A slice folds every logged reading of its series together:
//! one chunk rewrite and one rollup row per hour for all of a series' readings.
//!
//! Reads merge the logged readings of a series ([`tail`]) into what the chunks hold,
//! leaving out duplicates exactly as folding does, so a query answers the same before and
//! after folding. Folding runs in its own transaction: a crash leaves the log whole.

use std::cell::Cell;
use std::time::Duration;

use rusqlite::{params, Connection};

use super::sql_err;
use super::temporal::{
    add_to_rollups, chunk_points_in, merge_points, store_points, writer_time_zone,
};
use crate::series::codec::Point;
use crate::StoreResult;

/// The table and its index, applied by the schema migrations.
pub(super) const SCHEMA: &str = include_str!("temporal_log.sql");

/// Logged readings beyond which the writer folds a slice after every transaction, even
/// when busy (about 40 bytes each on disk, row and index entry: 80 MB at most). Large, so
/// that a series has several readings to fold at once: at one reading every 10 minutes,
/// 100,000 sensors fill it in about three hours.
const LOG_LIMIT: i64 = 2_000_000;
/// Logged readings folded by one slice after a transaction, when the log is over its limit.
const FOLD_BUSY: usize = 8_192;
/// Logged readings folded by one slice while the writer is idle: small, so that a write
/// arriving meanwhile waits little. A slice costs about one chunk rewrite and one rollup
/// update per series, and right after a burst each series has one or two readings logged:
/// 2,048 took 0.1 to 0.8 s while sensor messages kept arriving, long enough to hold the
/// writes behind it past a second; 256 take a few tens of milliseconds.
const FOLD_IDLE: usize = 256;
/// How long the writer waits for work before it folds.
pub(super) const IDLE_AFTER: Duration = Duration::from_millis(50);

thread_local! {
    /// Rows in the log as the writer counts them; `None` until counted, and after a rollback.
    static ROWS: Cell<Option<i64>> = const { Cell::new(None) };
    /// The first series of the next slice to fold.
    static NEXT: Cell<i64> = const { Cell::new(0) };
}

/// Forgets the writer's count of logged rows (after a rollback).
pub(super) fn forget() {
    ROWS.with(|r| r.set(None));
}

fn rows(conn: &Connection) -> StoreResult<i64> {
    if let Some(n) = ROWS.with(Cell::get) {
        return Ok(n);
    }
    let n: i64 = conn
        .query_row("SELECT count(*) FROM history_log", [], |r| r.get(0))
        .map_err(sql_err)?;
    ROWS.with(|r| r.set(Some(n)));
    Ok(n)
}

fn count(delta: i64) {
    ROWS.with(|r| r.set(r.get().map(|n| (n + delta).max(0))));
}

/// Appends numeric readings of one series to the log (writer thread).
pub(super) fn append(conn: &Connection, series: i64, points: &[Point]) -> StoreResult<()> {
    let mut stmt = conn
        .prepare_cached(
            "INSERT INTO history_log (series, time, created, observed, value) \
             VALUES (?1, ?2, ?3, ?4, ?5)",
        )
        .map_err(sql_err)?;
    for p in points {
        stmt.execute(params![series, p.time, p.created, p.observed, p.value])
            .map_err(sql_err)?;
    }
    count(points.len() as i64);
    Ok(())
}

/// The readings of a series still in the log, in time order (order of arrival within one
/// time), without those the chunks already hold or logged before them (same time and
/// value): what folding would add to the series.
pub(super) fn tail(conn: &Connection, series: i64) -> StoreResult<Vec<Point>> {
    let mut logged = conn
        .prepare_cached(
            "SELECT time, created, observed, value FROM history_log WHERE series = ?1 ORDER BY seq",
        )
        .and_then(|mut stmt| {
            stmt.query_map([series], |r| {
                Ok(Point {
                    time: r.get(0)?,
                    created: r.get(1)?,
                    observed: r.get(2)?,
                    value: r.get(3)?,
                })
            })?
            .collect::<Result<Vec<_>, _>>()
        })
        .map_err(sql_err)?;
    let (Some(first), Some(last)) = (
        logged.iter().map(|p| p.time).min(),
        logged.iter().map(|p| p.time).max(),
    ) else {
        return Ok(logged);
    };
    // Stable: order of arrival within one time, as folding keeps it.
    logged.sort_by_key(|p| p.time);
    let stored = chunk_points_in(conn, series, first, last.saturating_add(1))?;
    let mut fresh = Vec::with_capacity(logged.len());
    merge_points(stored, &logged, &mut fresh);
    Ok(fresh)
}

/// Points of `[from, to)` read from the chunks (in time order) with the logged readings of
/// that range (from [`tail`]) merged in where folding would place them.
pub(super) fn merged(points: Vec<Point>, tail: &[Point], from: i64, to: i64) -> Vec<Point> {
    let extra: Vec<Point> = tail
        .iter()
        .copied()
        .filter(|p| p.time >= from && p.time < to)
        .collect();
    if extra.is_empty() {
        return points;
    }
    let mut kept = Vec::new();
    merge_points(points, &extra, &mut kept)
}

/// Folds every logged reading of the series `first..=last` into chunks and rollups and
/// removes them from the log; returns how many were folded.
fn fold_range(conn: &Connection, first: i64, last: i64) -> StoreResult<usize> {
    let logged: Vec<(i64, i64, Point)> = conn
        .prepare_cached(
            "SELECT l.series, s.tenant, l.time, l.created, l.observed, l.value \
             FROM history_log l JOIN series s ON s.id = l.series \
             WHERE l.series >= ?1 AND l.series <= ?2 ORDER BY l.series, l.seq",
        )
        .and_then(|mut stmt| {
            stmt.query_map(params![first, last], |r| {
                Ok((
                    r.get(0)?,
                    r.get(1)?,
                    Point {
                        time: r.get(2)?,
                        created: r.get(3)?,
                        observed: r.get(4)?,
                        value: r.get(5)?,
                    },
                ))
            })?
            .collect::<Result<Vec<_>, _>>()
        })
        .map_err(sql_err)?;
    let mut start = 0;
    while start < logged.len() {
        let (series, tenant) = (logged[start].0, logged[start].1);
        let end = start + logged[start..].partition_point(|r| r.0 == series);
        let points: Vec<Point> = logged[start..end].iter().map(|r| r.2).collect();
        let stored = store_points(conn, series, points, false)?;
        add_to_rollups(conn, series, &stored, writer_time_zone(conn, tenant)?)?;
        start = end;
    }
    let removed = conn
        .prepare_cached("DELETE FROM history_log WHERE series >= ?1 AND series <= ?2")
        .and_then(|mut s| s.execute(params![first, last]))
        .map_err(sql_err)?;
    count(-(removed as i64));
    Ok(logged.len())
}

/// Folds the logged readings of one series, if any (before it is changed in place).
pub(super) fn fold_series(conn: &Connection, series: i64) -> StoreResult<()> {
    if rows(conn)? > 0 {
        fold_range(conn, series, series)?;
    }
    Ok(())
}

/// Folds the whole log (before retention or a change of time zone).
pub(super) fn fold_all(conn: &Connection) -> StoreResult<()> {
    if rows(conn)? > 0 {
        fold_range(conn, i64::MIN, i64::MAX)?;
    }
    Ok(())
}

/// Folds about `budget` logged readings: those of the series from where the last slice
/// stopped, whole series only, wrapping around at the end.
fn fold_slice(conn: &Connection, budget: usize) -> StoreResult<()> {
    let from = NEXT.with(Cell::get);
    let last: Option<i64> = conn
        .prepare_cached(
            "SELECT series FROM history_log WHERE series >= ?1 ORDER BY series LIMIT 1 OFFSET ?2",
        )
        .and_then(|mut s| {
            let mut rows = s.query(params![from, budget.saturating_sub(1) as i64])?;
            rows.next()?.map(|r| r.get(0)).transpose()
        })
        .map_err(sql_err)?;
    let last = last.unwrap_or(i64::MAX);
    let folded = fold_range(conn, from, last)?;
    let next = if last == i64::MAX { 0 } else { last + 1 };
    NEXT.with(|n| n.set(next));
    if folded == 0 && from != 0 {
        // Nothing left after `from`: start over from the first series.
        NEXT.with(|n| n.set(0));
    }
    Ok(())
}

/// Whether the log may hold readings to fold (the writer then waits for work only
/// [`IDLE_AFTER`] before folding).
pub(super) fn pending() -> bool {
    ROWS.with(Cell::get) != Some(0)
}

/// Folds one slice in its own transaction when the writer is idle (`idle`) or the log is
/// over its limit; returns whether something was committed. A failure is logged and
/// undone: the log keeps the readings for a later fold.
pub(super) fn fold_step(conn: &Connection, idle: bool) -> bool {
    let budget = match rows(conn) {
        Ok(0) => return false,
        Ok(n) if n > LOG_LIMIT => FOLD_BUSY,
        Ok(_) if idle => FOLD_IDLE,
        Ok(_) => return false,
        Err(e) => {
            tracing::warn!("cannot count the history log: {e}");
            return false;
        }
    };
    if let Err(e) = conn.execute_batch("BEGIN IMMEDIATE") {
        tracing::warn!("cannot begin folding the history log: {e}");
        return false;
    }
    let done = fold_slice(conn, budget)
        .and_then(|()| conn.execute_batch("COMMIT").map_err(sql_err).map(|()| true));
    match done {
        Ok(committed) => committed,
        Err(e) => {
            tracing::warn!("folding the history log failed (it will be retried): {e}");
            let _ = conn.execute_batch("ROLLBACK");
            super::temporal::forget_cache();
            false
        }
    }
}
