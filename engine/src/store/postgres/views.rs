//! Filling in the payload views of rows without one (see [`crate::issue::PayloadView`] and
//! migration V4): rows from before the column existed, rows an older `convene` wrote beside a
//! newer one, and every row when the view format changed. A column derived from the hashed
//! ones, filled in at start (`derived.rs`).

use super::derived::Derived;
use super::pg_error;
use crate::issue::{PayloadView, VIEW_FORMAT};
use crate::store::StoreError;
use tokio_postgres::Client;

const VIEWS: Derived = Derived {
    column: "payload_view",
    from: "type, schema_version, data",
    filling: "填写载荷视图 / filling in payload views of older rows",
    make: view_of_row,
};

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
    VIEWS.fill_in(client).await
}

/// The view of a row read as `position, <VIEWS.from>`.
fn view_of_row(r: &tokio_postgres::Row, view: &mut Vec<u8>) -> Result<(), StoreError> {
    let event_type: &str = r.try_get(1).map_err(pg_error)?;
    let schema_version: i32 = r.try_get(2).map_err(pg_error)?;
    let data: &str = r.try_get(3).map_err(pg_error)?;
    PayloadView::stored_form(event_type, schema_version as u32, data, view);
    Ok(())
}
