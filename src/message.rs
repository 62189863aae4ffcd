//! A published message as it travels through the broker: routing info, the decoded
//! properties routing needs, the publisher's raw property bytes and the body. Shared by
//! `Arc` between every queue it was routed to; never copied per queue.

use amq_protocol::protocol::BasicProperties;
use bytes::Bytes;

#[derive(Debug)]
pub struct Message {
    pub exchange: String,
    pub routing_key: String,
    pub properties: BasicProperties,
    /// Properties as encoded on the wire (re-encoded only when the broker changed them).
    pub raw_properties: Bytes,
    pub body: Bytes,
}

impl Message {
    pub fn persistent(&self) -> bool {
        self.properties.delivery_mode() == &Some(2)
    }

    pub fn body_size(&self) -> u64 {
        self.body.len() as u64
    }
}
