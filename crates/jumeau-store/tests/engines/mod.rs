//! The two storage engines behind one interface, so that every store test runs against
//! both: the embedded SQLite engine in a temporary directory, and PostgreSQL in a fresh
//! database of the cluster named by `JUMEAU_TEST_POSTGRES` (skipped when it is not set,
//! outside CI).
#![allow(dead_code, clippy::unwrap_used, clippy::panic)]

use std::future::Future;

use jumeau_store::postgres::{PgOptions, PgStore};
use jumeau_store::sqlite::{SqliteOptions, SqliteStore};
use jumeau_store::Store;

/// Where one test keeps its data, so that the store can be opened again on it.
pub trait Engine: Sized {
    /// The store of this engine.
    type Store: Store;
    /// A fresh, empty place; `None` when the engine cannot be tested here.
    fn fresh() -> Option<Self>;
    /// Opens the store on the place (again: what was written before is there).
    fn open(&self) -> impl Future<Output = Self::Store>;
}

/// The embedded engine in a temporary directory.
pub struct Sqlite(tempfile::TempDir);

impl Engine for Sqlite {
    type Store = SqliteStore;

    fn fresh() -> Option<Self> {
        Some(Self(tempfile::tempdir().unwrap()))
    }

    async fn open(&self) -> SqliteStore {
        SqliteStore::open(self.0.path(), SqliteOptions::default()).expect("open store")
    }
}

/// PostgreSQL, in a database of its own.
pub struct Postgres(String);

impl Engine for Postgres {
    type Store = PgStore;

    fn fresh() -> Option<Self> {
        jumeau_testkit::postgres_database()
            .expect("a test database")
            .map(Self)
    }

    async fn open(&self) -> PgStore {
        // Tests burst a thousand calls at once: let them wait for a connection.
        let options = PgOptions {
            connect_timeout: std::time::Duration::from_secs(60),
            ..PgOptions::default()
        };
        PgStore::connect(&self.0, options)
            .await
            .expect("connect to the test database")
    }
}

/// A fresh store of engine `E`, with its place (keep it: a temporary directory is removed
/// when dropped); `None` to skip the test.
pub async fn fresh<E: Engine>() -> Option<(E, E::Store)> {
    let place = E::fresh()?;
    let store = place.open().await;
    Some((place, store))
}

/// One `#[tokio::test]` per engine for each generic test function `name::<E: Engine>()`:
/// `sqlite::name` and `postgres::name`.
macro_rules! on_both_engines {
    ($($name:ident),* $(,)?) => {
        mod sqlite {
            $(
                #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
                async fn $name() {
                    super::$name::<crate::engines::Sqlite>().await
                }
            )*
        }
        mod postgres {
            $(
                #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
                async fn $name() {
                    super::$name::<crate::engines::Postgres>().await
                }
            )*
        }
    };
}
pub(crate) use on_both_engines;
