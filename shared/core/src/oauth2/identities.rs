//! `GET /account/identities` and `DELETE /account/identities/{id}`.

use super::*;

/// `GET /account/identities`: the caller's identities, each with its provider access and refresh
/// tokens revealed for them.
pub async fn identities(
    cx: &Ctx<'_, '_>,
    user: &UserItem,
) -> Result<Vec<(IdentityItem, String, String)>> {
    let key = &cx.app.config.keys;
    Ok(cx
        .app
        .store
        .list_identities(&user.id)
        .await?
        .into_iter()
        .map(|i| {
            let access = reveal_token(key, &i.access_token_sealed);
            let refresh = reveal_token(key, &i.refresh_token_sealed);
            (i, access, refresh)
        })
        .collect())
}

/// `DELETE /account/identities/{id}`: only the caller's own identities are looked at (another
/// user's ID is as unknown as a made-up one); the identity, its claims and an `identity.delete`
/// log entry, the log written beside the delete.
pub async fn delete_identity(cx: &Ctx<'_, '_>, user: &UserItem, id: &str) -> Result<()> {
    let store = &cx.app.store;
    let found = store
        .list_identities(&user.id)
        .await?
        .into_iter()
        .find(|i| i.id == id)
        .ok_or_else(|| Error::new(ErrorType::UserIdentityNotFound))?;
    let log = crate::audit::for_user(cx, crate::audit::event::IDENTITY_DELETE, user);
    let delete = async {
        match store.delete_identity(&found).await? {
            true => Ok(()),
            false => Err(Error::new(ErrorType::UserIdentityNotFound)),
        }
    };
    crate::audit::logged(cx, vec![log], delete).await
}
