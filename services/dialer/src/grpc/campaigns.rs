//! `CampaignService`: campaign life cycle, account loading and live figures, for managers.

use std::collections::HashSet;
use std::pin::Pin;

use collections_proto::dialer_v1 as pb;
use tokio::sync::{mpsc, watch};
use tokio_stream::Stream;
use tokio_stream::wrappers::ReceiverStream;
use tonic::{Request, Response, Status};

use super::Shared;
use super::convert::{self, agent_status_to, campaign_to, figures_to, trend_point_to};
use super::status::{self, invalid};
use crate::campaign::CampaignSpec;
use crate::engine::{Backend, RunState};

use crate::limits::MAX_ACCOUNTS_PER_ADD as MAX_ACCOUNTS_PER_REQUEST;

/// A life-cycle step a manager asks of a campaign.
#[derive(Debug, Clone, Copy)]
enum Step {
    Start,
    Pause,
    Resume,
    /// `wait`: answer once the calls in progress have ended.
    Stop {
        wait: bool,
    },
}

/// The CampaignService implementation.
pub struct CampaignGrpc<B: Backend> {
    registry: Shared<B>,
    /// Becomes true when the server shuts down: watch streams end.
    stop: watch::Receiver<bool>,
}

impl<B: Backend> std::fmt::Debug for CampaignGrpc<B> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("CampaignGrpc").finish_non_exhaustive()
    }
}

impl<B: Backend> CampaignGrpc<B> {
    pub fn new(registry: Shared<B>, stop: watch::Receiver<bool>) -> Self {
        CampaignGrpc { registry, stop }
    }

    /// The life-cycle RPCs (start, pause, resume, stop): a campaign id in, the campaign as the
    /// step left it out.
    async fn life_cycle(&self, id: &str, step: Step) -> Result<Response<pb::Campaign>, Status> {
        let id = campaign_id(id)?;
        let registry = &self.registry;
        let info = match step {
            Step::Start => registry.start(id).await,
            Step::Pause => registry.pause(id).await,
            Step::Resume => registry.resume_campaign(id).await,
            Step::Stop { wait } => registry.stop(id, wait).await,
        }
        .map_err(status::registry)?;
        Ok(Response::new(campaign_to(&info)))
    }

    fn pack_ids(&self) -> Vec<&'static str> {
        self.registry
            .backend()
            .compliance()
            .ruleset()
            .packs
            .iter()
            .map(|p| p.id)
            .collect()
    }
}

fn campaign_id(v: &str) -> Result<&str, Status> {
    if v.is_empty() {
        return Err(invalid("campaign_id", "required"));
    }
    if v.len() > crate::limits::CAMPAIGN_ID_BYTES {
        return Err(invalid(
            "campaign_id",
            format_args!("at most {} characters", crate::limits::CAMPAIGN_ID_BYTES),
        ));
    }
    Ok(v)
}

type FiguresStream = Pin<Box<dyn Stream<Item = Result<pb::Figures, Status>> + Send>>;

#[tonic::async_trait]
impl<B: Backend> pb::campaign_service_server::CampaignService for CampaignGrpc<B> {
    async fn create_campaign(
        &self,
        req: Request<pb::CreateCampaignRequest>,
    ) -> Result<Response<pb::Campaign>, Status> {
        let c = req
            .into_inner()
            .campaign
            .ok_or_else(|| invalid("campaign", "required"))?;
        let base = CampaignSpec {
            id: c.campaign_id.clone(),
            ..CampaignSpec::default()
        };
        let spec = convert::merge_campaign(c, base, &self.pack_ids())?;
        let info = self.registry.create(spec).await.map_err(status::registry)?;
        Ok(Response::new(campaign_to(&info)))
    }

    async fn update_campaign(
        &self,
        req: Request<pb::UpdateCampaignRequest>,
    ) -> Result<Response<pb::Campaign>, Status> {
        let c = req
            .into_inner()
            .campaign
            .ok_or_else(|| invalid("campaign", "required"))?;
        if c.campaign_id.is_empty() {
            return Err(invalid("campaign.campaign_id", "required"));
        }
        let current = self
            .registry
            .get(&c.campaign_id)
            .map_err(status::registry)?
            .spec;
        let spec = convert::merge_campaign(c, current, &self.pack_ids())?;
        let info = self.registry.update(spec).await.map_err(status::registry)?;
        Ok(Response::new(campaign_to(&info)))
    }

    async fn get_campaign(
        &self,
        req: Request<pb::GetCampaignRequest>,
    ) -> Result<Response<pb::Campaign>, Status> {
        let r = req.into_inner();
        let info = self
            .registry
            .get(campaign_id(&r.campaign_id)?)
            .map_err(status::registry)?;
        Ok(Response::new(campaign_to(&info)))
    }

    async fn list_campaigns(
        &self,
        req: Request<pb::ListCampaignsRequest>,
    ) -> Result<Response<pb::ListCampaignsResponse>, Status> {
        let want = convert::state_from(req.into_inner().state, "state")?;
        let campaigns = self
            .registry
            .list()
            .iter()
            .filter(|c| want.is_none_or(|s| s == c.state))
            .map(campaign_to)
            .collect();
        Ok(Response::new(pb::ListCampaignsResponse { campaigns }))
    }

    async fn start_campaign(
        &self,
        req: Request<pb::StartCampaignRequest>,
    ) -> Result<Response<pb::Campaign>, Status> {
        self.life_cycle(&req.into_inner().campaign_id, Step::Start)
            .await
    }

    async fn pause_campaign(
        &self,
        req: Request<pb::PauseCampaignRequest>,
    ) -> Result<Response<pb::Campaign>, Status> {
        self.life_cycle(&req.into_inner().campaign_id, Step::Pause)
            .await
    }

    async fn resume_campaign(
        &self,
        req: Request<pb::ResumeCampaignRequest>,
    ) -> Result<Response<pb::Campaign>, Status> {
        self.life_cycle(&req.into_inner().campaign_id, Step::Resume)
            .await
    }

    async fn stop_campaign(
        &self,
        req: Request<pb::StopCampaignRequest>,
    ) -> Result<Response<pb::Campaign>, Status> {
        let r = req.into_inner();
        self.life_cycle(&r.campaign_id, Step::Stop { wait: r.wait })
            .await
    }

    async fn add_accounts(
        &self,
        req: Request<pb::AddAccountsRequest>,
    ) -> Result<Response<pb::AddAccountsResponse>, Status> {
        let r = req.into_inner();
        let id = campaign_id(&r.campaign_id)?;
        match (r.account_ids.is_empty(), r.filter) {
            (false, Some(_)) => {
                return Err(invalid(
                    "account_ids",
                    "give account ids or a filter, not both",
                ));
            }
            (true, None) => return Err(invalid("account_ids", "required (or a filter)")),
            (true, Some(f)) => {
                let filter = convert::account_filter(f)?;
                if r.page_token.len() > crate::limits::PAGE_TOKEN_BYTES {
                    return Err(invalid(
                        "page_token",
                        format_args!("at most {} bytes", crate::limits::PAGE_TOKEN_BYTES),
                    ));
                }
                let (report, next) = self
                    .registry
                    .add_by_filter(id, &filter, &r.page_token)
                    .await
                    .map_err(status::registry)?;
                return Ok(Response::new(pb::AddAccountsResponse {
                    queued: report.queued,
                    not_found: report.not_found,
                    unavailable: report.unavailable,
                    next_page_token: next.unwrap_or_default(),
                }));
            }
            (false, None) => {}
        }
        if !r.page_token.is_empty() {
            return Err(invalid("page_token", "only with a filter"));
        }
        if r.account_ids.len() > MAX_ACCOUNTS_PER_REQUEST {
            return Err(invalid(
                "account_ids",
                format!("at most {MAX_ACCOUNTS_PER_REQUEST} per request"),
            ));
        }
        let mut seen = HashSet::with_capacity(r.account_ids.len());
        let mut ids = Vec::with_capacity(r.account_ids.len());
        for (i, a) in r.account_ids.into_iter().enumerate() {
            convert::id(&format!("account_ids[{i}]"), &a)?;
            if seen.insert(a.clone()) {
                ids.push(a);
            }
        }
        let report = self
            .registry
            .add_accounts(id, ids)
            .await
            .map_err(status::registry)?;
        Ok(Response::new(pb::AddAccountsResponse {
            queued: report.queued,
            not_found: report.not_found,
            unavailable: report.unavailable,
            next_page_token: String::new(),
        }))
    }

    async fn list_agents(
        &self,
        req: Request<pb::ListAgentsRequest>,
    ) -> Result<Response<pb::ListAgentsResponse>, Status> {
        let r = req.into_inner();
        let mut figures = if r.campaign_id.is_empty() {
            self.registry
                .figures()
                .into_iter()
                .map(|(_, f)| f)
                .collect()
        } else {
            let id = campaign_id(&r.campaign_id)?;
            let f = self
                .registry
                .watch(id)
                .map_err(status::registry)?
                .borrow()
                .clone();
            vec![f]
        };
        figures.sort_by(|a, b| a.campaign_id.cmp(&b.campaign_id));
        let agents = figures
            .iter()
            .flat_map(|f| {
                f.roster
                    .iter()
                    .map(|a| agent_status_to(a, &f.campaign_id, f.at_ms))
            })
            .collect();
        Ok(Response::new(pb::ListAgentsResponse { agents }))
    }

    type WatchCampaignStream = FiguresStream;

    async fn watch_campaign(
        &self,
        req: Request<pb::WatchCampaignRequest>,
    ) -> Result<Response<FiguresStream>, Status> {
        let r = req.into_inner();
        let id = campaign_id(&r.campaign_id)?;
        let mut figures = self.registry.watch(id).map_err(status::registry)?;
        // The shift so far rides on the first message, when asked for.
        let history = if r.history {
            self.registry.trend(id).map_err(status::registry)?
        } else {
            Vec::new()
        };
        let mut stop = self.stop.clone();
        let (tx, rx) = mpsc::channel(4);
        tokio::spawn(async move {
            let mut first = figures_to(&figures.borrow_and_update());
            first.history = history.iter().map(trend_point_to).collect();
            if tx.send(Ok(first)).await.is_err() {
                return;
            }
            loop {
                tokio::select! {
                    changed = figures.changed() => {
                        if changed.is_err() {
                            // The campaign task has ended; its last figures were sent.
                            return;
                        }
                        let f = figures.borrow_and_update().clone();
                        let last = f.state == RunState::Stopped;
                        if tx.send(Ok(figures_to(&f))).await.is_err() || last {
                            return;
                        }
                    }
                    () = super::stopped(&mut stop) => {
                        let _ = tx.send(Err(status::shutting_down())).await;
                        return;
                    }
                    () = tx.closed() => return,
                }
            }
        });
        Ok(Response::new(Box::pin(ReceiverStream::new(rx))))
    }
}
