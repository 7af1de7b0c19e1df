//! `oauth2` function: the OAuth2 routes. Provider support is not built yet (see
//! `shared::oauth2`): parameters are validated as Appwrite does and every provider reports
//! `412 project_provider_disabled`; the callback relays to the redirect route.

use shared::api::{Call, HandlerFuture, Reply};
use shared::routes::{Oauth2OpenRoute, RouteId, Split};
use shared::{oauth2, Error, ErrorType, Result};

pub fn handler(call: Call<'_>) -> HandlerFuture<'_> {
    Box::pin(handle(call))
}

async fn handle(call: Call<'_>) -> Result<Reply> {
    let provider = call.path_param("provider");
    let config = &call.app.config;
    // Another function's route never reaches this Lambda (API Gateway routes by the same table).
    // The match is exhaustive, so a route of this function without a handler is a compile
    // error; the function has no user routes.
    let RouteId::Oauth2(route) = call.route.id else {
        return Err(Error::new(ErrorType::RouteNotFound));
    };
    let route = match route.split() {
        Split::Open(route) => route,
        Split::User(route) => match route {},
    };
    match route {
        Oauth2OpenRoute::CreateOAuth2Session | Oauth2OpenRoute::CreateOAuth2Token => {
            oauth2::start(config, provider, &call.params).map(Reply::redirect)
        }
        Oauth2OpenRoute::OAuth2Callback | Oauth2OpenRoute::OAuth2CallbackPost => {
            let project = call.path_param("projectId");
            oauth2::callback(call.req, provider, project).map(Reply::redirect)
        }
        Oauth2OpenRoute::OAuth2Redirect => {
            oauth2::finish(config, provider, &call.params).map(Reply::redirect)
        }
    }
}
