//! An S3-compatible bucket as an `object_store` store, the crate DataFusion reads
//! and writes objects with.
use std::sync::Arc;

use object_store::ObjectStore;
use object_store::aws::AmazonS3Builder;
use prism_schemas::v1::S3Spec;

use crate::reach::Reach;
use crate::{Failure, FailureKind};

/// The store for `spec`'s bucket, its endpoint checked against the reach list
/// first (the addresses too).
pub async fn store(
    spec: &S3Spec,
    access_key_id: &str,
    secret_access_key: &str,
    reach: &Reach,
) -> Result<Arc<dyn ObjectStore>, Failure> {
    let (host, port) = endpoint_host(spec)?;
    crate::resolve_checked(&host, port, reach).await?;
    let mut builder = AmazonS3Builder::new()
        .with_region(&spec.region)
        .with_bucket_name(&spec.bucket)
        .with_access_key_id(access_key_id)
        .with_secret_access_key(secret_access_key)
        .with_allow_http(spec.allow_http)
        .with_virtual_hosted_style_request(!spec.path_style);
    if !spec.endpoint.is_empty() {
        builder = builder.with_endpoint(&spec.endpoint);
    }
    let store = builder
        .build()
        .map_err(|e| Failure::new(FailureKind::Error, e.to_string()))?;
    Ok(Arc::new(store))
}

/// The host and port the connection reaches: its endpoint's, or AWS's for the
/// region.
pub fn endpoint_host(spec: &S3Spec) -> Result<(String, u16), Failure> {
    if spec.endpoint.is_empty() {
        return Ok((format!("s3.{}.amazonaws.com", spec.region), 443));
    }
    let url = url::Url::parse(&spec.endpoint)
        .map_err(|e| Failure::new(FailureKind::Error, format!("endpoint: {e}")))?;
    let host = url
        .host_str()
        .ok_or_else(|| Failure::new(FailureKind::Error, "endpoint: no host"))?;
    let port = url.port_or_known_default().unwrap_or(443);
    Ok((host.to_string(), port))
}

/// What an `object_store` error means to the probe.
pub fn classify(error: &object_store::Error) -> Failure {
    let kind = match error {
        object_store::Error::Unauthenticated { .. }
        | object_store::Error::PermissionDenied { .. } => FailureKind::AuthFailed,
        object_store::Error::NotFound { .. } => FailureKind::NotFound,
        other => {
            let text = other.to_string();
            if text.contains("403")
                || text.contains("InvalidAccessKeyId")
                || text.contains("SignatureDoesNotMatch")
            {
                FailureKind::AuthFailed
            } else if text.contains("NoSuchBucket") || text.contains("404") {
                FailureKind::NotFound
            } else if text.contains("certificate") || text.contains("tls") {
                FailureKind::Tls
            } else if text.contains("connect") || text.contains("dns") || text.contains("timed out")
            {
                FailureKind::Unreachable
            } else {
                FailureKind::Error
            }
        }
    };
    Failure::new(kind, error.to_string())
}
