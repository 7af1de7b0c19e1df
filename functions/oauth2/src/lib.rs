//! `oauth2` function: the OAuth2 routes. Provider support is not built yet (see
//! `shared::oauth2`): parameters are validated as Appwrite does and every provider reports
//! `412 project_provider_disabled`; the callback relays to the redirect route.

use shared::api::{Call, HandlerFuture, Reply};
use shared::routes::RouteId;
use shared::{oauth2, Error, ErrorType, Result};

pub fn handler(call: Call<'_>) -> HandlerFuture<'_> {
    Box::pin(handle(call))
}

async fn handle(call: Call<'_>) -> Result<Reply> {
    let provider = call.path_param("provider");
    let config = &call.app.config;
    match call.route.id {
        RouteId::CreateOAuth2Session | RouteId::CreateOAuth2Token => {
            oauth2::start(config, provider, &call.params).map(Reply::redirect)
        }
        RouteId::OAuth2Callback | RouteId::OAuth2CallbackPost => {
            oauth2::provider_param(provider)?;
            let pairs: Vec<(String, String)> = match call.req.method {
                ref m if m == "GET" => call.req.query_pairs(),
                _ => url::form_urlencoded::parse(&call.req.body)
                    .into_owned()
                    .collect(),
            };
            let pairs: Vec<(String, String)> =
                pairs.into_iter().filter(|(k, _)| k != "project").collect();
            let project = call.path_param("projectId");
            Ok(Reply::redirect(oauth2::callback_location(
                provider, project, &pairs,
            )))
        }
        RouteId::OAuth2Redirect => {
            oauth2::finish(config, provider, &call.params).map(Reply::redirect)
        }
        _ => Err(Error::new(ErrorType::RouteNotFound)),
    }
}
