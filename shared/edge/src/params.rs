//! Request parameters, read the Appwrite way: GET from the query string only, other methods from
//! the JSON (or form) body only. Missing and invalid params give Appwrite's 400 messages.

use crate::http::ApiRequest;
use account_core::error::{Error, Result};
use serde_json::{Map, Value};

#[derive(Debug, Default, Clone)]
pub struct Params(Map<String, Value>);

impl Params {
    pub fn from_request(req: &ApiRequest) -> Result<Self> {
        if req.method == http::Method::GET || req.method == http::Method::HEAD {
            return Ok(Self::from_query(&req.query_pairs()));
        }
        if req.body.iter().all(u8::is_ascii_whitespace) {
            return Ok(Self::default());
        }
        let ctype = req
            .header("content-type")
            .unwrap_or("application/json")
            .to_ascii_lowercase();
        if ctype.starts_with("application/x-www-form-urlencoded") {
            let pairs: Vec<(String, String)> = url::form_urlencoded::parse(&req.body)
                .into_owned()
                .collect();
            return Ok(Self::from_query(&pairs));
        }
        match serde_json::from_slice::<Value>(&req.body) {
            Ok(Value::Object(m)) => Ok(Self(m)),
            // Node sends `{}`; a JSON array/null body carries no named params.
            Ok(Value::Array(_)) | Ok(Value::Null) => Ok(Self::default()),
            Ok(_) | Err(_) => Err(Error::with_message(
                account_core::error::ErrorType::ArgumentInvalid,
                "Invalid JSON body: the request body must be a JSON object.",
            )),
        }
    }

    /// `k=v`, `k[]=v`, `k[0]=v` and repeated `k=v` (arrays).
    pub fn from_query(pairs: &[(String, String)]) -> Self {
        let mut m = Map::new();
        for (k, v) in pairs {
            if let Some(base) = k.find('[').map(|i| &k[..i]).filter(|_| k.ends_with(']')) {
                let entry = m
                    .entry(base.to_owned())
                    .or_insert_with(|| Value::Array(vec![]));
                if let Value::Array(a) = entry {
                    a.push(Value::String(v.clone()));
                }
            } else {
                match m.get_mut(k) {
                    Some(Value::Array(a)) => a.push(Value::String(v.clone())),
                    Some(prev) => {
                        let p = prev.take();
                        *prev = Value::Array(vec![p, Value::String(v.clone())]);
                    }
                    None => {
                        m.insert(k.clone(), Value::String(v.clone()));
                    }
                }
            }
        }
        Self(m)
    }

    pub fn get(&self, name: &str) -> Option<&Value> {
        self.0.get(name).filter(|v| !v.is_null())
    }

    /// A required string. `null`/absent → "not optional"; another JSON type → invalid with `desc`.
    pub fn required_str(&self, name: &str, desc: &str) -> Result<&str> {
        match self.get(name) {
            None => Err(Error::missing_param(name)),
            Some(Value::String(s)) => Ok(s),
            Some(_) => Err(Error::invalid_param(name, desc)),
        }
    }

    pub fn optional_str(&self, name: &str, desc: &str) -> Result<Option<&str>> {
        match self.get(name) {
            None => Ok(None),
            Some(Value::String(s)) => Ok(Some(s)),
            Some(_) => Err(Error::invalid_param(name, desc)),
        }
    }

    pub fn required(&self, name: &str) -> Result<&Value> {
        self.get(name).ok_or_else(|| Error::missing_param(name))
    }

    /// Strict boolean (JSON `true`/`false`), or a loose one from a query string.
    pub fn optional_bool(&self, name: &str) -> Result<Option<bool>> {
        match self.get(name) {
            None => Ok(None),
            Some(Value::Bool(b)) => Ok(Some(*b)),
            Some(Value::String(s)) if s == "true" || s == "1" => Ok(Some(true)),
            Some(Value::String(s)) if s == "false" || s == "0" => Ok(Some(false)),
            Some(_) => Err(Error::invalid_param(name, "Value must be a valid boolean")),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn query_arrays_flatten() {
        let p = Params::from_query(&[
            ("queries[0]".into(), "a".into()),
            ("queries[1]".into(), "b".into()),
            ("x[]".into(), "c".into()),
            ("y".into(), "1".into()),
            ("y".into(), "2".into()),
        ]);
        assert_eq!(p.get("queries").unwrap(), &serde_json::json!(["a", "b"]));
        assert_eq!(p.get("x").unwrap(), &serde_json::json!(["c"]));
        assert_eq!(p.get("y").unwrap(), &serde_json::json!(["1", "2"]));
    }

    #[test]
    fn required_messages() {
        let p = Params(
            serde_json::json!({"a": 1, "n": null})
                .as_object()
                .unwrap()
                .clone(),
        );
        assert_eq!(
            p.required_str("b", "d").unwrap_err().message,
            "Param \"b\" is not optional."
        );
        assert_eq!(
            p.required_str("n", "d").unwrap_err().message,
            "Param \"n\" is not optional."
        );
        assert_eq!(
            p.required_str("a", "desc").unwrap_err().message,
            "Invalid `a` param: desc"
        );
    }
}
