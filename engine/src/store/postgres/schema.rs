//! Schema migrations, run at start through refinery.
//!
//! refinery keeps the applied versions (and their checksums) in `convene_schema_history`, refuses
//! a database whose applied migrations diverge from the ones compiled in, and runs each new
//! migration in a transaction. It does not coordinate two processes migrating at once, so the
//! run is wrapped in a session advisory lock: a second instance starting beside the first waits,
//! then finds nothing left to do.

use super::pg_error;
use crate::store::StoreError;
use tokio_postgres::Client;

refinery::embed_migrations!("src/store/postgres/migrations");

/// History table of the applied migrations (in the store's schema).
const HISTORY_TABLE: &str = "convene_schema_history";

/// Advisory-lock key of the migration run (in the `convene` lock space, see `lease/postgres.rs`).
const MIGRATION_LOCK: i64 = 0x636f_6e76_656e_0001;

/// Brings the schema on `client`'s search path up to date. Returns the migrations applied now.
pub(super) async fn migrate(client: &mut Client) -> Result<Vec<String>, StoreError> {
    client.execute("SELECT pg_advisory_lock($1)", &[&MIGRATION_LOCK]).await.map_err(pg_error)?;
    let report = migrations::runner().set_migration_table_name(HISTORY_TABLE).run_async(client).await;
    // Under the same lock: rows without a fold envelope (see `envelope.rs`) or a payload view
    // (`views.rs`).
    let filled = match &report {
        Ok(_) => match super::envelope::ENVELOPE.fill_in(client).await {
            Ok(n) => super::views::fill(client).await.map(|v| Some(n + v)),
            Err(e) => Err(e),
        },
        Err(_) => Ok(None),
    };
    // Unlock whatever happened; a failed unlock only matters until this connection closes.
    let _ = client.execute("SELECT pg_advisory_unlock($1)", &[&MIGRATION_LOCK]).await;
    let report = report.map_err(|e| StoreError::Backend(format!("schema migration failed: {e}")))?;
    filled?;
    Ok(report.applied_migrations().iter().map(|m| m.to_string()).collect())
}
