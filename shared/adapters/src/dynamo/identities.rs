//! OAuth2 identities: the link items, their claims, and the sign-in transaction.

use super::*;
use account_core::item::{IdentityClaimItem, IdentityItem};
use account_core::store::{Identities, IdentityWrite, OAuthSignIn};

/// Whether the identity's address is reserved (`IDEMAIL#`): verified by a trusted provider.
fn reserved(i: &IdentityItem) -> bool {
    i.provider_email_verified && !i.provider_email.is_empty()
}

impl DynamoStore {
    /// Add identity `id` of `uid` to the email's identity claim (refused while another user's
    /// identities hold it), or take it out.
    fn identity_email_item(
        &self,
        email: &str,
        uid: &str,
        id: &str,
        add: bool,
    ) -> Result<TransactWriteItem> {
        match add {
            true => {
                let up = Update::builder()
                    .table_name(&self.table)
                    .set_key(Some(key(
                        item::identity_email_pk(email),
                        item::IDENTITY_EMAIL_SK,
                    )))
                    .expression_attribute_values(":id", AttributeValue::Ss(vec![id.to_owned()]))
                    .update_expression("ADD ids :id SET uid = :uid, v = :v")
                    .condition_expression(
                        "attribute_not_exists(ids) OR attribute_not_exists(v) OR uid = :uid",
                    )
                    .expression_attribute_values(":uid", s(uid))
                    .expression_attribute_values(":v", AttributeValue::Bool(true))
                    .build()
                    .map_err(internal)?;
                Ok(TransactWriteItem::builder().update(up).build())
            }
            false => self.identity_email_release(email, vec![id.to_owned()]),
        }
    }

    /// Take identities `ids` out of the address's reservation (one operation per address, however
    /// many of a user's identities carry it: a transaction may touch an item once).
    fn identity_email_release(&self, email: &str, ids: Vec<String>) -> Result<TransactWriteItem> {
        let up = Update::builder()
            .table_name(&self.table)
            .set_key(Some(key(
                item::identity_email_pk(email),
                item::IDENTITY_EMAIL_SK,
            )))
            .expression_attribute_values(":id", AttributeValue::Ss(ids))
            .update_expression("DELETE ids :id")
            .build()
            .map_err(internal)?;
        Ok(TransactWriteItem::builder().update(up).build())
    }

    /// The writes that delete `identities` inside a larger transaction (an ownership proof):
    /// each link and its claim, and one release per reserved address.
    pub(super) fn identities_delete_items(
        &self,
        identities: &[IdentityItem],
        conflict: Conflict,
    ) -> Result<Vec<(TransactWriteItem, Conflict)>> {
        let mut items = vec![];
        let mut releases: Vec<(&str, Vec<String>)> = vec![];
        for identity in identities {
            items.extend(self.identity_delete_items(identity, false, conflict, false)?);
            if reserved(identity) {
                match releases
                    .iter_mut()
                    .find(|(e, _)| *e == identity.provider_email)
                {
                    Some((_, ids)) => ids.push(identity.id.clone()),
                    None => releases.push((&identity.provider_email, vec![identity.id.clone()])),
                }
            }
        }
        for (email, ids) in releases {
            items.push((self.identity_email_release(email, ids)?, conflict));
        }
        Ok(items)
    }

    /// A reservation of `email` for `uid` may only stand while no other user's email claim holds
    /// the address (the check sits in the reserving transaction, so a racing sign-up loses).
    fn email_free_for(&self, email: &str, uid: &str) -> Result<TransactWriteItem> {
        let check = ConditionCheck::builder()
            .table_name(&self.table)
            .set_key(Some(key(item::email_pk(email), item::EMAIL_SK)))
            .condition_expression("attribute_not_exists(PK) OR uid = :uid")
            .expression_attribute_values(":uid", s(uid))
            .build()
            .map_err(internal)?;
        Ok(TransactWriteItem::builder().condition_check(check).build())
    }

    /// Reserve a verified provider address for the identity; `email_written` is the address this
    /// transaction claims for a new user (no second operation on that item).
    fn reserve_identity_email(
        &self,
        identity: &IdentityItem,
        email_written: Option<&str>,
    ) -> Result<Vec<(TransactWriteItem, Conflict)>> {
        let e = &identity.provider_email;
        let mut items = vec![(
            self.identity_email_item(e, &identity.uid, &identity.id, true)?,
            Conflict::IdentityEmail,
        )];
        if email_written != Some(e.as_str()) {
            items.push((self.email_free_for(e, &identity.uid)?, Conflict::Email));
        }
        Ok(items)
    }

    /// The writes that delete an identity: the link (refused as `conflict` when `must_exist` and
    /// it is gone), its claim (only while it is the user's) and, with `release`, its address
    /// reservation.
    fn identity_delete_items(
        &self,
        identity: &IdentityItem,
        must_exist: bool,
        conflict: Conflict,
        release: bool,
    ) -> Result<Vec<(TransactWriteItem, Conflict)>> {
        let mut gone = Delete::builder()
            .table_name(&self.table)
            .set_key(Some(key(identity.pk.clone(), &identity.sk)));
        if must_exist {
            gone = gone.condition_expression("attribute_exists(PK)");
        }
        let mut items = vec![
            (
                TransactWriteItem::builder()
                    .delete(gone.build().map_err(internal)?)
                    .build(),
                conflict,
            ),
            (
                self.delete_key(identity.claim_pk(), item::IDENTITY_CLAIM_SK, &identity.uid)?,
                conflict,
            ),
        ];
        if release && reserved(identity) {
            items.push((
                self.identity_email_item(
                    &identity.provider_email,
                    &identity.uid,
                    &identity.id,
                    false,
                )?,
                conflict,
            ));
        }
        Ok(items)
    }
}

#[async_trait::async_trait]
impl Identities for DynamoStore {
    /// One `BatchGetItem` (strongly consistent) of the issuer's claim key and the key of
    /// before issuers were keyed; the issuer's wins. One `GetItem` without an issuer.
    async fn get_identity_claim(
        &self,
        provider: &str,
        issuer: &str,
        provider_uid: &str,
    ) -> Result<Option<IdentityClaimItem>> {
        let keyed = item::identity_claim_pk(provider, issuer, provider_uid);
        let legacy = item::identity_claim_pk(provider, "", provider_uid);
        let mut keys = vec![key(keyed.clone(), item::IDENTITY_CLAIM_SK)];
        if legacy != keyed {
            keys.push(key(legacy, item::IDENTITY_CLAIM_SK));
        }
        let mut found: Vec<IdentityClaimItem> = self
            .batch_get(keys)
            .await?
            .into_iter()
            .map(from_item)
            .collect::<Result<_>>()?;
        found.sort_by_key(|c| c.pk != keyed);
        Ok(found.into_iter().next())
    }

    /// One `Query` (strongly consistent) of the user's `IDENTITY#` items.
    async fn list_identities(&self, uid: &str) -> Result<Vec<IdentityItem>> {
        self.query_prefix(uid, item::IDENTITY_PREFIX).await
    }

    /// One `GetItem` (strongly consistent) of the email's identity claim.
    async fn identity_email_owner(&self, email: &str) -> Result<Option<String>> {
        let out = self
            .client
            .get_item()
            .table_name(&self.table)
            .set_key(Some(key(
                item::identity_email_pk(email),
                item::IDENTITY_EMAIL_SK,
            )))
            .consistent_read(true)
            .send()
            .await
            .map_err(sdk_err)?;
        // An empty string set is removed by DynamoDB: `ids` present means in use; an unmarked
        // reservation (no `v`) is from before only verified addresses were reserved.
        Ok(out
            .item
            .filter(|i| i.get("ids").is_some() && i.get("v").is_some())
            .and_then(|i| i.get("uid").and_then(|v| v.as_s().ok()).cloned()))
    }

    /// One `TransactWriteItems`: the identity (if it still exists) and its claim (if still
    /// the user's).
    async fn delete_identity(&self, identity: &IdentityItem) -> Result<bool> {
        let items = self.identity_delete_items(identity, true, Conflict::Identity, true)?;
        match self.transact(items).await {
            Ok(()) => Ok(true),
            Err(WriteError::Conflict(_)) => Ok(false),
            Err(WriteError::Other(e)) => Err(e),
        }
    }

    /// One `TransactWriteItems`.
    async fn oauth2_sign_in(&self, w: OAuthSignIn<'_>) -> Result<(), WriteError> {
        let mut items = vec![];
        // The address this transaction claims for a new user, if any.
        let new_email = w
            .new_user
            .and_then(|(_, e)| e)
            .and_then(|e| e.pk.strip_prefix("EMAIL#"));
        if let Some((user, email)) = w.new_user {
            items.extend(self.new_user_items(user, email, None, false)?);
        }
        if let Some(uid) = w.existing {
            let touch = Update::builder()
                .table_name(&self.table)
                .set_key(Some(key(item::user_pk(uid), item::PROFILE_SK)))
                .update_expression("SET accessed = :now")
                .condition_expression("attribute_exists(PK) AND #st = :t")
                .expression_attribute_names("#st", "status")
                .expression_attribute_values(":t", AttributeValue::Bool(true))
                .expression_attribute_values(":now", AttributeValue::N(w.now.to_string()))
                .build()
                .map_err(internal)?;
            items.push((
                TransactWriteItem::builder().update(touch).build(),
                Conflict::ProfileCondition,
            ));
        }
        match w.identity {
            IdentityWrite::New(identity) => {
                let claim = identity.claim();
                items.push((self.put_new(to_item(identity)?)?, Conflict::Identity));
                items.push((self.put_new(to_item(&claim)?)?, Conflict::Identity));
                if reserved(identity) {
                    items.extend(self.reserve_identity_email(identity, new_email)?);
                }
            }
            IdentityWrite::Update(old, new) => {
                if let Some(up) = self.update_item_tx(old.pk.clone(), &old.sk, old, new)? {
                    items.push((up, Conflict::Identity));
                }
                // A claim of before issuers were keyed moves to the issuer's key.
                if old.claim_pk() != new.claim_pk() {
                    let claim = new.claim();
                    items.push((
                        self.delete_key(old.claim_pk(), item::IDENTITY_CLAIM_SK, &old.uid)?,
                        Conflict::Identity,
                    ));
                    items.push((self.put_new(to_item(&claim)?)?, Conflict::Identity));
                }
                let same = old.provider_email == new.provider_email;
                if reserved(old) && (!same || !reserved(new)) {
                    items.push((
                        self.identity_email_item(&old.provider_email, &old.uid, &old.id, false)?,
                        Conflict::Identity,
                    ));
                }
                if reserved(new) && (!same || !reserved(old)) {
                    items.extend(self.reserve_identity_email(new, new_email)?);
                }
            }
        }
        if let Some(session) = w.session {
            items.push((self.put_new(to_item(session)?)?, Conflict::User));
        }
        if let Some(token) = w.token {
            let put = Put::builder()
                .table_name(&self.table)
                .set_item(Some(to_item(token)?))
                .build()
                .map_err(internal)?;
            items.push((
                TransactWriteItem::builder().put(put).build(),
                Conflict::Token,
            ));
        }
        if let (Some(sid), Some(uid)) = (w.delete_session, w.existing) {
            // The linking session must still exist: an ownership proof that deleted it since it
            // was read (the provider round trip takes seconds) refuses the link.
            let gone = Delete::builder()
                .table_name(&self.table)
                .set_key(Some(key(item::user_pk(uid), &item::session_sk(sid))))
                .condition_expression("attribute_exists(PK)")
                .build()
                .map_err(internal)?;
            items.push((
                TransactWriteItem::builder().delete(gone).build(),
                Conflict::Session,
            ));
        }
        self.transact(items).await
    }
}
