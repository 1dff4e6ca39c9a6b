//! Filling in the payload views of rows without one (see [`crate::issue::PayloadView`] and
//! migration V4): rows from before the column existed, rows an older `convene` wrote beside a
//! newer one, and every row when the view format changed. Run at start under the migration
//! lock, so two instances starting together do not both fill; the partial index over the rows
//! without one keeps the check cheap when there are none (the normal case).

use super::pg_error;
use crate::issue::{PayloadView, VIEW_FORMAT};
use crate::store::StoreError;
use tokio_postgres::Client;

/// Rows filled in per transaction.
const FILL_BATCH: i64 = 10_000;

/// The `convene_meta` key holding the format of the stored views.
const FORMAT_KEY: &str = "payload_view_format";

/// Forgets views of another format, then fills in every row without one; returns how many.
pub(super) async fn fill(client: &mut Client) -> Result<u64, StoreError> {
    let format = VIEW_FORMAT.to_string();
    let stored = client
        .query_opt("SELECT value FROM convene_meta WHERE key = $1", &[&FORMAT_KEY])
        .await
        .map_err(pg_error)?
        .map(|r| r.try_get::<_, String>(0))
        .transpose()
        .map_err(pg_error)?;
    if stored.as_deref() != Some(format.as_str()) {
        // Views of another format are never misread (each starts with its format byte), but
        // none would be used: forget them so the fill below writes this format's.
        let tx = client.transaction().await.map_err(pg_error)?;
        if stored.is_some() {
            let n = tx
                .execute("UPDATE convene_events SET payload_view = NULL WHERE payload_view IS NOT NULL", &[])
                .await
                .map_err(pg_error)?;
            tracing::info!(rows = n, from = stored, to = %format, "载荷视图格式变更 / payload view format changed");
        }
        tx.execute(
            "INSERT INTO convene_meta (key, value) VALUES ($1, $2) ON CONFLICT (key) DO UPDATE SET value = $2",
            &[&FORMAT_KEY, &format],
        )
        .await
        .map_err(pg_error)?;
        tx.commit().await.map_err(pg_error)?;
    }
    let mut filled = 0u64;
    loop {
        let tx = client.transaction().await.map_err(pg_error)?;
        let rows = tx
            .query(
                "SELECT position, type, schema_version, data FROM convene_events WHERE payload_view IS NULL \
                 ORDER BY position LIMIT $1",
                &[&FILL_BATCH],
            )
            .await
            .map_err(pg_error)?;
        if rows.is_empty() {
            return Ok(filled);
        }
        let mut positions = Vec::with_capacity(rows.len());
        let mut views = Vec::with_capacity(rows.len());
        for r in &rows {
            let position: i64 = r.try_get(0).map_err(pg_error)?;
            let event_type: &str = r.try_get(1).map_err(pg_error)?;
            let schema_version: i32 = r.try_get(2).map_err(pg_error)?;
            let data: &str = r.try_get(3).map_err(pg_error)?;
            let mut view = Vec::new();
            PayloadView::stored_form(event_type, schema_version as u32, data, &mut view);
            positions.push(position);
            views.push(view);
        }
        tx.execute(
            "UPDATE convene_events e SET payload_view = u.view \
             FROM unnest($1::bigint[], $2::bytea[]) AS u(position, view) WHERE e.position = u.position",
            &[&positions, &views],
        )
        .await
        .map_err(pg_error)?;
        tx.commit().await.map_err(pg_error)?;
        filled += rows.len() as u64;
        tracing::info!(filled, "填写载荷视图 / filling in payload views of older rows");
    }
}
