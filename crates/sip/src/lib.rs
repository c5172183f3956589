//! SIP and SDP as data: messages parsed and written, digest authentication, SDP offers and
//! answers. No sockets, no clock, no randomness: the transaction layer and the trunk user
//! agent (crate `telephony`) do the I/O and hand bytes, times and random numbers in, so
//! every path here can be tested and fuzzed on its own.
//!
//! # Layout
//!
//! - [`message`]: [`Method`], [`Request`], [`Response`], [`Message`], [`parse`] (a UDP
//!   datagram), [`parse_stream`] (TCP framing by Content-Length), [`reason_phrase`].
//! - [`headers`]: [`Headers`] (ordered, compact names, comma-separated lists) and the typed
//!   headers [`Via`], [`CSeq`], [`NameAddr`], [`Reason`], [`SessionExpires`], [`q850_cause`].
//! - [`uri`]: [`Uri`], sip/sips/tel URIs.
//! - [`sdp`]: [`SessionDescription`], our [`Offer`], [`negotiate`] (their answer) and
//!   [`answer`] (their re-offer).
//! - [`digest`]: [`Challenge`], [`Credentials`], [`authorize`] (401/407).
//! - [`ids`]: branch, tag and Call-ID from the caller's random numbers.
//! - [`error`]: [`ParseError`] and its [`ErrorKind`].
//! - `syntax`: the grammar pieces the parsers share (tokens, quoted strings, parameters).

pub mod digest;
pub mod error;
pub mod headers;
pub mod ids;
pub mod message;
pub mod sdp;
mod syntax;
pub mod uri;

pub use digest::{Challenge, Credentials, DigestError, authorize};
pub use error::{ErrorKind, ParseError};
pub use headers::{CSeq, Headers, NameAddr, Reason, Refresher, SessionExpires, Via, q850_cause};
pub use message::{
    MAX_HEADERS, MAX_MESSAGE, Message, Method, Request, Response, parse, parse_stream,
    reason_phrase,
};
pub use sdp::{
    Codec, Direction, MediaDescription, Negotiated, Offer, Origin, SdpError, SessionDescription,
    answer, negotiate,
};
pub use uri::Uri;
