//! `dialerctl test-call`: one call through a SIP trunk, to check it. Prints the outcome
//! class, the SIP final status, the Q.850 cause, the AMD verdict and its cause, and the
//! timings from the INVITE (to the first 18x, the 200 and the verdict); `--json` prints one
//! JSON object instead, for scripts (the field names are a contract: extend, never rename).

use std::net::SocketAddr;
use std::path::PathBuf;

use anyhow::Context as _;
use serde::Serialize;
use telephony::config::{SipConfig, Transport, Trunk};

#[derive(clap::Args, Debug)]
pub struct TestCallArgs {
    /// The trunk: `sip:HOST[:PORT]` (`;transport=tcp` for TCP).
    #[arg(long)]
    trunk: String,
    /// The number to call, E.164 (`+1NXXNXXXXXX`).
    #[arg(long)]
    number: String,
    /// Digest user name, when the trunk challenges.
    #[arg(long)]
    user: Option<String>,
    /// Digest password.
    #[arg(long, requires = "user")]
    password: Option<String>,
    /// The number presented.
    #[arg(long, default_value = "+15550100000")]
    caller_id: String,
    /// Print one JSON object.
    #[arg(long)]
    json: bool,
    /// Where the user agent listens (SIP and RTP).
    #[arg(long, default_value = "0.0.0.0:0")]
    bind: SocketAddr,
    /// Use TCP towards the trunk.
    #[arg(long)]
    tcp: bool,
    /// Ring timeout in seconds (at least the 15 s minimum ring).
    #[arg(long, default_value_t = 30)]
    ring_timeout_s: u64,
    /// A config file's `[carrier]` section to start from (AMD thresholds, codecs, ...).
    #[arg(long)]
    config: Option<PathBuf>,
}

/// The JSON printed with `--json`.
#[derive(Debug, Serialize)]
struct Output {
    outcome: &'static str,
    sip_status: u16,
    q850_cause: Option<u8>,
    amd_verdict: Option<&'static str>,
    amd_cause: Option<&'static str>,
    early_media: Option<&'static str>,
    end_cause: &'static str,
    trunk: Option<String>,
    timings_ms: Timings,
}

#[derive(Debug, Serialize)]
struct Timings {
    invite_to_18x: Option<u64>,
    invite_to_200: Option<u64>,
    invite_to_verdict: Option<u64>,
    invite_to_end: u64,
}

pub fn run(args: &TestCallArgs) -> anyhow::Result<()> {
    let trunk = Trunk {
        name: "test".into(),
        uri: args.trunk.clone(),
        transport: args.tcp.then_some(Transport::Tcp),
        outbound_proxy: None,
        username: args.user.clone(),
        password: args.password.clone(),
        caller_id: None,
        headers: vec![],
    };
    let mut cfg = match &args.config {
        Some(path) => {
            #[derive(serde::Deserialize)]
            struct File {
                carrier: SipConfig,
            }
            let text = std::fs::read_to_string(path)
                .with_context(|| format!("reading {}", path.display()))?;
            let mut file: File =
                toml::from_str(&text).with_context(|| format!("parsing {}", path.display()))?;
            file.carrier.trunks = vec![trunk];
            file.carrier
        }
        None => SipConfig::single(trunk),
    };
    cfg.bind = args.bind;
    cfg.ring_timeout_s = args.ring_timeout_s;
    let rt = tokio::runtime::Runtime::new()?;
    let report = rt
        .block_on(telephony::test_call(&cfg, &args.number, &args.caller_id))
        .context("test call")?;
    let ms = |d: Option<std::time::Duration>| d.map(|d| d.as_millis() as u64);
    let out = Output {
        outcome: report.class.as_str(),
        sip_status: report.end.status.0,
        q850_cause: report.end.q850.map(|q| q.0),
        amd_verdict: report.amd.map(|a| verdict(a.verdict)),
        amd_cause: report.amd.map(|a| cause(a.cause)),
        early_media: report.end.early_media.map(early),
        end_cause: end_cause(report.end.cause),
        trunk: report.trunk.clone(),
        timings_ms: Timings {
            invite_to_18x: ms(report.end.timings.progress),
            invite_to_200: ms(report.end.timings.answer),
            invite_to_verdict: ms(report.end.timings.verdict),
            invite_to_end: report.end.timings.end.as_millis() as u64,
        },
    };
    if args.json {
        println!("{}", serde_json::to_string(&out)?);
        return Ok(());
    }
    let opt = |v: Option<u64>| v.map_or("-".to_string(), |v| format!("{v} ms"));
    println!("outcome      {}", out.outcome);
    println!("sip status   {}", out.sip_status);
    println!(
        "q850 cause   {}",
        out.q850_cause.map_or("-".into(), |c| c.to_string())
    );
    println!(
        "amd          {} ({})",
        out.amd_verdict.unwrap_or("-"),
        out.amd_cause.unwrap_or("-")
    );
    println!("early media  {}", out.early_media.unwrap_or("-"));
    println!("ended        {}", out.end_cause);
    println!("INVITE->18x  {}", opt(out.timings_ms.invite_to_18x));
    println!("INVITE->200  {}", opt(out.timings_ms.invite_to_200));
    println!("->verdict    {}", opt(out.timings_ms.invite_to_verdict));
    println!("->end        {} ms", out.timings_ms.invite_to_end);
    Ok(())
}

fn verdict(v: carrier::Verdict) -> &'static str {
    match v {
        carrier::Verdict::Human => "human",
        carrier::Verdict::Machine => "machine",
        carrier::Verdict::NotSure => "not_sure",
    }
}

fn cause(c: carrier::AmdCause) -> &'static str {
    use carrier::AmdCause::*;
    match c {
        ShortGreeting => "short_greeting",
        LongGreeting => "long_greeting",
        TooManyWords => "too_many_words",
        Beep => "beep",
        InitialSilence => "initial_silence",
        MaxTime => "max_time",
    }
}

fn early(e: carrier::EarlyMedia) -> &'static str {
    match e {
        carrier::EarlyMedia::Ringback => "ringback",
        carrier::EarlyMedia::BusyTone => "busy_tone",
        carrier::EarlyMedia::Sit => "sit",
        carrier::EarlyMedia::Announcement => "announcement",
    }
}

fn end_cause(c: carrier::EndCause) -> &'static str {
    use carrier::EndCause::*;
    match c {
        Busy => "busy",
        Sit => "sit",
        Failed => "failed",
        NoAnswer => "no_answer",
        Cancelled => "cancelled",
        RemoteHangup => "remote_hangup",
        LocalHangup => "local_hangup",
    }
}
