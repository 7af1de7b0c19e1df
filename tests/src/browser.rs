//! A browser without a window: it follows redirects by hand and keeps a cookie jar per origin,
//! so an OAuth2 flow crosses the API, the provider's login and the app's success page as a real
//! browser would (each origin sees only its own cookies).

use std::collections::HashMap;

pub struct Browser {
    http: reqwest::Client,
    /// The API's origin (`http://127.0.0.1:<port>`).
    pub origin: String,
    /// origin → cookie name → value.
    jars: HashMap<String, HashMap<String, String>>,
}

fn origin_of(url: &str) -> String {
    url::Url::parse(url)
        .map(|u| u.origin().ascii_serialization())
        .unwrap_or_default()
}

impl Browser {
    pub fn new(api_base: &str) -> Self {
        Self {
            http: reqwest::Client::builder()
                .redirect(reqwest::redirect::Policy::none())
                .build()
                .unwrap(),
            origin: api_base.trim_end_matches("/v1").to_owned(),
            jars: HashMap::new(),
        }
    }

    /// The API origin's cookies.
    pub fn cookies(&mut self) -> &mut HashMap<String, String> {
        self.jars.entry(self.origin.clone()).or_default()
    }

    /// One GET; `(status, absolute Location, body)`.
    pub async fn step(&mut self, url: &str) -> (u16, Option<String>, String) {
        self.send(url, None).await
    }

    /// Submit the first form of an HTML page as a browser does: its inputs, form-encoded,
    /// POSTed to its action (`form_post` providers). Returns the step's answer.
    pub async fn submit_form(&mut self, html: &str) -> (u16, Option<String>, String) {
        let attr = |tag: &str, name: &str| -> Option<String> {
            let at = tag.find(&format!("{name}=\""))? + name.len() + 2;
            let end = tag[at..].find('"')? + at;
            Some(
                tag[at..end]
                    .replace("&quot;", "\"")
                    .replace("&lt;", "<")
                    .replace("&gt;", ">")
                    .replace("&amp;", "&"),
            )
        };
        let form = html.split("<form").nth(1).expect("a form");
        let action = attr(form.split('>').next().unwrap(), "action").expect("an action");
        let mut body = url::form_urlencoded::Serializer::new(String::new());
        for input in form.split("<input").skip(1) {
            let tag = input.split('>').next().unwrap();
            if let (Some(k), Some(v)) = (attr(tag, "name"), attr(tag, "value")) {
                body.append_pair(&k, &v);
            }
        }
        self.send(&action, Some(body.finish())).await
    }

    async fn send(&mut self, url: &str, form: Option<String>) -> (u16, Option<String>, String) {
        let origin = origin_of(url);
        let mut req = match form {
            None => self.http.get(url),
            Some(body) => self
                .http
                .post(url)
                .header("content-type", "application/x-www-form-urlencoded")
                .body(body),
        };
        if let Some(jar) = self.jars.get(&origin).filter(|j| !j.is_empty()) {
            let pairs: Vec<String> = jar.iter().map(|(k, v)| format!("{k}={v}")).collect();
            req = req.header("cookie", pairs.join("; "));
        }
        let resp = req.send().await.unwrap();
        let status = resp.status().as_u16();
        let jar = self.jars.entry(origin.clone()).or_default();
        for c in resp.headers().get_all("set-cookie") {
            let c = c.to_str().unwrap();
            let (pair, attrs) = c.split_once(';').unwrap_or((c, ""));
            let Some((k, v)) = pair.split_once('=') else {
                continue;
            };
            let attrs = attrs.to_ascii_lowercase();
            if attrs.contains("max-age=0") || attrs.contains("expires=thu, 01 jan 1970") {
                jar.remove(k.trim());
            } else {
                jar.insert(k.trim().to_owned(), v.trim().to_owned());
            }
        }
        let location = resp.headers().get("location").map(|l| {
            let l = l.to_str().unwrap();
            url::Url::parse(url)
                .and_then(|base| base.join(l))
                .map(|u| u.to_string())
                .unwrap_or_else(|_| l.to_owned())
        });
        let body = resp.text().await.unwrap_or_default();
        (status, location, body)
    }

    /// Follow redirects from `url` until one leaves the API and every origin in `through` (the
    /// provider), and return that URL: the app's success or failure page.
    pub async fn follow(&mut self, url: &str, through: &str) -> String {
        let (api, provider) = (self.origin.clone(), origin_of(through));
        self.walk(url, |at| {
            let o = origin_of(at);
            o != api && o != provider
        })
        .await
    }

    /// Follow redirects from `url` until `done` says a URL is the end, and return it unvisited.
    async fn walk(&mut self, url: &str, done: impl Fn(&str) -> bool) -> String {
        let mut at = url.to_owned();
        for _ in 0..15 {
            if done(&at) {
                return at;
            }
            let (mut status, mut location, mut body) = self.step(&at).await;
            // A page that submits its form on load (a `form_post` provider), as a browser with
            // scripts on does.
            if status == 200 && body.contains("document.forms[0].submit()") {
                (status, location, body) = self.submit_form(&body).await;
            }
            match location {
                Some(l) if (300..400).contains(&status) => at = l,
                _ => panic!("stopped at {at}: {status} {body}"),
            }
        }
        panic!("too many redirects")
    }

    /// The session cookie the API set, decoded as the test client sends it.
    pub fn session(&mut self, project: &str) -> Option<String> {
        self.cookies()
            .get(&format!("a_session_{project}"))
            .map(|v| crate::url_decode(v))
    }
}

impl Browser {
    /// Sign this browser in: keep the session cookie of a login reply, as the browser that made
    /// the request would.
    pub fn keep_session(&mut self, login: &crate::Reply, project: &str) {
        let prefix = format!("a_session_{project}=");
        let raw = login
            .set_cookies()
            .iter()
            .find_map(|c| {
                c.strip_prefix(&prefix)
                    .map(|rest| rest.split(';').next().unwrap_or("").to_owned())
            })
            .expect("a session cookie");
        self.cookies().insert(format!("a_session_{project}"), raw);
    }

    /// Follow redirects from `url` until the next one would reach a URL containing `stop`, and
    /// return that URL unvisited (an attacker who stops at the callback and keeps its code).
    pub async fn follow_until(&mut self, url: &str, stop: &str) -> String {
        self.walk(url, |at| at.contains(stop)).await
    }
}
