//! The SQLite side of [`crate::SubscriptionStore`].

use async_trait::async_trait;

use super::SqliteStore;
use crate::SubscriptionStore;

/// Tables of this module, applied by the schema migrations.
pub(super) const SCHEMA: &str = include_str!("subscriptions.sql");

#[async_trait]
impl SubscriptionStore for SqliteStore {}
