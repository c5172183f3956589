//! Generated protobuf/gRPC types of the project's public contract (`proto/`), one module per
//! protobuf package, plus the encoded `FileDescriptorSet` that reflection services serve.
//!
//! # Layout
//!
//! - `build.rs`: compiles every `.proto` under `proto/` with protox (no system `protoc`).
//! - [`collections`]: the generated modules, `collections::<package>::v1`: `ledger` and
//!   `dialer` (the two services' contracts) and `common` (the types both use); re-exported as
//!   [`ledger_v1`], [`dialer_v1`] and [`common_v1`].
//! - [`FILE_DESCRIPTOR_SET`]: the same files, encoded, for reflection.

/// Encoded `FileDescriptorSet` of every `.proto` under `proto/` (for tonic-reflection).
pub const FILE_DESCRIPTOR_SET: &[u8] = include_bytes!(concat!(env!("OUT_DIR"), "/descriptor.bin"));

/// Every RPC of `package` (`collections.ledger.v1`) as gRPC routes it
/// (`/collections.ledger.v1.LedgerService/GetAccount`), read from [`FILE_DESCRIPTOR_SET`]: what
/// each server's role table is checked against.
pub fn rpc_paths(package: &str) -> Vec<String> {
    use prost::Message;
    let set = prost_types::FileDescriptorSet::decode(FILE_DESCRIPTOR_SET)
        .expect("the descriptor set this crate's build wrote decodes");
    set.file
        .iter()
        .filter(|f| f.package() == package)
        .flat_map(|f| {
            f.service.iter().flat_map(move |s| {
                s.method
                    .iter()
                    .map(move |m| format!("/{}.{}/{}", f.package(), s.name(), m.name()))
            })
        })
        .collect()
}

/// Largest gRPC message (bytes) every server and client of the project sends or accepts: the
/// ledger's and the dialer's servers, and the dialer's clients to the ledger (its link and
/// its outbox relay), so a message one side may send the other may read. Sized for the
/// largest record the services' bounds allow (a full account, a 1000-outcome page or ingest
/// message, a 100,000-id `AddAccounts`), with room to spare; the ledger's tests check that.
pub const MAX_MESSAGE_BYTES: usize = 16 * 1024 * 1024;

/// `collections.*` protobuf packages.
pub mod collections {
    /// `collections.common.*`
    pub mod common {
        /// `collections.common.v1`: the types the ledger's and the dialer's contracts share
        /// (phone kinds, outcome kinds, dial modes, account filters).
        pub mod v1 {
            #![allow(clippy::all, missing_debug_implementations, rust_2018_idioms)]
            tonic::include_proto!("collections.common.v1");
        }
    }
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

pub use collections::common::v1 as common_v1;
pub use collections::dialer::v1 as dialer_v1;
pub use collections::ledger::v1 as ledger_v1;

#[cfg(test)]
mod tests {
    #[test]
    fn rpc_paths_are_routes_of_the_package_only() {
        let ledger = super::rpc_paths("collections.ledger.v1");
        assert!(ledger.contains(&"/collections.ledger.v1.LedgerService/RecordOutcomes".into()));
        assert!(
            ledger
                .iter()
                .all(|p| p.starts_with("/collections.ledger.v1."))
        );
        assert!(
            super::rpc_paths("collections.dialer.v1")
                .contains(&"/collections.dialer.v1.AgentService/Session".into())
        );
    }
}
