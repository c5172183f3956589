//! Generated protobuf/gRPC types of the project's public contract (`proto/`), one module per
//! protobuf package, plus the encoded `FileDescriptorSet` that reflection services serve.

/// Encoded `FileDescriptorSet` of every `.proto` under `proto/` (for tonic-reflection).
pub const FILE_DESCRIPTOR_SET: &[u8] = include_bytes!(concat!(env!("OUT_DIR"), "/descriptor.bin"));

/// `collections.*` protobuf packages.
pub mod collections {
    /// `collections.dialer.*`
    pub mod dialer {
        /// `collections.dialer.v1`: the dialer's gRPC contract (campaigns, agent sessions,
        /// compliance explanations).
        pub mod v1 {
            #![allow(clippy::all, missing_debug_implementations, rust_2018_idioms)]
            tonic::include_proto!("collections.dialer.v1");
        }
    }
    /// `collections.ledger.*`
    pub mod ledger {
        /// `collections.ledger.v1`: the account ledger's gRPC contract.
        pub mod v1 {
            #![allow(clippy::all, missing_debug_implementations, rust_2018_idioms)]
            tonic::include_proto!("collections.ledger.v1");
        }
    }
}

pub use collections::dialer::v1 as dialer_v1;
pub use collections::ledger::v1 as ledger_v1;
