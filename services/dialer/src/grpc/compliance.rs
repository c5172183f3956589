//! `ComplianceService.Explain`: why an account may or may not be called, from the same
//! account source, request builder and compliance engine the campaigns use.

use collections_proto::dialer_v1 as pb;
use compliance::model::DialMode;
use jiff::Timestamp;
use tonic::{Request, Response, Status};

use super::Shared;
use super::convert;
use super::status::{self, invalid};
use crate::account::AccountSource;
use crate::engine::Backend;

/// The ComplianceService implementation.
pub struct ComplianceGrpc<B: Backend> {
    registry: Shared<B>,
}

impl<B: Backend> std::fmt::Debug for ComplianceGrpc<B> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ComplianceGrpc").finish_non_exhaustive()
    }
}

impl<B: Backend> ComplianceGrpc<B> {
    pub fn new(registry: Shared<B>) -> Self {
        ComplianceGrpc { registry }
    }
}

#[tonic::async_trait]
impl<B: Backend> pb::compliance_service_server::ComplianceService for ComplianceGrpc<B> {
    async fn explain(
        &self,
        req: Request<pb::ExplainRequest>,
    ) -> Result<Response<pb::Explanation>, Status> {
        let r = req.into_inner();
        convert::id("account_id", &r.account_id)?;
        let at = match &r.at {
            Some(t) => convert::ts_from(t, "at")?,
            None => Timestamp::from_millisecond(self.registry.clock().now_ms())
                .map_err(|_| status::clock_out_of_range())?,
        };
        convert::at_most("debt_ids", &r.debt_ids, crate::limits::MAX_DEBTS)?;
        if r.campaign_id.len() > crate::limits::CAMPAIGN_ID_BYTES {
            return Err(invalid(
                "campaign_id",
                format_args!("at most {} bytes", crate::limits::CAMPAIGN_ID_BYTES),
            ));
        }
        let spec = if r.campaign_id.is_empty() {
            None
        } else {
            Some(
                self.registry
                    .get(&r.campaign_id)
                    .map_err(status::registry)?
                    .spec,
            )
        };
        let mode = convert::dial_mode_from(r.mode, "mode")?
            .or(spec.as_ref().map(|s| s.dial_mode()))
            .unwrap_or(DialMode::Predictive);
        let backend = self.registry.backend();
        let view = backend
            .source()
            .load(&r.account_id)
            .await
            .map_err(status::source)?;
        let order = spec
            .as_ref()
            .map(|s| s.recycling.phone_order.clone())
            .unwrap_or_else(|| queue::recycle::RecyclePolicy::default().phone_order);
        let number = if r.number.is_empty() {
            view.phones_in_order(&order)
                .first()
                .map(|p| p.number.clone())
                .ok_or_else(|| invalid("number", "required: the account has no phone on file"))?
        } else {
            ledger_api::domain::validate_e164("number", &r.number).map_err(status::contract)?;
            r.number
        };
        let known = view.debt_ids();
        let debts = if r.debt_ids.is_empty() {
            if known.is_empty() {
                return Err(invalid("debt_ids", "required: the account has no debt"));
            }
            known
        } else {
            for (i, d) in r.debt_ids.iter().enumerate() {
                if !known.contains(d) {
                    return Err(invalid(
                        format_args!("debt_ids[{i}]"),
                        format_args!("{d} is not a debt of account {}", r.account_id),
                    ));
                }
            }
            r.debt_ids
        };
        let policy = spec.map(|s| s.compliance).unwrap_or_default();
        let request = view.call_request(&number, &debts, at, mode);
        let decision = backend
            .compliance()
            .evaluate(&request, &policy)
            .map_err(status::compliance_input)?;
        Ok(Response::new(convert::explanation_to(
            &decision, at, &number, &debts, mode,
        )))
    }
}
