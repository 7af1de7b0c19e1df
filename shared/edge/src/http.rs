//! Transport-neutral request and response. The Lambda adapter (`lambda.rs`) and the local server
//! both convert to and from these, so the pipeline is the same code in both.

use bytes::Bytes;
use http::{HeaderMap, Method};

#[derive(Debug, Clone)]
pub struct ApiRequest {
    pub method: Method,
    /// Path as API Gateway passes it, e.g. `/v1/account/sessions/current`.
    pub path: String,
    /// Raw query string without `?`.
    pub query: String,
    pub headers: HeaderMap,
    pub body: Bytes,
    /// The address the edge saw (API Gateway `sourceIp`, or the local socket).
    pub source_ip: String,
    /// Whether the client reached us over HTTPS (cookies get `Secure`).
    pub secure: bool,
    /// The domain API Gateway served the request on (`requestContext.domainName`): chosen by
    /// API Gateway's routing, not by the client's `Host` header. `None` on the local server.
    pub gateway_domain: Option<String>,
}

impl ApiRequest {
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .get(name)
            .and_then(|v| v.to_str().ok())
            .map(str::trim)
            .filter(|v| !v.is_empty())
    }

    /// Decoded query pairs.
    pub fn query_pairs(&self) -> Vec<(String, String)> {
        url::form_urlencoded::parse(self.query.as_bytes())
            .into_owned()
            .collect()
    }

    /// Value of cookie `name` (percent-decoded), from every `Cookie` header.
    pub fn cookie(&self, name: &str) -> Option<String> {
        self.headers
            .get_all(http::header::COOKIE)
            .iter()
            .filter_map(|v| v.to_str().ok())
            .find_map(|h| {
                h.split(';').find_map(|pair| {
                    let (k, v) = pair.split_once('=')?;
                    (k.trim() == name).then(|| percent_decode(v.trim()))
                })
            })
            .filter(|v| !v.is_empty())
    }

    /// Host without port, lower-case.
    pub fn hostname(&self) -> String {
        let host = self.header("host").unwrap_or("localhost");
        strip_port(host).to_ascii_lowercase()
    }
}

pub fn strip_port(host: &str) -> &str {
    if host.starts_with('[') {
        // IPv6 literal: keep the brackets, drop `:port`.
        return host.find(']').map_or(host, |i| &host[..=i]);
    }
    host.split(':').next().unwrap_or(host)
}

pub fn percent_decode(s: &str) -> String {
    url::form_urlencoded::parse(format!("v={}", s.replace('+', "%2B")).as_bytes())
        .next()
        .map(|(_, v)| v.into_owned())
        .unwrap_or_default()
}

/// Percent-encode a cookie value the way PHP's `urlencode` does for base64 (`+`, `/`, `=`).
pub fn cookie_encode(s: &str) -> String {
    url::form_urlencoded::byte_serialize(s.as_bytes()).collect()
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ApiResponse {
    pub status: u16,
    /// Multi-valued: `Set-Cookie` appears once per cookie.
    pub headers: Vec<(String, String)>,
    pub body: String,
}

impl ApiResponse {
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(k, _)| k.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_str())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn req_with_cookie(c: &str) -> ApiRequest {
        let mut headers = HeaderMap::new();
        headers.insert(http::header::COOKIE, c.parse().unwrap());
        ApiRequest {
            method: Method::GET,
            path: "/".into(),
            query: String::new(),
            headers,
            body: Bytes::new(),
            source_ip: "127.0.0.1".into(),
            secure: false,
            gateway_domain: None,
        }
    }

    #[test]
    fn cookies_are_percent_decoded() {
        let r = req_with_cookie("a=1; a_session_p=eyJ%2Bx%2F%3D%3D; b=2");
        assert_eq!(r.cookie("a_session_p").as_deref(), Some("eyJ+x/=="));
        assert_eq!(r.cookie("missing"), None);
        assert_eq!(cookie_encode("a+b/c=="), "a%2Bb%2Fc%3D%3D");
    }

    #[test]
    fn ports_are_stripped() {
        assert_eq!(strip_port("localhost:8787"), "localhost");
        assert_eq!(strip_port("[::1]:3000"), "[::1]");
        assert_eq!(strip_port("api.example.com"), "api.example.com");
    }
}
