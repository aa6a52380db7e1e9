//! What arrived on `EVENTS`, decoded by its `Prism-Message-Type` header.
use prism_schemas::v1::{
    ConfigEvent, FlowEvent, JobEvent, NodeEvent, RunRejected, ScheduleEvent, ServiceCall,
    SubmissionRejected,
};
use prost::{Message, Name};

/// One message of the stream, as plain data (so the mapping can be tested without
/// a bus).
#[derive(Debug, Clone)]
pub struct Incoming<'a> {
    pub subject: &'a str,
    pub message_type: Option<&'a str>,
    pub payload: &'a [u8],
    pub stream_sequence: u64,
}

#[derive(Debug, Clone, PartialEq)]
pub enum Event {
    Job(JobEvent),
    Config(ConfigEvent),
    Schedule(ScheduleEvent),
    Flow(FlowEvent),
    SubmitRejected(SubmissionRejected),
    RunRejected(RunRejected),
    Node(NodeEvent),
    /// A service call: history, kept on the stream, never an audit entry.
    ServiceCall,
    /// An unknown type, or a payload that does not decode as its declared type.
    Malformed,
}

impl Event {
    pub fn decode(incoming: &Incoming<'_>) -> Event {
        let Some(message_type) = incoming.message_type else {
            return Event::Malformed;
        };
        let payload = incoming.payload;
        let decoded = match message_type {
            t if t == JobEvent::full_name() => JobEvent::decode(payload).map(Event::Job),
            t if t == ConfigEvent::full_name() => ConfigEvent::decode(payload).map(Event::Config),
            t if t == ScheduleEvent::full_name() => {
                ScheduleEvent::decode(payload).map(Event::Schedule)
            }
            t if t == FlowEvent::full_name() => FlowEvent::decode(payload).map(Event::Flow),
            t if t == SubmissionRejected::full_name() => {
                SubmissionRejected::decode(payload).map(Event::SubmitRejected)
            }
            t if t == RunRejected::full_name() => {
                RunRejected::decode(payload).map(Event::RunRejected)
            }
            t if t == NodeEvent::full_name() => NodeEvent::decode(payload).map(Event::Node),
            t if t == ServiceCall::full_name() => return Event::ServiceCall,
            _ => return Event::Malformed,
        };
        decoded.unwrap_or(Event::Malformed)
    }
}
