//! SMS through SNS (the `account_core::outbox::Texter` port).

use account_core::error::Error;
use account_core::outbox::{send_failed, SendFuture, Sms, Texter};

/// SNS `Publish` to a phone number (transactional SMS).
pub struct SnsTexter {
    pub client: aws_sdk_sns::Client,
}

impl Texter for SnsTexter {
    fn send<'a>(&'a self, sms: &'a Sms) -> SendFuture<'a> {
        Box::pin(async move {
            let kind = aws_sdk_sns::types::MessageAttributeValue::builder()
                .data_type("String")
                .string_value("Transactional")
                .build()
                .map_err(Error::internal)?;
            self.client
                .publish()
                .phone_number(&sms.to)
                .message(&sms.body)
                .message_attributes("AWS.SNS.SMS.SMSType", kind)
                .send()
                .await
                .map_err(|e| send_failed("SMS", aws_sdk_sns::error::DisplayErrorContext(e)))?;
            Ok(())
        })
    }
}
