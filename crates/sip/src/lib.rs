//! SIP and SDP as data: messages parsed and written, digest authentication, SDP offers and answers. No sockets.
