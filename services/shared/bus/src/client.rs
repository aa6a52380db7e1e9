use std::sync::Arc;
use std::time::Duration;

use async_nats::jetstream::{self, publish::PublishAck};
use prism_errors::injected::{self, Dice};
use prism_schemas::v1::OutboxMessage;
use prost::{Message, Name};

use crate::error::{Error, Result};
use crate::headers;

/// A connection to the bus: core NATS plus its JetStream context.
#[derive(Clone)]
pub struct Bus {
    pub client: async_nats::Client,
    pub jetstream: jetstream::Context,
    /// Tests only: acknowledgements reported lost after the message was stored.
    ack_loss: Option<Arc<AckLoss>>,
}

/// Publish acknowledgements lost after JetStream stored the message, as when the
/// node that held it dies before answering: the publisher sees a failure and
/// retries, and the message's id must make the retry change nothing.
pub struct AckLoss {
    pub seed: u64,
    pub chance: f64,
    dice: Dice,
}

impl std::fmt::Debug for AckLoss {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "seed={},ack_loss={}", self.seed, self.chance)
    }
}

impl AckLoss {
    /// `seed=7,ack_loss=0.2`, as `PRISM_BUS_FAULTS` spells it.
    pub fn parse(spec: &str) -> Result<AckLoss, String> {
        let bad = |why: String| format!("PRISM_BUS_FAULTS {spec:?}: {why}");
        let (seed, pairs) = injected::parse_spec(spec).map_err(bad)?;
        let mut chance = 0.0;
        for (name, value) in pairs {
            match name.as_str() {
                "ack_loss" => chance = injected::parse_chance(&name, &value).map_err(bad)?,
                other => return Err(bad(format!("unknown fault {other:?}"))),
            }
        }
        Ok(AckLoss {
            seed,
            chance,
            dice: Dice::new(seed),
        })
    }
}

impl Bus {
    /// Connects, retrying forever in the background after the first success so a
    /// restarted NATS node is rejoined without restarting the process.
    pub async fn connect(url: &str, client_name: &str) -> Result<Bus> {
        Self::connect_as(url, client_name, None).await
    }

    /// [`Bus::connect`] as a bus user (`user`, `password`), where NATS requires one.
    pub async fn connect_as(
        url: &str,
        client_name: &str,
        login: Option<(&str, &str)>,
    ) -> Result<Bus> {
        // A comma-separated list names the nodes of a cluster.
        let servers = url
            .split(',')
            .map(|u| u.trim().parse::<async_nats::ServerAddr>())
            .collect::<std::result::Result<Vec<_>, _>>()
            .map_err(|e| Error::Connect {
                url: url.into(),
                reason: e.to_string(),
            })?;
        let options = match login {
            Some((user, password)) => {
                async_nats::ConnectOptions::with_user_and_password(user.into(), password.into())
            }
            None => async_nats::ConnectOptions::new(),
        };
        let client = options
            .name(client_name)
            .retry_on_initial_connect()
            .connection_timeout(Duration::from_secs(5))
            .connect(servers)
            .await
            .map_err(|e| Error::Connect {
                url: url.into(),
                reason: e.to_string(),
            })?;
        let jetstream = jetstream::new(client.clone());
        Ok(Bus {
            client,
            jetstream,
            ack_loss: None,
        })
    }

    /// This connection with `loss` injected into its publishes: for tests only.
    pub fn losing_acks(self, loss: Arc<AckLoss>) -> Bus {
        Bus {
            ack_loss: Some(loss),
            ..self
        }
    }

    /// An injected fault: the message was stored, its acknowledgement is lost.
    fn lose_ack(&self) -> Result<()> {
        match &self.ack_loss {
            Some(loss) if loss.dice.chance(loss.chance) => Err(Error::jetstream(
                "publish acknowledgement",
                "timed out (injected fault: acknowledgement lost)",
            )),
            _ => Ok(()),
        }
    }

    pub fn is_connected(&self) -> bool {
        self.client.connection_state() == async_nats::connection::State::Connected
    }

    /// Publishes `message` to a stream without waiting for JetStream to store it:
    /// for records whose loss with a dying connection is accepted (a service
    /// call's history entry), where an acknowledgement per message would cost
    /// the sender a round trip and the server a reply.
    pub async fn publish_unacknowledged<M: Message + Name>(
        &self,
        subject: String,
        msg_id: &str,
        message: &M,
    ) -> Result<()> {
        let headers = headers::standard(&M::full_name(), Some(msg_id), None);
        self.client
            .publish_with_headers(subject, headers, message.encode_to_vec().into())
            .await
            .map_err(|e| Error::jetstream("publish", e))
    }

    /// Publishes `message` to a stream and waits until JetStream has stored it.
    /// `msg_id` makes retries safe: JetStream drops a repeat within its window.
    pub async fn publish_durable<M: Message + Name>(
        &self,
        subject: String,
        msg_id: &str,
        message: &M,
    ) -> Result<PublishAck> {
        self.publish_envelope(&envelope(subject, msg_id, message))
            .await
    }

    /// Publishes a message kept in the outbox, with the trace context it was
    /// written under, and waits until JetStream has stored it.
    pub async fn publish_envelope(&self, message: &OutboxMessage) -> Result<PublishAck> {
        let ack = self
            .send(message)
            .await?
            .await
            .map_err(|e| Error::jetstream("publish acknowledgement", e))?;
        self.lose_ack()?;
        Ok(ack)
    }

    /// Publishes `messages` in order (one connection keeps their order) and then
    /// waits for every acknowledgement: one round trip for all, not one each.
    pub async fn publish_envelopes(&self, messages: &[OutboxMessage]) -> Result<()> {
        let mut acks = Vec::with_capacity(messages.len());
        for message in messages {
            acks.push(self.send(message).await?);
        }
        for ack in acks {
            ack.await
                .map_err(|e| Error::jetstream("publish acknowledgement", e))?;
        }
        self.lose_ack()
    }

    async fn send(
        &self,
        message: &OutboxMessage,
    ) -> Result<async_nats::jetstream::context::PublishAckFuture> {
        let headers = headers::standard(
            &message.message_type,
            Some(&message.msg_id),
            Some(message.traceparent.as_str()).filter(|t| !t.is_empty()),
        );
        self.jetstream
            .publish_with_headers(
                message.subject.clone(),
                headers,
                message.payload.clone().into(),
            )
            .await
            .map_err(|e| Error::jetstream("publish", e))
    }
}

/// `message` ready to publish later (kept in the outbox), under the current trace
/// context.
pub fn envelope<M: Message + Name>(subject: String, msg_id: &str, message: &M) -> OutboxMessage {
    OutboxMessage {
        subject,
        msg_id: msg_id.to_string(),
        message_type: M::full_name(),
        payload: message.encode_to_vec(),
        traceparent: headers::current_traceparent().unwrap_or_default(),
    }
}

/// Decodes a payload as `M`, naming the type in the error.
pub fn decode<M: Message + Name + Default>(payload: &[u8]) -> Result<M> {
    M::decode(payload).map_err(Error::decode::<M>)
}
