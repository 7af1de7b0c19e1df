//! Test instrumentation, attached only by `DynamoStore::recorded`: which DynamoDB operations a
//! request issued (the round-trip tests) and which of them overlapped on the wire (the tests
//! proving that a rate-limit counter runs beside a read). Production stores carry none of it.

use aws_smithy_runtime_api::box_error::BoxError;
use aws_smithy_runtime_api::client::interceptors::context::{
    BeforeSerializationInterceptorContextRef, BeforeTransmitInterceptorContextRef,
    FinalizerInterceptorContextRef,
};
use aws_smithy_runtime_api::client::interceptors::Intercept;
use aws_smithy_runtime_api::client::runtime_components::RuntimeComponents;
use aws_smithy_types::config_bag::{ConfigBag, Storable, StoreReplace};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};

/// Counts operations (not retries), remembers their names, and records overlapping pairs.
#[derive(Debug, Clone, Default)]
pub struct Recorder {
    calls: Arc<AtomicU64>,
    ops: Arc<Mutex<Vec<String>>>,
    on_wire: Arc<Mutex<Vec<String>>>,
    overlaps: Arc<Mutex<Vec<(String, String)>>>,
    sent: Arc<Mutex<Vec<Sent>>>,
}

/// One request as it went on the wire: operation name, headers and body. A test can deliver it
/// again, as a stalled attempt reaching DynamoDB after its retry would be.
#[derive(Debug, Clone)]
pub struct Sent {
    pub operation: String,
    pub headers: Vec<(String, String)>,
    pub body: Vec<u8>,
}

impl Recorder {
    /// DynamoDB operations issued so far.
    pub fn calls(&self) -> u64 {
        self.calls.load(Ordering::Relaxed)
    }

    /// Names of the operations since the last call (`GetItem`, `TransactWriteItems`, …).
    pub fn take_ops(&self) -> Vec<String> {
        self.ops
            .lock()
            .map(|mut l| std::mem::take(&mut *l))
            .unwrap_or_default()
    }

    /// The requests sent since the last call, in order (attempts, not operations).
    pub fn take_sent(&self) -> Vec<Sent> {
        self.sent
            .lock()
            .map(|mut l| std::mem::take(&mut *l))
            .unwrap_or_default()
    }

    /// Pairs `(started, already on the wire)` of operations that overlapped since the last call.
    pub fn take_overlaps(&self) -> Vec<(String, String)> {
        self.overlaps
            .lock()
            .map(|mut o| std::mem::take(&mut *o))
            .unwrap_or_default()
    }
}

/// The operation an attempt put on the wire, kept in the attempt's config bag: the finaliser that
/// takes it off again no longer sees the request (it was consumed by the send).
#[derive(Debug, Clone)]
struct OnWire(String);

impl Storable for OnWire {
    type Storer = StoreReplace<Self>;
}

/// `X-Amz-Target: DynamoDB_20120810.GetItem` names the operation.
fn target_name(headers: &aws_smithy_runtime_api::http::Headers) -> String {
    headers
        .get("x-amz-target")
        .and_then(|t| t.rsplit('.').next())
        .unwrap_or_default()
        .to_owned()
}

impl Intercept for Recorder {
    fn name(&self) -> &'static str {
        "Recorder"
    }

    fn read_before_execution(
        &self,
        _context: &BeforeSerializationInterceptorContextRef<'_>,
        _cfg: &mut ConfigBag,
    ) -> Result<(), BoxError> {
        self.calls.fetch_add(1, Ordering::Relaxed);
        Ok(())
    }

    fn read_before_transmit(
        &self,
        context: &BeforeTransmitInterceptorContextRef<'_>,
        _runtime_components: &RuntimeComponents,
        cfg: &mut ConfigBag,
    ) -> Result<(), BoxError> {
        let name = target_name(context.request().headers());
        cfg.interceptor_state().store_put(OnWire(name.clone()));
        if let (Ok(mut now), Ok(mut overlaps)) = (self.on_wire.lock(), self.overlaps.lock()) {
            for other in now.iter() {
                overlaps.push((name.clone(), other.clone()));
            }
            now.push(name.clone());
        }
        if let Ok(mut sent) = self.sent.lock() {
            if sent.len() >= 1024 {
                sent.clear();
            }
            let req = context.request();
            sent.push(Sent {
                operation: name.clone(),
                headers: req
                    .headers()
                    .iter()
                    .map(|(k, v)| (k.to_owned(), v.to_owned()))
                    .collect(),
                body: req.body().bytes().unwrap_or_default().to_vec(),
            });
        }
        if let Ok(mut log) = self.ops.lock() {
            // Bounded: a long-running server keeps only the recent operations.
            if log.len() >= 1024 {
                log.clear();
            }
            log.push(name);
        }
        Ok(())
    }

    fn read_after_attempt(
        &self,
        _context: &FinalizerInterceptorContextRef<'_>,
        _runtime_components: &RuntimeComponents,
        cfg: &mut ConfigBag,
    ) -> Result<(), BoxError> {
        if let (Some(OnWire(name)), Ok(mut now)) = (cfg.load::<OnWire>(), self.on_wire.lock()) {
            if let Some(i) = now.iter().position(|n| n == name) {
                now.remove(i);
            }
        }
        Ok(())
    }
}
