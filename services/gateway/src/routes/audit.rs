use std::collections::HashMap;
use std::sync::Arc;

use axum::Json;
use axum::extract::{Query, State};
use prism_store::records::{audit, dead_letters};
use serde_json::Value;

use crate::bodies;
use crate::error::{ApiError, ApiResult};
use crate::input;
use crate::state::AppState;

/// Entries oldest first, `cursor` the `seq` of the last entry already seen; or with
/// `newest=true` newest first, `cursor` the `seq` of the oldest entry seen.
pub async fn list(
    State(state): State<Arc<AppState>>,
    Query(query): Query<HashMap<String, String>>,
) -> ApiResult<Json<bodies::AuditPage>> {
    input::reject_unknown_query(&query, &["limit", "cursor", "newest"])?;
    let newest = match query.get("newest").map(String::as_str) {
        None | Some("false") => false,
        Some("true") => true,
        Some(_) => return Err(ApiError::invalid("newest", "true or false")),
    };
    let limit = input::limit(query.get("limit"))?;
    let cursor = query.get("cursor").cloned();
    if cursor.as_deref().is_some_and(|c| !audit::is_valid_seq(c)) {
        return Err(ApiError::invalid(
            "cursor",
            "the seq of an audit entry (24 hex digits)",
        ));
    }
    let entries = state
        .store
        .transact(|tx| {
            let cursor = cursor.clone();
            async move {
                if newest {
                    audit::list_newest(&tx, cursor.as_deref(), limit).await
                } else {
                    audit::list(&tx, cursor.as_deref(), limit).await
                }
            }
        })
        .await?;
    let next_cursor = (entries.len() == limit)
        .then(|| entries.last().map(|e| e.seq.clone()))
        .flatten();
    let entries = entries
        .into_iter()
        .map(|entry| bodies::AuditEntry {
            // The details are the change's own document, whatever its entity.
            details: serde_json::from_str(&entry.record.details_json).unwrap_or(Value::Null),
            time: input::time_text(entry.record.time_ms),
            seq: entry.seq,
            actor: entry.record.actor,
            action: entry.record.action,
            target: entry.record.target,
            event_id: entry.record.event_id,
        })
        .collect();
    Ok(Json(bodies::AuditPage {
        entries,
        next_cursor,
    }))
}

/// Events the audit service could never record, newest first.
pub async fn dead_letters(
    State(state): State<Arc<AppState>>,
    Query(query): Query<HashMap<String, String>>,
) -> ApiResult<Json<bodies::DeadLetters>> {
    input::reject_unknown_query(&query, &["limit"])?;
    let limit = input::limit(query.get("limit"))?;
    let letters = state
        .store
        .transact(|tx| async move { dead_letters::list(&tx, limit).await })
        .await?;
    let dead_letters = letters
        .into_iter()
        .map(|(seq, letter)| bodies::DeadLetter {
            seq,
            time: input::time_text(letter.time_ms),
            job_id: (!letter.job_id.is_empty()).then_some(letter.job_id),
            subject: letter.subject,
            stream_sequence: letter.stream_sequence,
            message_type: letter.message_type,
            error: letter.error,
            payload_bytes: letter.payload_bytes,
        })
        .collect();
    Ok(Json(bodies::DeadLetters { dead_letters }))
}
