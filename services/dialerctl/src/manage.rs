//! The campaign manager's commands over dialerd's gRPC API: `campaign create|add|start|
//! pause|resume|stop|list|show`, `agents` and `explain`. Each prints a table (or key-value lines) by
//! default and one JSON document with `--json` (docs/dialer-service.md gives the shapes);
//! a refusal is one line on stderr and a non-zero exit code (see [`Failure::exit_code`]).

use std::io::Write;
use std::path::PathBuf;

use collections_proto::common_v1 as cpb;
use collections_proto::dialer_v1 as pb;
use serde_json::{Value, json};

use crate::campaign_file::{self, CampaignFile};
use crate::client::{self, ConnArgs, Failure, describe};

#[derive(clap::Subcommand, Debug)]
pub enum CampaignCommand {
    /// Creates a campaign from a file (TOML, YAML or JSON; docs/campaign.example.toml).
    Create {
        /// The campaign file.
        #[arg(short = 'f', long = "file")]
        file: PathBuf,
    },
    /// Queues accounts of the ledger: the ids given, or every account with `--all`.
    Add {
        campaign: String,
        /// Account ids (at most 100000).
        accounts: Vec<String>,
        /// Every account of the ledger, page by page (needs dialerd with a ledger).
        #[arg(long, conflicts_with = "accounts")]
        all: bool,
    },
    /// READY -> RUNNING: the pacer starts dialing.
    Start { campaign: String },
    /// RUNNING -> PAUSED: no new dials; calls in progress go on.
    Pause { campaign: String },
    /// PAUSED -> RUNNING.
    Resume { campaign: String },
    /// Stops for good: no new dials, calls in progress end and are recorded.
    Stop {
        campaign: String,
        /// Answer once the calls in progress have ended (otherwise at once, STOPPING).
        #[arg(long)]
        wait: bool,
    },
    /// Every campaign (or those in one state).
    List {
        /// Only campaigns in this state.
        #[arg(long, value_enum)]
        state: Option<StateArg>,
    },
    /// One campaign's configuration and state (printed as a campaign file).
    Show { campaign: String },
}

#[derive(clap::ValueEnum, Debug, Clone, Copy)]
pub enum StateArg {
    Ready,
    Running,
    Paused,
    Stopping,
    Stopped,
}

/// Runs a manager's command on a fresh runtime; the error is the line to print.
pub fn run(conn: &ConnArgs, what: Manage) -> Result<(), Failure> {
    let c = client::resolve(conn, &|k| std::env::var(k).ok())
        .map_err(|e| Failure::invalid(format!("{e:#}")))?;
    let rt = tokio::runtime::Runtime::new().map_err(|e| Failure {
        kind: client::FailureKind::Other,
        message: e.to_string(),
    })?;
    let out = rt.block_on(async {
        match what {
            Manage::Campaign(cmd) => campaign(&c, cmd).await,
            Manage::Agents { campaign } => agents(&c, campaign).await,
            Manage::Explain(args) => explain(&c, args).await,
        }
    })?;
    let text = if conn.json {
        let mut s = serde_json::to_string_pretty(&out.json).expect("json");
        s.push('\n');
        s
    } else {
        out.text
    };
    let mut stdout = std::io::stdout().lock();
    let _ = stdout.write_all(text.as_bytes());
    let _ = stdout.flush();
    Ok(())
}

/// What a manager asked for.
#[derive(Debug)]
pub enum Manage {
    Campaign(CampaignCommand),
    Agents { campaign: Option<String> },
    Explain(ExplainArgs),
}

#[derive(clap::Args, Debug)]
pub struct ExplainArgs {
    /// The account (its ledger id).
    pub account: String,
    /// Evaluate under this campaign's policy and dial mode (default: the default policy).
    #[arg(long)]
    pub campaign: Option<String>,
    /// The number to call (E.164; default: the account's first phone).
    #[arg(long)]
    pub number: Option<String>,
    /// The instant to evaluate at (RFC 3339; default: now on dialerd's clock).
    #[arg(long)]
    pub at: Option<String>,
}

/// A command's answer in both forms.
struct Output {
    text: String,
    json: Value,
}

async fn campaign(c: &client::Conn, cmd: CampaignCommand) -> Result<Output, Failure> {
    // The file is read before connecting: a bad file fails without a server.
    let file = match &cmd {
        CampaignCommand::Create { file } => Some(campaign_file::read(file)?),
        _ => None,
    };
    let mut client = c.campaigns().await?;
    let one = |r: Result<tonic::Response<pb::Campaign>, tonic::Status>, what: String| {
        r.map(|r| campaign_output(&r.into_inner()))
            .map_err(|s| describe(&s, &what))
    };
    match cmd {
        CampaignCommand::Create { .. } => {
            let f = file.expect("read above");
            let what = format!("campaign create {}", f.campaign_id);
            one(
                client
                    .create_campaign(pb::CreateCampaignRequest {
                        campaign: Some(f.to_proto()),
                    })
                    .await,
                what,
            )
        }
        CampaignCommand::Add {
            campaign,
            accounts,
            all,
        } => add(&mut client, campaign, accounts, all).await,
        CampaignCommand::Start { campaign } => one(
            client
                .start_campaign(pb::StartCampaignRequest {
                    campaign_id: campaign.clone(),
                })
                .await,
            format!("campaign start {campaign}"),
        ),
        CampaignCommand::Pause { campaign } => one(
            client
                .pause_campaign(pb::PauseCampaignRequest {
                    campaign_id: campaign.clone(),
                })
                .await,
            format!("campaign pause {campaign}"),
        ),
        CampaignCommand::Resume { campaign } => one(
            client
                .resume_campaign(pb::ResumeCampaignRequest {
                    campaign_id: campaign.clone(),
                })
                .await,
            format!("campaign resume {campaign}"),
        ),
        CampaignCommand::Stop { campaign, wait } => one(
            client
                .stop_campaign(pb::StopCampaignRequest {
                    campaign_id: campaign.clone(),
                    wait,
                })
                .await,
            format!("campaign stop {campaign}"),
        ),
        CampaignCommand::Show { campaign } => {
            let what = format!("campaign show {campaign}");
            let r = client
                .get_campaign(pb::GetCampaignRequest {
                    campaign_id: campaign,
                })
                .await
                .map_err(|s| describe(&s, &what))?
                .into_inner();
            let mut out = campaign_output(&r);
            let file = toml::to_string(&CampaignFile::from_proto(&r)).unwrap_or_default();
            out.text = format!(
                "# state = {}\n# created_at = {}\n# updated_at = {}\n{file}",
                state_name(r.state),
                ts(r.created_at.as_ref()),
                ts(r.updated_at.as_ref()),
            );
            Ok(out)
        }
        CampaignCommand::List { state } => {
            let state = match state {
                None => pb::CampaignState::Unspecified,
                Some(StateArg::Ready) => pb::CampaignState::Ready,
                Some(StateArg::Running) => pb::CampaignState::Running,
                Some(StateArg::Paused) => pb::CampaignState::Paused,
                Some(StateArg::Stopping) => pb::CampaignState::Stopping,
                Some(StateArg::Stopped) => pb::CampaignState::Stopped,
            };
            let r = client
                .list_campaigns(pb::ListCampaignsRequest {
                    state: state as i32,
                })
                .await
                .map_err(|s| describe(&s, "campaign list"))?
                .into_inner();
            let rows: Vec<Vec<String>> = r
                .campaigns
                .iter()
                .map(|c| {
                    vec![
                        c.campaign_id.clone(),
                        state_name(c.state).to_string(),
                        campaign_file::mode_name(
                            c.pacing
                                .as_ref()
                                .and_then(|p| campaign_file::mode_from(p.mode)),
                        )
                        .to_string(),
                        c.abandon_target.map_or("-".into(), pct),
                        ts(c.updated_at.as_ref()),
                        c.name.clone().unwrap_or_default(),
                    ]
                })
                .collect();
            let text = if rows.is_empty() {
                "no campaigns\n".to_string()
            } else {
                table(
                    &[
                        "CAMPAIGN",
                        "STATE",
                        "PACING",
                        "ABANDON TARGET",
                        "UPDATED",
                        "NAME",
                    ],
                    &rows,
                )
            };
            Ok(Output {
                text,
                json: json!({
                    "campaigns": r.campaigns.iter().map(campaign_json).collect::<Vec<_>>()
                }),
            })
        }
    }
}

async fn add(
    client: &mut client::Campaigns,
    campaign: String,
    accounts: Vec<String>,
    all: bool,
) -> Result<Output, Failure> {
    let what = format!("campaign add {campaign}");
    if accounts.is_empty() && !all {
        return Err(Failure::invalid(format!(
            "{what}: give account ids or --all"
        )));
    }
    let (mut queued, mut not_found, mut unavailable) = (0u64, Vec::new(), Vec::new());
    let mut page_token = String::new();
    loop {
        let r = client
            .add_accounts(pb::AddAccountsRequest {
                campaign_id: campaign.clone(),
                account_ids: if all { Vec::new() } else { accounts.clone() },
                filter: all.then(cpb::AccountFilter::default),
                page_token: page_token.clone(),
            })
            .await
            .map_err(|s| describe(&s, &what))?
            .into_inner();
        queued += u64::from(r.queued);
        not_found.extend(r.not_found);
        unavailable.extend(r.unavailable);
        if r.next_page_token.is_empty() {
            break;
        }
        page_token = r.next_page_token;
    }
    let mut text = format!("campaign {campaign}: {queued} accounts queued\n");
    if !not_found.is_empty() {
        text.push_str(&format!("not found: {}\n", not_found.join(" ")));
    }
    if !unavailable.is_empty() {
        text.push_str(&format!(
            "not queued, the ledger could not be asked (retry): {}\n",
            unavailable.join(" ")
        ));
    }
    Ok(Output {
        text,
        json: json!({"queued": queued, "not_found": not_found, "unavailable": unavailable}),
    })
}

fn campaign_output(c: &pb::Campaign) -> Output {
    Output {
        text: format!(
            "campaign {}: {} ({}, abandonment target {})\n",
            c.campaign_id,
            state_name(c.state),
            campaign_file::mode_name(
                c.pacing
                    .as_ref()
                    .and_then(|p| campaign_file::mode_from(p.mode))
            ),
            c.abandon_target.map_or("-".into(), pct),
        ),
        json: campaign_json(c),
    }
}

/// A campaign in JSON: the campaign file's keys plus `state`, `created_at`, `updated_at`.
fn campaign_json(c: &pb::Campaign) -> Value {
    let mut v = serde_json::to_value(CampaignFile::from_proto(c)).expect("json");
    if let Value::Object(m) = &mut v {
        m.insert("state".into(), json!(state_name(c.state)));
        m.insert("created_at".into(), json!(ts(c.created_at.as_ref())));
        m.insert("updated_at".into(), json!(ts(c.updated_at.as_ref())));
    }
    v
}

async fn agents(c: &client::Conn, campaign: Option<String>) -> Result<Output, Failure> {
    let mut client = c.campaigns().await?;
    let what = match &campaign {
        Some(id) => format!("agents --campaign {id}"),
        None => "agents".to_string(),
    };
    let r = client
        .list_agents(pb::ListAgentsRequest {
            campaign_id: campaign.unwrap_or_default(),
        })
        .await
        .map_err(|s| describe(&s, &what))?
        .into_inner();
    let rows: Vec<Vec<String>> = r
        .agents
        .iter()
        .map(|a| {
            vec![
                a.campaign_id.clone(),
                a.agent_id.clone(),
                seat_name(a.state, &a.pause_code),
                duration(a.in_state_ms),
                if a.call_id.is_empty() {
                    "-".into()
                } else {
                    a.call_id.clone()
                },
                a.calls.to_string(),
                duration(a.talk_ms),
            ]
        })
        .collect();
    let text = if rows.is_empty() {
        "no agents logged in\n".to_string()
    } else {
        table(
            &[
                "CAMPAIGN", "AGENT", "STATE", "IN STATE", "CALL", "CALLS", "TALK",
            ],
            &rows,
        )
    };
    let json = json!({
        "agents": r.agents.iter().map(|a| json!({
            "campaign_id": a.campaign_id,
            "agent_id": a.agent_id,
            "state": seat_state(a.state),
            "pause_code": a.pause_code,
            "since": ts(a.since.as_ref()),
            "in_state_s": a.in_state_ms / 1000,
            "call_id": a.call_id,
            "calls": a.calls,
            "talk_s": a.talk_ms / 1000,
        })).collect::<Vec<_>>()
    });
    Ok(Output { text, json })
}

async fn explain(c: &client::Conn, args: ExplainArgs) -> Result<Output, Failure> {
    let at = match &args.at {
        None => None,
        Some(s) => {
            let t: jiff::Timestamp = s
                .parse()
                .map_err(|e| Failure::invalid(format!("--at {s:?}: {e}")))?;
            Some(prost_types::Timestamp {
                seconds: t.as_second(),
                nanos: t.subsec_nanosecond(),
            })
        }
    };
    let mut client = c.explainer().await?;
    let what = format!("explain {}", args.account);
    let e = client
        .explain(pb::ExplainRequest {
            account_id: args.account.clone(),
            at,
            number: args.number.clone().unwrap_or_default(),
            debt_ids: Vec::new(),
            campaign_id: args.campaign.clone().unwrap_or_default(),
            mode: 0,
        })
        .await
        .map_err(|s| describe(&s, &what))?
        .into_inner();
    let verdict = match pb::Verdict::try_from(e.verdict) {
        Ok(pb::Verdict::Allow) => "allow",
        Ok(pb::Verdict::Defer) => "defer",
        Ok(pb::Verdict::Deny) => "deny",
        _ => "unspecified",
    };
    let mode = cpb::DialMode::try_from(e.mode)
        .map(|m| {
            m.as_str_name()
                .trim_start_matches("DIAL_MODE_")
                .to_ascii_lowercase()
        })
        .unwrap_or_default();
    let findings = |v: &[pb::Finding]| -> Value {
        v.iter()
            .map(|f| json!({"code": f.code, "rule_id": f.rule_id, "detail": f.detail}))
            .collect()
    };
    let mut text = format!(
        "account {}: {verdict} at {} ({mode}{})\n",
        args.account,
        ts(e.at.as_ref()),
        args.campaign
            .as_ref()
            .map(|c| format!(", campaign {c}"))
            .unwrap_or_default()
    );
    if let Some(n) = &e.next_eligible {
        text.push_str(&format!("next eligible: {}\n", ts(Some(n))));
    }
    for (title, list) in [
        ("reasons", &e.reasons),
        ("warnings", &e.warnings),
        ("notes", &e.notes),
    ] {
        if list.is_empty() {
            continue;
        }
        text.push_str(&format!("{title}:\n"));
        let rows: Vec<Vec<String>> = list
            .iter()
            .map(|f| vec![f.code.clone(), f.rule_id.clone(), f.detail.clone()])
            .collect();
        for line in table(&["CODE", "RULE", "DETAIL"], &rows).lines() {
            text.push_str("  ");
            text.push_str(line);
            text.push('\n');
        }
    }
    if !e.zones.is_empty() {
        text.push_str("zones:\n");
        for z in &e.zones {
            text.push_str(&format!(
                "  {} (local {}) from {}\n",
                z.zone,
                z.local_time,
                z.sources.join(", ")
            ));
        }
    }
    text.push_str(&format!(
        "counts toward US-REGF-08: {}; packs: {}; rules {}\n",
        if e.counted { "yes" } else { "no" },
        e.packs.join(", "),
        e.ruleset_version
    ));
    let json = json!({
        "account_id": args.account,
        "verdict": verdict,
        "reasons": findings(&e.reasons),
        "warnings": findings(&e.warnings),
        "notes": findings(&e.notes),
        "zones": e.zones.iter().map(|z| json!({
            "zone": z.zone, "sources": z.sources, "local_time": z.local_time
        })).collect::<Vec<_>>(),
        "next_eligible": e.next_eligible.as_ref().map(|t| ts(Some(t))),
        "counted": e.counted,
        "packs": e.packs,
        "ruleset_version": e.ruleset_version,
        "at": ts(e.at.as_ref()),
        "debt_ids": e.debt_ids,
        "mode": mode,
    });
    Ok(Output { text, json })
}

/// A state's lower-case name (`running`), as tables and JSON write it.
pub fn state_name(v: i32) -> &'static str {
    match pb::CampaignState::try_from(v) {
        Ok(pb::CampaignState::Ready) => "ready",
        Ok(pb::CampaignState::Running) => "running",
        Ok(pb::CampaignState::Paused) => "paused",
        Ok(pb::CampaignState::Stopping) => "stopping",
        Ok(pb::CampaignState::Stopped) => "stopped",
        _ => "unspecified",
    }
}

/// A seat state's lower-case name (`on_call`).
pub fn seat_state(v: i32) -> &'static str {
    match pb::SeatState::try_from(v) {
        Ok(pb::SeatState::LoggedOut) => "logged_out",
        Ok(pb::SeatState::NotReady) => "not_ready",
        Ok(pb::SeatState::Ready) => "ready",
        Ok(pb::SeatState::Reserved) => "reserved",
        Ok(pb::SeatState::OnCall) => "on_call",
        Ok(pb::SeatState::WrapUp) => "wrap_up",
        _ => "unspecified",
    }
}

/// A seat state with its pause code, for tables: `not_ready (break)`.
pub fn seat_name(v: i32, pause_code: &str) -> String {
    if pause_code.is_empty() {
        seat_state(v).to_string()
    } else {
        format!("{} ({pause_code})", seat_state(v))
    }
}

/// `h:mm:ss` or `m:ss`.
pub fn duration(ms: u64) -> String {
    let s = ms / 1000;
    if s >= 3600 {
        format!("{}:{:02}:{:02}", s / 3600, s / 60 % 60, s % 60)
    } else {
        format!("{}:{:02}", s / 60, s % 60)
    }
}

/// A ratio as a percentage with two decimals.
pub fn pct(v: f64) -> String {
    format!("{:.2}%", v * 100.0)
}

/// RFC 3339 (UTC, seconds), or `-`.
pub fn ts(t: Option<&prost_types::Timestamp>) -> String {
    t.and_then(|t| jiff::Timestamp::new(t.seconds, t.nanos).ok())
        .map(|t| t.round(jiff::Unit::Second).unwrap_or(t).to_string())
        .unwrap_or_else(|| "-".into())
}

/// Left-aligned columns, two spaces apart, a header line first.
pub fn table(header: &[&str], rows: &[Vec<String>]) -> String {
    let mut widths: Vec<usize> = header.iter().map(|h| h.chars().count()).collect();
    for r in rows {
        for (w, cell) in widths.iter_mut().zip(r) {
            *w = (*w).max(cell.chars().count());
        }
    }
    let mut out = String::new();
    let mut line = |cells: &mut dyn Iterator<Item = &str>| {
        let mut l = String::new();
        for (i, (cell, w)) in cells.zip(&widths).enumerate() {
            if i > 0 {
                l.push_str("  ");
            }
            l.push_str(cell);
            l.extend(std::iter::repeat_n(' ', w - cell.chars().count()));
        }
        out.push_str(l.trim_end());
        out.push('\n');
    };
    line(&mut header.iter().copied());
    for r in rows {
        line(&mut r.iter().map(String::as_str));
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tables_align_and_durations_read_as_clocks() {
        let t = table(
            &["A", "BB"],
            &[
                vec!["long-id".into(), "x".into()],
                vec!["s".into(), "".into()],
            ],
        );
        assert_eq!(t, "A        BB\nlong-id  x\ns\n");
        assert_eq!(duration(61_000), "1:01");
        assert_eq!(duration(3_723_000), "1:02:03");
        assert_eq!(pct(0.0312), "3.12%");
    }
}
