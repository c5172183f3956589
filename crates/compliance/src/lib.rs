//! The compliance engine: decides, for one proposed call at one instant, whether it may be
//! placed, every reason why not, and when it next may.
//!
//! Pure: no I/O, no clock. `now` is part of the request. Rule ids (`US-REGF-08` ...) refer to
//! the project's rule catalogue, summarised in `docs/compliance.md`.

pub mod clock;
pub mod model;
