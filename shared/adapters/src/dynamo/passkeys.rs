//! Passkeys: the user's passkeys, their credential-ID claims, and the ceremonies in flight.

use super::*;
use account_core::item::{PasskeyChallengeItem, PasskeyClaimItem, PasskeyItem};
use account_core::store::{PasskeyUse, Passkeys, REVOKED_IN_TRANSACTION};

impl DynamoStore {
    /// Consume a ceremony: delete it only while it is this one (its `id`) and unexpired.
    fn consume_ceremony(&self, c: &PasskeyChallengeItem, now: Millis) -> Result<TransactWriteItem> {
        let del = Delete::builder()
            .table_name(&self.table)
            .set_key(Some(key(c.pk.clone(), &c.sk)))
            .condition_expression("attribute_exists(PK) AND id = :id AND expire > :now")
            .expression_attribute_values(":id", s(c.id.clone()))
            .expression_attribute_values(":now", AttributeValue::N(now.to_string()))
            .build()
            .map_err(internal)?;
        Ok(TransactWriteItem::builder().delete(del).build())
    }

    /// One passkey less on the profile's count (in the transaction that deletes it).
    pub(super) fn count_down(&self, uid: &str) -> Result<TransactWriteItem> {
        let profile = Update::builder()
            .table_name(&self.table)
            .set_key(Some(key(item::user_pk(uid), item::PROFILE_SK)))
            .update_expression("ADD passkeys :minus")
            .condition_expression("attribute_exists(PK)")
            .expression_attribute_values(":minus", AttributeValue::N("-1".into()))
            .build()
            .map_err(internal)?;
        Ok(TransactWriteItem::builder().update(profile).build())
    }

    /// The writes that delete a passkey and its claim inside a larger transaction: the passkey
    /// refused as `conflict` when `must_exist` and it is gone; the claim only while it is the
    /// user's.
    pub(super) fn passkey_delete_items(
        &self,
        p: &PasskeyItem,
        must_exist: bool,
        conflict: Conflict,
    ) -> Result<Vec<(TransactWriteItem, Conflict)>> {
        let mut gone = Delete::builder()
            .table_name(&self.table)
            .set_key(Some(key(p.pk.clone(), &p.sk)));
        if must_exist {
            gone = gone.condition_expression("attribute_exists(PK)");
        }
        let claim_pk = claim_pk_of(p)?;
        Ok(vec![
            (
                TransactWriteItem::builder()
                    .delete(gone.build().map_err(internal)?)
                    .build(),
                conflict,
            ),
            (
                self.delete_key(claim_pk, item::PASSKEY_CLAIM_SK, &p.uid)?,
                conflict,
            ),
        ])
    }
}

/// A profile flag condition; a flag that is absent reads as false (serde's default), as the
/// twin reads it.
fn flag_is(attr: &str, value: &str, set: bool) -> String {
    match set {
        true => format!("{attr} = {value}"),
        false => format!("(attribute_not_exists({attr}) OR {attr} = {value})"),
    }
}

/// The claim key of a stored passkey (its credential ID is kept base64url).
fn claim_pk_of(p: &PasskeyItem) -> Result<String> {
    use base64::Engine;
    let raw = base64::engine::general_purpose::URL_SAFE_NO_PAD
        .decode(&p.credential_id)
        .map_err(internal)?;
    Ok(item::passkey_claim_pk(&raw))
}

#[async_trait::async_trait]
impl Passkeys for DynamoStore {
    async fn list_passkeys(&self, uid: &str) -> Result<Vec<PasskeyItem>> {
        self.query_prefix(uid, item::PASSKEY_PREFIX).await
    }

    /// One `PutItem`. A sign-in ceremony is new (`attribute_not_exists`); a resend of one that
    /// landed finds it, the same item, and that is success. A registration overwrites the
    /// user's last one: the same item twice is the same outcome.
    async fn put_passkey_challenge(&self, c: &PasskeyChallengeItem) -> Result<()> {
        let item = to_item(c)?;
        let mut put = self
            .client
            .put_item()
            .table_name(&self.table)
            .set_item(Some(item.clone()));
        if c.sk == item::PASSKEY_LOGIN_SK {
            put = put
                .condition_expression("attribute_not_exists(PK)")
                .return_values_on_condition_check_failure(
                    ReturnValuesOnConditionCheckFailure::AllOld,
                );
        }
        match put.send().await {
            Ok(_) => Ok(()),
            Err(e) => match e.as_service_error() {
                Some(PutItemError::ConditionalCheckFailedException(f))
                    if f.item.as_ref() == Some(&item) =>
                {
                    Ok(())
                }
                _ => Err(sdk_err(e)),
            },
        }
    }

    async fn get_passkey_registration(&self, uid: &str) -> Result<Option<PasskeyChallengeItem>> {
        let out = self
            .client
            .get_item()
            .table_name(&self.table)
            .set_key(Some(key(item::user_pk(uid), item::PASSKEY_REGISTRATION_SK)))
            .consistent_read(true)
            .send()
            .await
            .map_err(sdk_err)?;
        out.item.map(from_item).transpose()
    }

    async fn get_passkey_sign_in(
        &self,
        challenge_id: &str,
        credential_id: &[u8],
    ) -> Result<(Option<PasskeyChallengeItem>, Option<PasskeyClaimItem>)> {
        let (cpk, kpk) = (
            item::passkey_login_pk(challenge_id),
            item::passkey_claim_pk(credential_id),
        );
        let items = self
            .batch_get(vec![
                key(cpk.clone(), item::PASSKEY_LOGIN_SK),
                key(kpk.clone(), item::PASSKEY_CLAIM_SK),
            ])
            .await?;
        let (mut challenge, mut claim) = (None, None);
        for it in items {
            let pk = it.get("PK").and_then(|v| v.as_s().ok()).cloned();
            match pk {
                Some(pk) if pk == cpk => challenge = Some(from_item(it)?),
                Some(pk) if pk == kpk => claim = Some(from_item(it)?),
                _ => {}
            }
        }
        Ok((challenge, claim))
    }

    async fn burn_passkey_challenge(&self, c: &PasskeyChallengeItem) -> Result<()> {
        self.delete_while(key(c.pk.clone(), &c.sk), "id", c.id.clone())
            .await
    }

    async fn add_passkey(
        &self,
        c: &PasskeyChallengeItem,
        passkey: &PasskeyItem,
        claim: &PasskeyClaimItem,
        max: u32,
        now: Millis,
    ) -> Result<(), WriteError> {
        // Counted under the limit, and only while no ownership proof has set a verified flag
        // since the ceremony began; `accessed` moves, so a proof racing this write fails its
        // own `accessed` condition and reads the passkeys again.
        let profile = Update::builder()
            .table_name(&self.table)
            .set_key(Some(key(item::user_pk(&c.uid), item::PROFILE_SK)))
            .update_expression("SET accessed = :now ADD passkeys :one")
            .condition_expression(format!(
                "attribute_exists(PK) AND {} AND {} \
                 AND (attribute_not_exists(passkeys) OR passkeys < :max)",
                flag_is("emailVerification", ":ev", c.email_verification),
                flag_is("phoneVerification", ":pv", c.phone_verification),
            ))
            .expression_attribute_values(":now", AttributeValue::N(now.to_string()))
            .expression_attribute_values(":one", AttributeValue::N("1".into()))
            .expression_attribute_values(":ev", AttributeValue::Bool(c.email_verification))
            .expression_attribute_values(":pv", AttributeValue::Bool(c.phone_verification))
            .expression_attribute_values(":max", AttributeValue::N(max.to_string()))
            .build()
            .map_err(internal)?;
        let session = ConditionCheck::builder()
            .table_name(&self.table)
            .set_key(Some(key(item::user_pk(&c.uid), &item::session_sk(&c.sid))))
            .condition_expression("attribute_exists(PK)")
            .build()
            .map_err(internal)?;
        let items = vec![
            (self.consume_ceremony(c, now)?, Conflict::Token),
            (
                TransactWriteItem::builder()
                    .condition_check(session)
                    .build(),
                Conflict::Session,
            ),
            (
                TransactWriteItem::builder().update(profile).build(),
                Conflict::ProfileCondition,
            ),
            (self.put_new(to_item(claim)?)?, Conflict::Passkey),
            (self.put_new(to_item(passkey)?)?, Conflict::Passkey),
        ];
        self.transact(items).await
    }

    async fn passkey_sign_in(
        &self,
        c: &PasskeyChallengeItem,
        claim: &PasskeyClaimItem,
        old_credential: &str,
        used: &PasskeyUse,
        token: &TokenItem,
    ) -> Result<(), WriteError> {
        let credential = Update::builder()
            .table_name(&self.table)
            .set_key(Some(key(claim.pk.clone(), &claim.sk)))
            .update_expression("SET credential = :new")
            .condition_expression("credential = :old AND uid = :uid")
            .expression_attribute_values(":new", s(claim.credential.clone()))
            .expression_attribute_values(":old", s(old_credential))
            .expression_attribute_values(":uid", s(claim.uid.clone()))
            .build()
            .map_err(internal)?;
        let passkey = Update::builder()
            .table_name(&self.table)
            .set_key(Some(key(
                item::user_pk(&used.uid),
                &item::passkey_sk(&used.id),
            )))
            .update_expression("SET lastUsed = :now, backupEligible = :be, backupState = :bs")
            .condition_expression("attribute_exists(PK)")
            .expression_attribute_values(":now", AttributeValue::N(used.now.to_string()))
            .expression_attribute_values(":be", AttributeValue::Bool(used.backup_eligible))
            .expression_attribute_values(":bs", AttributeValue::Bool(used.backup_state))
            .build()
            .map_err(internal)?;
        let put = Put::builder()
            .table_name(&self.table)
            .set_item(Some(to_item(token)?))
            .build()
            .map_err(internal)?;
        let items = vec![
            (self.consume_ceremony(c, used.now)?, Conflict::Token),
            (
                TransactWriteItem::builder().update(credential).build(),
                Conflict::Token,
            ),
            (
                TransactWriteItem::builder().update(passkey).build(),
                Conflict::ProfileCondition,
            ),
            (
                TransactWriteItem::builder().put(put).build(),
                Conflict::Token,
            ),
        ];
        self.transact(items).await
    }

    async fn rename_passkey(
        &self,
        uid: &str,
        id: &str,
        name: &str,
        now: Millis,
    ) -> Result<Option<PasskeyItem>> {
        let res = self
            .client
            .update_item()
            .table_name(&self.table)
            .set_key(Some(key(item::user_pk(uid), &item::passkey_sk(id))))
            .update_expression("SET #n = :name, updated = :now")
            .condition_expression("attribute_exists(PK)")
            .expression_attribute_names("#n", "name")
            .expression_attribute_values(":name", s(name))
            .expression_attribute_values(":now", AttributeValue::N(now.to_string()))
            .return_values(ReturnValue::AllNew)
            .send()
            .await;
        updated(res)
    }

    async fn delete_passkey(
        &self,
        p: &PasskeyItem,
        keep: &[(String, String)],
        revoke: &[String],
    ) -> Result<(), WriteError> {
        let mut items = self.passkey_delete_items(p, true, Conflict::Token)?;
        items.push((self.count_down(&p.uid)?, Conflict::ProfileCondition));
        // A token it answered with and the sessions it opened go with it.
        items.push((
            self.delete_item(
                item::user_pk(&p.uid),
                &item::token_sk(item::PASSKEY_PROVIDER),
            )?,
            Conflict::Token,
        ));
        let inline = revoke.len().min(REVOKED_IN_TRANSACTION);
        for sid in &revoke[..inline] {
            items.push((
                self.delete_item(item::user_pk(&p.uid), &item::session_sk(sid))?,
                Conflict::Token,
            ));
        }
        for (pk, sk) in keep {
            let check = ConditionCheck::builder()
                .table_name(&self.table)
                .set_key(Some(key(pk.clone(), sk)))
                .condition_expression("attribute_exists(PK)")
                .build()
                .map_err(internal)?;
            items.push((
                TransactWriteItem::builder().condition_check(check).build(),
                Conflict::ProfileCondition,
            ));
        }
        self.transact(items).await?;
        if revoke.len() > inline {
            self.delete_sessions(&p.uid, &revoke[inline..]).await?;
        }
        Ok(())
    }
}
