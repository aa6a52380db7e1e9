//! Data connections: where jobs may read and write. `local` directories within
//! the file roots; `postgres` servers and `s3` buckets within the hosts the
//! operator allowed, their credentials named secrets the caller may use.
use std::path::Path as FsPath;
use std::sync::Arc;

use axum::extract::{Path, State};
use axum::{Extension, Json};
use prism_auth::{Action, Entity, Permission};
use prism_bus::subjects::{ConfigEntity, ConfigOp};
use prism_connections::{FailureKind, LOCAL, POSTGRES, S3, postgres, probe};
use prism_schemas::v1::{ConnectionRecord, PostgresSpec, S3Spec, SecretRecord};
use prism_store::records::{now_ms, secrets};
use serde_json::json;

use crate::auth::Caller;
use crate::bodies::{self, ConnectionSpec, SecretRef};
use crate::catalog::{self, Change, Draft, Saved};
use crate::error::{ApiError, ApiResult};
use crate::input::{self, Typed};
use crate::state::AppState;

/// The most sessions one job may open to one PostgreSQL connection.
const MAX_POOL: u32 = 64;
const MAX_FIELD_BYTES: usize = 1024;

/// Creates or replaces a connection.
pub async fn put(
    State(state): State<Arc<AppState>>,
    Extension(caller): Extension<Caller>,
    Path(name): Path<String>,
    Typed(spec): Typed<ConnectionSpec>,
) -> ApiResult<Saved<ConnectionRecord>> {
    input::check_name("name", &name)?;
    input::non_empty("kind", &spec.kind)?;
    let checked = check(&state, &spec)?;
    for secret in checked.secret_names() {
        // Binding a secret lets whoever runs the connection use it: the caller
        // must be allowed to use the secret, not only to edit the connection.
        caller
            .require(
                &state,
                Permission::on(Action::Execute, Entity::Secrets, secret),
            )
            .await?;
    }
    let checked = &checked;
    catalog::save(
        &state,
        caller.name(),
        &name,
        ConfigOp::Put,
        |tx, existing: Option<ConnectionRecord>| {
            let name = name.clone();
            async move {
                for (field, secret) in secret_fields(checked) {
                    if secrets::get(&tx, secret).await?.is_none() {
                        let message = format!(
                            "no secret named {secret:?}: set it first with PUT /v1/secrets/{secret}"
                        );
                        return Ok(Err(ApiError::invalid(field, message)));
                    }
                }
                let now = now_ms();
                Ok(Ok(Draft::of(ConnectionRecord {
                    created_at_ms: existing.as_ref().map_or(now, |e| e.created_at_ms),
                    name,
                    updated_at_ms: now,
                    ..checked.clone()
                })))
            }
        },
    )
    .await
}

/// The record a valid spec makes (without name and times), or a 400 naming the
/// first field at fault.
fn check(state: &AppState, spec: &ConnectionSpec) -> ApiResult<ConnectionRecord> {
    match spec.kind.as_str() {
        LOCAL => check_local(state, spec),
        POSTGRES => check_postgres(state, spec),
        S3 => check_s3(state, spec),
        _ => Err(ApiError::invalid(
            "kind",
            "supported kinds: \"local\", \"postgres\", \"s3\"",
        )),
    }
}

fn check_local(state: &AppState, spec: &ConnectionSpec) -> ApiResult<ConnectionRecord> {
    only_fields(spec, &["root"])?;
    let root = required("root", &spec.root)?;
    prism_dataflow::paths::within_roots(&state.file_roots, FsPath::new(root))
        .map_err(|e| ApiError::invalid("root", e.to_string()))?;
    Ok(ConnectionRecord {
        kind: LOCAL.into(),
        root: root.to_string(),
        ..Default::default()
    })
}

fn check_postgres(state: &AppState, spec: &ConnectionSpec) -> ApiResult<ConnectionRecord> {
    only_fields(
        spec,
        &[
            "host", "port", "database", "user", "password", "sslmode", "pool",
        ],
    )?;
    let host = required("host", &spec.host)?;
    reachable(state, "host", host)?;
    let port = spec.port.unwrap_or(5432);
    if !(1..=65535).contains(&port) {
        return Err(ApiError::invalid("port", "1 to 65535"));
    }
    let sslmode = spec.sslmode.clone().unwrap_or_else(|| "prefer".into());
    if !postgres::SSL_MODES.contains(&sslmode.as_str()) {
        let message = "\"disable\", \"prefer\" or \"require\"";
        return Err(ApiError::invalid("sslmode", message));
    }
    let pool_max = spec.pool.as_ref().map_or(4, |p| p.max);
    if !(1..=MAX_POOL).contains(&pool_max) {
        return Err(ApiError::invalid("pool.max", format!("1 to {MAX_POOL}")));
    }
    Ok(ConnectionRecord {
        kind: POSTGRES.into(),
        postgres: Some(PostgresSpec {
            host: host.to_string(),
            port,
            database: required("database", &spec.database)?.to_string(),
            user: required("user", &spec.user)?.to_string(),
            password_secret: secret_ref("password", &spec.password)?,
            sslmode,
            pool_max,
        }),
        ..Default::default()
    })
}

fn check_s3(state: &AppState, spec: &ConnectionSpec) -> ApiResult<ConnectionRecord> {
    only_fields(
        spec,
        &[
            "endpoint",
            "region",
            "bucket",
            "prefix",
            "access_key_id",
            "secret_access_key",
            "path_style",
            "allow_http",
        ],
    )?;
    let allow_http = spec.allow_http.unwrap_or(false);
    let endpoint = spec.endpoint.clone().unwrap_or_default();
    if !endpoint.is_empty() {
        check_endpoint(&endpoint, allow_http)?;
    }
    let bucket = required("bucket", &spec.bucket)?;
    let valid_bucket = (3..=63).contains(&bucket.len())
        && bucket
            .bytes()
            .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-' || b == b'.');
    if !valid_bucket {
        let message = "an S3 bucket name: 3 to 63 lowercase letters, digits, '-' and '.'";
        return Err(ApiError::invalid("bucket", message));
    }
    let prefix = spec.prefix.clone().unwrap_or_default();
    if prefix.starts_with('/') || prefix.split('/').any(|part| part == ".." || part == ".") {
        let message = "a relative key prefix without '.' or '..' parts";
        return Err(ApiError::invalid("prefix", message));
    }
    let record = S3Spec {
        endpoint,
        region: required("region", &spec.region)?.to_string(),
        bucket: bucket.to_string(),
        prefix: prefix.trim_end_matches('/').to_string(),
        access_key_id_secret: secret_ref("access_key_id", &spec.access_key_id)?,
        secret_access_key_secret: secret_ref("secret_access_key", &spec.secret_access_key)?,
        path_style: spec.path_style.unwrap_or(false),
        allow_http,
    };
    let (host, _) = prism_connections::s3::endpoint_host(&record)
        .map_err(|e| ApiError::invalid("endpoint", e.detail))?;
    let field = if record.endpoint.is_empty() {
        "region"
    } else {
        "endpoint"
    };
    reachable(state, field, &host)?;
    Ok(ConnectionRecord {
        kind: S3.into(),
        s3: Some(record),
        ..Default::default()
    })
}

fn required<'a>(field: &str, value: &'a Option<String>) -> ApiResult<&'a str> {
    match value.as_deref().map(str::trim) {
        Some(v) if !v.is_empty() && v.len() <= MAX_FIELD_BYTES => Ok(v),
        _ => Err(ApiError::invalid(
            field,
            format!("required: 1 to {MAX_FIELD_BYTES} bytes"),
        )),
    }
}

fn secret_ref(field: &str, value: &Option<SecretRef>) -> ApiResult<String> {
    let Some(reference) = value else {
        return Err(ApiError::invalid(
            field,
            "required: {\"secret\": \"<name>\"}",
        ));
    };
    input::check_name(&format!("{field}.secret"), &reference.secret)?;
    Ok(reference.secret.clone())
}

fn reachable(state: &AppState, field: &str, host: &str) -> ApiResult<()> {
    state
        .connection_hosts
        .check_host(host)
        .map_err(|e| ApiError::invalid(field, e.to_string()))
}

fn check_endpoint(endpoint: &str, allow_http: bool) -> ApiResult<()> {
    let url =
        url::Url::parse(endpoint).map_err(|e| ApiError::invalid("endpoint", e.to_string()))?;
    match url.scheme() {
        "https" => Ok(()),
        "http" if allow_http => Ok(()),
        "http" => Err(ApiError::invalid(
            "endpoint",
            "http:// needs \"allow_http\": true",
        )),
        _ => Err(ApiError::invalid("endpoint", "an http:// or https:// URL")),
    }
}

/// A field given that the kind does not take is refused, so a typo never passes
/// for a setting.
fn only_fields(spec: &ConnectionSpec, allowed: &[&str]) -> ApiResult<()> {
    let given = [
        ("root", spec.root.is_some()),
        ("host", spec.host.is_some()),
        ("port", spec.port.is_some()),
        ("database", spec.database.is_some()),
        ("user", spec.user.is_some()),
        ("password", spec.password.is_some()),
        ("sslmode", spec.sslmode.is_some()),
        ("pool", spec.pool.is_some()),
        ("endpoint", spec.endpoint.is_some()),
        ("region", spec.region.is_some()),
        ("bucket", spec.bucket.is_some()),
        ("prefix", spec.prefix.is_some()),
        ("access_key_id", spec.access_key_id.is_some()),
        ("secret_access_key", spec.secret_access_key.is_some()),
        ("path_style", spec.path_style.is_some()),
        ("allow_http", spec.allow_http.is_some()),
    ];
    match given
        .iter()
        .find(|(field, set)| *set && !allowed.contains(field))
    {
        Some((field, _)) => Err(ApiError::invalid(
            field,
            format!("a {} connection does not take {field:?}", spec.kind),
        )),
        None => Ok(()),
    }
}

/// Each secret a connection names, with the request field that names it.
fn secret_fields(record: &ConnectionRecord) -> Vec<(&'static str, &str)> {
    let mut fields = Vec::new();
    if let Some(pg) = &record.postgres {
        fields.push(("password", pg.password_secret.as_str()));
    }
    if let Some(s3) = &record.s3 {
        fields.push(("access_key_id", s3.access_key_id_secret.as_str()));
        fields.push(("secret_access_key", s3.secret_access_key_secret.as_str()));
    }
    fields
}

/// Tries a connection: a session and `SELECT 1`, or a listing of the bucket's
/// prefix; at most 15 s. Audited, with what it found.
pub async fn test(
    State(state): State<Arc<AppState>>,
    Extension(caller): Extension<Caller>,
    Path(name): Path<String>,
) -> ApiResult<Json<bodies::ConnectionTest>> {
    let connection: ConnectionRecord = catalog::read(&state, &name).await?;
    let answer = match try_connection(&state, &connection).await? {
        Ok(probed) => bodies::ConnectionTest {
            ok: probed.result.is_ok(),
            error: probed
                .result
                .as_ref()
                .err()
                .map(|f| f.kind.name().to_string()),
            message: probed
                .result
                .as_ref()
                .err()
                .map(|f| prism_errors::bounded(&f.detail)),
            latency_ms: probed.latency_ms,
        },
        Err(missing) => bodies::ConnectionTest {
            ok: false,
            error: Some("secret_missing".into()),
            message: Some(missing),
            latency_ms: 0,
        },
    };
    let details = json!({"ok": answer.ok, "error": answer.error, "latency_ms": answer.latency_ms});
    let change = Change::new(
        caller.name(),
        ConfigEntity::Connection,
        ConfigOp::Test,
        &name,
        details,
    );
    let staged = state.stage_alone(&change).await?;
    state.announce(&staged).await;
    Ok(Json(answer))
}

/// The probe's result, or why the connection's secrets could not be opened.
async fn try_connection(
    state: &AppState,
    connection: &ConnectionRecord,
) -> ApiResult<Result<probe::Probed, String>> {
    let reach = &state.connection_hosts;
    let names = connection.secret_names();
    let mut opened = Vec::new();
    for name in &names {
        let record = state
            .store
            .transact(|tx| async move { secrets::get(&tx, name).await })
            .await?;
        let Some(SecretRecord {
            sealed: Some(sealed),
            ..
        }) = record
        else {
            return Ok(Err(format!("no secret named {name:?}")));
        };
        let value = prism_secrets::open(state.keyring()?, &sealed)
            .map_err(|e| ApiError::internal(e.to_string()))?;
        opened.push(value);
    }
    let value = |i: usize| opened.get(i).map_or("", |o| o.value());
    Ok(Ok(match (&connection.postgres, &connection.s3) {
        (Some(pg), _) => probe::postgres(pg, value(0), reach).await,
        (_, Some(s3)) => probe::s3(s3, value(0), value(1), reach).await,
        _ => {
            let root = FsPath::new(&connection.root);
            let found = prism_dataflow::paths::within_roots(&state.file_roots, root)
                .map_err(|e| prism_connections::Failure::new(FailureKind::Forbidden, e.to_string()))
                .and_then(|()| {
                    root.is_dir().then_some(()).ok_or_else(|| {
                        prism_connections::Failure::new(FailureKind::NotFound, "no such directory")
                    })
                });
            probe::Probed {
                result: found,
                latency_ms: 0,
            }
        }
    }))
}
