//! The PostgreSQL schema keeps the rules Citus needs to distribute it on `tenant_id`
//! (docs/scaling.md): Citus is not packaged for Debian, so these rules are checked on the
//! catalog of a plain PostgreSQL instead of by running `create_distributed_table`.
//!
//! - every table is either a small global table (a Citus reference table) or a tenant
//!   table whose first column is `tenant_id`;
//! - every primary key and unique index of a tenant table includes `tenant_id` (Citus
//!   enforces uniqueness per shard only);
//! - no foreign key joins tables (reference ↔ distributed foreign keys would be allowed,
//!   but none are needed);
//! - the primary key of a partitioned table includes its partition column.
#![allow(clippy::unwrap_used, clippy::panic)]

use jumeau_store::postgres::{PgOptions, PgStore};

/// Small global tables, replicated to every node by `create_reference_table`, and the
/// coordinator's own bookkeeping.
const GLOBAL: &[&str] = &[
    "tenants",
    "api_keys",
    "jsonld_contexts",
    "jumeau_schema",
    "history_raw_partitions",
    "spatial_ref_sys",
];

async fn catalog() -> Option<tokio_postgres::Client> {
    let url = jumeau_testkit::postgres_database().unwrap()?;
    PgStore::connect(&url, PgOptions::default()).await.unwrap();
    let (client, conn) = tokio_postgres::connect(&url, tokio_postgres::NoTls)
        .await
        .unwrap();
    tokio::spawn(conn);
    Some(client)
}

#[tokio::test]
async fn every_tenant_table_is_distributable_on_tenant_id() {
    let Some(db) = catalog().await else {
        eprintln!("skipped: no PostgreSQL (set JUMEAU_TEST_POSTGRES, see .ci/postgres)");
        return;
    };
    // Ordinary and partitioned tables of the public schema, partitions left out (they
    // follow their parent).
    let tables = db
        .query(
            "SELECT c.relname, c.relkind::text FROM pg_class c
             JOIN pg_namespace n ON n.oid = c.relnamespace
             WHERE n.nspname = 'public' AND c.relkind IN ('r', 'p') AND NOT c.relispartition
             ORDER BY 1",
            &[],
        )
        .await
        .unwrap();
    let mut tenant_tables = 0;
    for t in &tables {
        let name: String = t.get(0);
        if GLOBAL.contains(&name.as_str()) {
            continue;
        }
        tenant_tables += 1;
        let first: String = db
            .query_one(
                "SELECT attname::text FROM pg_attribute
                 WHERE attrelid = $1::text::regclass AND attnum = 1",
                &[&name],
            )
            .await
            .unwrap()
            .get(0);
        assert_eq!(
            first, "tenant_id",
            "{name}: the first column must be tenant_id"
        );
        let uniques = db
            .query(
                "SELECT i.indexrelid::regclass::text,
                        bool_or(a.attname = 'tenant_id')
                 FROM pg_index i
                 JOIN pg_attribute a ON a.attrelid = i.indrelid AND a.attnum = ANY(i.indkey)
                 WHERE i.indrelid = $1::text::regclass AND (i.indisunique OR i.indisprimary)
                 GROUP BY 1",
                &[&name],
            )
            .await
            .unwrap();
        for u in uniques {
            let (index, has_tenant): (String, bool) = (u.get(0), u.get(1));
            assert!(has_tenant, "{name}: unique index {index} lacks tenant_id");
        }
        let kind: String = t.get(1);
        if kind == "p" {
            let key_has_partition_column: bool = db
                .query_one(
                    "SELECT bool_and(pa.attnum = ANY(i.indkey))
                     FROM pg_partitioned_table p
                     JOIN pg_index i ON i.indrelid = p.partrelid AND i.indisprimary
                     JOIN pg_attribute pa ON pa.attrelid = p.partrelid
                          AND pa.attnum = ANY(p.partattrs::int2[])
                     WHERE p.partrelid = $1::text::regclass",
                    &[&name],
                )
                .await
                .unwrap()
                .get(0);
            assert!(
                key_has_partition_column,
                "{name}: the primary key must include the partition column"
            );
        }
    }
    assert!(
        tenant_tables >= 10,
        "only {tenant_tables} tenant tables found"
    );
    let foreign_keys: i64 = db
        .query_one(
            "SELECT count(*) FROM pg_constraint c
             JOIN pg_namespace n ON n.oid = c.connamespace
             WHERE n.nspname = 'public' AND c.contype = 'f'",
            &[],
        )
        .await
        .unwrap()
        .get(0);
    assert_eq!(foreign_keys, 0, "foreign keys between tables");
}

#[tokio::test]
async fn the_history_is_partitioned_by_time() {
    let Some(db) = catalog().await else {
        eprintln!("skipped: no PostgreSQL (set JUMEAU_TEST_POSTGRES, see .ci/postgres)");
        return;
    };
    let strategy: String = db
        .query_one(
            "SELECT partstrat::text FROM pg_partitioned_table
             WHERE partrelid = 'history_raw'::regclass",
            &[],
        )
        .await
        .unwrap()
        .get(0);
    assert_eq!(strategy, "r", "history_raw is partitioned by range");
    let partitions: i64 = db
        .query_one(
            "SELECT count(*) FROM pg_inherits WHERE inhparent = 'history_raw'::regclass",
            &[],
        )
        .await
        .unwrap()
        .get(0);
    assert!(
        partitions >= 2,
        "partitions are created ahead ({partitions})"
    );
}
