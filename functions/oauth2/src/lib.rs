//! `oauth2` function: the OAuth2 routes. Provider support is not built yet (see
//! `shared::oauth2`): parameters are validated as Appwrite does and every provider reports
//! `412 project_provider_disabled`; the callback relays to the redirect route.

use shared::api::{Call, HandlerFuture, Reply};
use shared::routes::{Oauth2Route, RouteId};
use shared::{oauth2, Error, ErrorType, Result};

pub fn handler(call: Call<'_>) -> HandlerFuture<'_> {
    Box::pin(handle(call))
}

async fn handle(call: Call<'_>) -> Result<Reply> {
    let provider = call.path_param("provider");
    let config = &call.app.config;
    // Another function's route never reaches this Lambda (API Gateway routes by the same table);
    // the match below is exhaustive, so a route of this function without a handler is a
    // compile error.
    let RouteId::Oauth2(route) = call.route.id else {
        return Err(Error::new(ErrorType::RouteNotFound));
    };
    match route {
        Oauth2Route::CreateOAuth2Session | Oauth2Route::CreateOAuth2Token => {
            oauth2::start(config, provider, &call.params).map(Reply::redirect)
        }
        Oauth2Route::OAuth2Callback | Oauth2Route::OAuth2CallbackPost => {
            let project = call.path_param("projectId");
            oauth2::callback(call.req, provider, project).map(Reply::redirect)
        }
        Oauth2Route::OAuth2Redirect => {
            oauth2::finish(config, provider, &call.params).map(Reply::redirect)
        }
    }
}
