//! Buckets on S3: the public status bucket and the private state bucket.

use async_trait::async_trait;
use aws_sdk_s3::Client;
use aws_sdk_s3::primitives::ByteStream;
use aws_sdk_s3::types::{Delete, ObjectIdentifier};
use bytes::Bytes;

use super::classify;
use openmic_core::errors::BackendError;
use openmic_core::ports::{Condition, Object, ObjectStore, PutOptions, check_key};

/// S3 deletes at most this many keys per request.
const DELETE_BATCH: usize = 1000;

#[derive(Clone)]
pub struct S3Store {
    client: Client,
    bucket: String,
}

impl S3Store {
    /// One PutObject: the body streamed, its type, cache lifetime and condition.
    async fn put_stream(
        &self,
        key: &str,
        body: ByteStream,
        opts: PutOptions,
    ) -> Result<String, BackendError> {
        check_key(key)?;
        let mut req = self
            .client
            .put_object()
            .bucket(&self.bucket)
            .key(key)
            .content_type(opts.content_type)
            .body(body);
        if let Some(cc) = opts.cache_control {
            req = req.cache_control(cc);
        }
        req = match opts.condition {
            Condition::Always => req,
            Condition::IfMatch(etag) => req.if_match(etag),
            Condition::IfNoneMatch => req.if_none_match("*"),
        };
        let out = req
            .send()
            .await
            .map_err(|e| classify(&format!("put s3://{}/{key}", self.bucket), e))?;
        Ok(out.e_tag().unwrap_or_default().to_owned())
    }

    pub fn new(client: Client, bucket: impl Into<String>) -> Self {
        S3Store {
            client,
            bucket: bucket.into(),
        }
    }

    /// Checks that the bucket exists and is reachable; the error names `variable`.
    pub async fn check(&self, variable: &str) -> Result<(), String> {
        self.client
            .head_bucket()
            .bucket(&self.bucket)
            .send()
            .await
            .map(|_| ())
            .map_err(|e| {
                let status = e.raw_response().map(|r| r.status().as_u16());
                match status {
                    Some(404) => format!("{variable}: bucket {:?} does not exist", self.bucket),
                    Some(403) => format!(
                        "{variable}: bucket {:?} is not accessible with these credentials",
                        self.bucket
                    ),
                    _ => format!(
                        "{variable}: bucket {:?} cannot be reached: {}",
                        self.bucket,
                        classify("head bucket", e)
                    ),
                }
            })
    }
}

#[async_trait]
impl ObjectStore for S3Store {
    async fn get(&self, key: &str) -> Result<Option<Object>, BackendError> {
        check_key(key)?;
        let out = match self
            .client
            .get_object()
            .bucket(&self.bucket)
            .key(key)
            .send()
            .await
        {
            Ok(o) => o,
            Err(e) if e.as_service_error().is_some_and(|s| s.is_no_such_key()) => return Ok(None),
            Err(e)
                if e.raw_response().is_some_and(|r| r.status().as_u16() == 404)
                    && aws_sdk_s3::error::ProvideErrorMetadata::code(&e)
                        != Some("NoSuchBucket") =>
            {
                return Ok(None);
            }
            Err(e) => return Err(classify(&format!("get s3://{}/{key}", self.bucket), e)),
        };
        let etag = out.e_tag().unwrap_or_default().to_owned();
        let content_type = out.content_type().map(str::to_owned);
        let body = out
            .body
            .collect()
            .await
            .map_err(|e| BackendError::Transient(format!("read s3://{}/{key}: {e}", self.bucket)))?
            .into_bytes();
        Ok(Some(Object {
            body,
            etag,
            content_type,
        }))
    }

    async fn put(&self, key: &str, body: Bytes, opts: PutOptions) -> Result<String, BackendError> {
        self.put_stream(key, body.into(), opts).await
    }

    async fn put_file(
        &self,
        key: &str,
        path: &std::path::Path,
        opts: PutOptions,
    ) -> Result<String, BackendError> {
        let body = ByteStream::from_path(path)
            .await
            .map_err(|e| BackendError::Transient(format!("read {}: {e}", path.display())))?;
        self.put_stream(key, body, opts).await
    }

    async fn delete(&self, key: &str) -> Result<(), BackendError> {
        check_key(key)?;
        self.client
            .delete_object()
            .bucket(&self.bucket)
            .key(key)
            .send()
            .await
            .map(|_| ())
            .map_err(|e| classify(&format!("delete s3://{}/{key}", self.bucket), e))
    }

    async fn list(&self, prefix: &str) -> Result<Vec<String>, BackendError> {
        let mut keys = Vec::new();
        let mut pages = self
            .client
            .list_objects_v2()
            .bucket(&self.bucket)
            .prefix(prefix)
            .into_paginator()
            .send();
        while let Some(page) = pages.next().await {
            let page =
                page.map_err(|e| classify(&format!("list s3://{}/{prefix}", self.bucket), e))?;
            keys.extend(
                page.contents()
                    .iter()
                    .filter_map(|o| o.key().map(str::to_owned)),
            );
        }
        keys.sort();
        Ok(keys)
    }

    async fn delete_prefix(&self, prefix: &str) -> Result<usize, BackendError> {
        let keys = self.list(prefix).await?;
        for batch in keys.chunks(DELETE_BATCH) {
            let objects = batch
                .iter()
                .map(|k| ObjectIdentifier::builder().key(k).build())
                .collect::<Result<Vec<_>, _>>()
                .map_err(|e| BackendError::Permanent(format!("delete batch: {e}")))?;
            let delete = Delete::builder()
                .set_objects(Some(objects))
                .quiet(true)
                .build()
                .map_err(|e| BackendError::Permanent(format!("delete batch: {e}")))?;
            let out = self
                .client
                .delete_objects()
                .bucket(&self.bucket)
                .delete(delete)
                .send()
                .await
                .map_err(|e| classify(&format!("delete s3://{}/{prefix}*", self.bucket), e))?;
            if let Some(err) = out.errors().first() {
                return Err(BackendError::Transient(format!(
                    "delete s3://{}/{}: {}",
                    self.bucket,
                    err.key().unwrap_or(""),
                    err.message().unwrap_or("failed")
                )));
            }
        }
        Ok(keys.len())
    }
}
