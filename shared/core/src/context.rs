//! What a domain call needs to know about its request, independent of HTTP: the app, who is
//! calling from where ([`Client`]), the request's time and language, and where to wait for the
//! rate-limit verdict ([`Gate`]), bundled as one [`Ctx`]. The edge layer (`api.rs`) fills it in;
//! the domain modules only read it.

use crate::app::App;
use crate::clock::Millis;
use crate::device::Device;
use crate::error::{Error, ErrorType, Result};

/// One domain call's context: every domain function takes this first.
pub struct Ctx<'c, 'a> {
    pub app: &'c App,
    pub client: &'c Client,
    /// The request's time: every expiry and window of the call is measured from it.
    pub now: Millis,
    /// The language of any message the call sends (`templates::resolve`).
    pub locale: &'static str,
    pub gate: Gate<'c, 'a>,
}

/// Who is calling from where.
#[derive(Debug, Clone)]
pub struct Client {
    pub ip: String,
    pub user_agent: String,
    pub device: Device,
    /// The request carries an API key: a server acting for its users, whose address is not a
    /// client's (exempt from per-address budgets, as from Appwrite's abuse limits).
    pub server: bool,
}

/// What a request learned about its limit: headers to send and whether it may proceed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Verdict {
    pub limit: u32,
    pub remaining: u32,
    pub reset: i64,
    pub allowed: bool,
    /// Counter keys (hashed), for reset-on-success.
    pub counters: Vec<String>,
}

/// The rate-limit verdict, computed once and awaited by whoever needs it.
pub type Admission<'a> =
    futures_util::future::Shared<futures_util::future::BoxFuture<'a, Result<Option<Verdict>>>>;

/// Where a domain function waits for the rate-limit verdict (429 if over the limit).
pub struct Gate<'g, 'a>(&'g Admission<'a>);

impl<'g, 'a> Gate<'g, 'a> {
    pub fn new(admission: &'g Admission<'a>) -> Self {
        Self(admission)
    }

    pub async fn pass(&self) -> Result<()> {
        match self.0.clone().await? {
            Some(v) if !v.allowed => Err(Error::new(ErrorType::RateLimitExceeded)),
            _ => Ok(()),
        }
    }

    /// A gate that is always open (callers outside the HTTP pipeline, tests).
    pub fn open() -> Admission<'static> {
        futures_util::FutureExt::shared(Box::pin(async { Ok(None) })
            as futures_util::future::BoxFuture<'static, Result<Option<Verdict>>>)
    }
}
