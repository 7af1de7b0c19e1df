//! `account` function: sign-up, the profile endpoints and the security log. Handlers parse
//! params, call the domain (`account_core::account`) and render the model; each change is
//! logged (`account_core::audit`) in parallel with the write.

use account_core::audit::{self, event};
use account_core::item::UserItem;
use account_core::{account, ids, Error, ErrorType, Result};
use account_edge::api::{Call, CookieAction, HandlerFuture, Reply, UserCall};
use account_edge::routes::{AccountOpenRoute, AccountUserRoute, RouteId, Split};
use account_edge::{model, validate};

/// Entry point for the pipeline (local server and Lambda).
pub fn handler(call: Call<'_>) -> HandlerFuture<'_> {
    Box::pin(handle(call))
}

async fn handle(call: Call<'_>) -> Result<Reply> {
    // Another function's route never reaches this Lambda (API Gateway routes by the same table).
    // Both matches are exhaustive, so a route of this function without a handler is a compile
    // error, and a user route's handler gets a `UserCall`, whose user cannot be missing.
    let RouteId::Account(route) = call.route.id else {
        return Err(Error::new(ErrorType::RouteNotFound));
    };
    match route.split() {
        Split::Open(AccountOpenRoute::CreateAccount) => create(&call).await,
        // The pipeline answers page routes itself (`account_edge::pages`) before any handler.
        Split::Open(
            AccountOpenRoute::MagicUrlPage
            | AccountOpenRoute::OAuth2SuccessPage
            | AccountOpenRoute::OAuth2FailurePage,
        ) => Err(Error::new(ErrorType::RouteNotFound)),
        Split::User(route) => user_route(route, &call.into_user()?).await,
    }
}

async fn user_route(route: AccountUserRoute, call: &UserCall<'_>) -> Result<Reply> {
    match route {
        AccountUserRoute::GetAccount => Ok(Reply::ok(model::account(&call.me.user))),
        AccountUserRoute::GetPrefs => Ok(Reply::ok(model::prefs(&call.me.user))),
        AccountUserRoute::UpdateName => update_name(call).await,
        AccountUserRoute::UpdatePrefs => update_prefs(call).await,
        AccountUserRoute::UpdateStatus => update_status(call).await,
        AccountUserRoute::UpdatePassword => update_password(call).await,
        AccountUserRoute::UpdateEmail => update_email(call).await,
        AccountUserRoute::UpdatePhone => update_phone(call).await,
        AccountUserRoute::ListLogs => list_logs(call).await,
        AccountUserRoute::ListIdentities => {
            let query = validate::identity_queries(&call.params)?;
            let items = account_core::oauth2::identities(&call.cx(), &call.me.user)
                .await?
                .iter()
                .map(|(i, access, refresh)| model::identity(i, access, refresh))
                .collect();
            let (total, identities) = query.apply(items)?;
            Ok(Reply::ok(
                serde_json::json!({ "total": total, "identities": identities }),
            ))
        }
        AccountUserRoute::DeleteIdentity => {
            let id = call.path_param("identityId");
            if !ids::is_valid_custom(id) {
                return Err(Error::invalid_param("identityId", ids::UID_DESCRIPTION));
            }
            account_core::oauth2::delete_identity(&call.cx(), &call.me.user, id).await?;
            Ok(Reply::no_content())
        }
    }
}

/// Run a profile change of the caller, then its `user.update` log entry.
async fn logged_update(
    call: &UserCall<'_>,
    change: impl std::future::Future<Output = Result<UserItem>>,
) -> Result<Reply> {
    let cx = call.cx();
    let log = audit::for_user(&cx, event::USER_UPDATE, &call.me.user);
    let user = audit::logged(&cx, vec![log], change).await?;
    Ok(Reply::ok(model::account(&user)))
}

async fn create(call: &Call<'_>) -> Result<Reply> {
    let p = &call.params;
    let user_id = p.required_str("userId", ids::CUSTOM_ID_DESCRIPTION)?;
    if user_id != "unique()" && !ids::is_valid_custom(user_id) {
        return Err(Error::invalid_param("userId", ids::CUSTOM_ID_DESCRIPTION));
    }
    let email = validate::email_param(p, "email")?;
    let password = validate::new_password_param(&call.app.config.password_policy, p, "password")?;
    let name = p
        .optional_str("name", &validate::text_description(128))?
        .unwrap_or_default();
    if !name.is_empty() {
        validate::text("name", name, 128)?;
    }
    // The ID is fixed here so the log entry can name the user the sign-up creates.
    let uid = if user_id == "unique()" {
        ids::unique(call.now, call.app.entropy.as_ref())
    } else {
        user_id.to_owned()
    };
    let cx = call.cx();
    let log = audit::entry(&cx, event::USER_CREATE, &uid, &email, name);
    let input = account::SignUp {
        user_id: &uid,
        email: &email,
        password,
        name,
    };
    let user = audit::logged(&cx, vec![log], account::sign_up(&cx, input)).await?;
    Ok(Reply::created(model::account(&user)))
}

async fn update_name(call: &UserCall<'_>) -> Result<Reply> {
    let cx = call.cx();
    let name = call
        .params
        .required_str("name", &validate::text_description(128))?;
    validate::text("name", name, 128)?;
    logged_update(call, account::update_name(&cx, &call.me.user, name)).await
}

async fn update_prefs(call: &UserCall<'_>) -> Result<Reply> {
    let cx = call.cx();
    let prefs = validate::prefs("prefs", call.params.required("prefs")?)?;
    logged_update(call, account::update_prefs(&cx, &call.me.user, &prefs)).await
}

async fn update_status(call: &UserCall<'_>) -> Result<Reply> {
    let cx = call.cx();
    let reply = logged_update(call, account::block(&cx, &call.me.user)).await?;
    Ok(reply.cookie(CookieAction::Clear))
}

async fn update_password(call: &UserCall<'_>) -> Result<Reply> {
    let cx = call.cx();
    let password =
        validate::new_password_param(&call.app.config.password_policy, &call.params, "password")?;
    // Appwrite validates a given `oldPassword` as a password (8 to 256 characters): a shorter
    // one is the 400 parameter error, not a wrong password.
    let old = call
        .params
        .optional_str("oldPassword", validate::PASSWORD_DESCRIPTION)?;
    if let Some(o) = old {
        validate::password("oldPassword", o)?;
    }
    let auth = &call.me;
    let change = account::PasswordChange {
        password,
        old_password: old,
        current: &auth.session,
        sessions: &auth.sessions,
    };
    logged_update(call, account::update_password(&cx, &auth.user, change)).await
}

async fn update_email(call: &UserCall<'_>) -> Result<Reply> {
    let cx = call.cx();
    let email = validate::email_param(&call.params, "email")?;
    let password = validate::password_param(&call.params, "password")?;
    logged_update(
        call,
        account::update_email(&cx, &call.me.user, &email, password),
    )
    .await
}

async fn update_phone(call: &UserCall<'_>) -> Result<Reply> {
    let cx = call.cx();
    let phone = validate::phone_param(&call.params, "phone")?;
    let password = validate::password_param(&call.params, "password")?;
    logged_update(
        call,
        account::update_phone(&cx, &call.me.user, &phone, password),
    )
    .await
}

async fn list_logs(call: &UserCall<'_>) -> Result<Reply> {
    let page = validate::log_queries(&call.params)?;
    let auth = &call.me;
    let (logs, total) = call
        .app
        .store
        .list_logs(
            &auth.user.id,
            page.limit,
            page.offset,
            page.total,
            validate::MAX_LOG_OFFSET,
        )
        .await?;
    let logs: Vec<_> = logs.iter().map(model::log).collect();
    Ok(Reply::ok(
        serde_json::json!({ "total": total, "logs": logs }),
    ))
}
