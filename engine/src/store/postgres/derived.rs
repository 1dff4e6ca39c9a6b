//! Columns of `convene_events` made from the columns the hash chain covers: the fold envelope
//! (`envelope.rs`, migration V3) and the payload view (`views.rs`, V4). Rows written before
//! such a column existed, or by an older `convene` beside a newer one, lack a value; this is
//! the one mechanism both use to fill them in at start, under the migration lock (so two
//! instances starting together do not both fill). The partial index over the rows without
//! one keeps the check cheap when there are none (the normal case).

use super::pg_error;
use crate::store::StoreError;
use tokio_postgres::Client;

/// Rows filled in per transaction.
const FILL_BATCH: i64 = 10_000;

/// A derived column and how its value is made.
pub(super) struct Derived {
    /// The column (bytea).
    pub column: &'static str,
    /// The columns its value is made from, read after `position`.
    pub from: &'static str,
    /// What the log says while filling in (zh-CN / English).
    pub filling: &'static str,
    /// Makes the value of a row read as `position, <from>` into the (empty) buffer.
    pub make: fn(&tokio_postgres::Row, &mut Vec<u8>) -> Result<(), StoreError>,
}

impl Derived {
    /// Fills in every row without a value; returns how many.
    pub(super) async fn fill_in(&self, client: &mut Client) -> Result<u64, StoreError> {
        let c = self.column;
        let select =
            format!("SELECT position, {} FROM convene_events WHERE {c} IS NULL ORDER BY position LIMIT $1", self.from);
        let update = format!(
            "UPDATE convene_events e SET {c} = u.value \
             FROM unnest($1::bigint[], $2::bytea[]) AS u(position, value) WHERE e.position = u.position"
        );
        let mut filled = 0u64;
        loop {
            let tx = client.transaction().await.map_err(pg_error)?;
            let rows = tx.query(&select, &[&FILL_BATCH]).await.map_err(pg_error)?;
            if rows.is_empty() {
                return Ok(filled);
            }
            let mut positions = Vec::with_capacity(rows.len());
            let mut values = Vec::with_capacity(rows.len());
            for r in &rows {
                positions.push(r.try_get::<_, i64>(0).map_err(pg_error)?);
                let mut value = Vec::new();
                (self.make)(r, &mut value)?;
                values.push(value);
            }
            tx.execute(&update, &[&positions, &values]).await.map_err(pg_error)?;
            tx.commit().await.map_err(pg_error)?;
            filled += rows.len() as u64;
            tracing::info!(filled, column = c, "{}", self.filling);
        }
    }
}
