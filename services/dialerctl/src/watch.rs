//! `dialerctl watch CAMPAIGN`: the floor manager's live terminal view, redrawn from
//! `CampaignService.WatchCampaign`'s stream of figures: abandonment today and over the
//! rolling window against the target (yellow from 80 % of it, red at or over it), occupancy,
//! the last hour's dials, answers, contacts and promises, agents by state with time in state,
//! calls in progress, the pacing ratio and refusals by reason code, and sparklines of
//! abandonment and occupancy over the shift (the shift so far comes with the stream's first
//! message, so a view opened mid-shift shows it whole). Keys: `p` pause, `r` resume, `q`
//! quit.
//!
//! Drawing ([`render`]) and key handling ([`on_key`]) are pure functions, tested on ratatui's
//! `TestBackend`; [`run`] is the only part touching the terminal and the network.

use collections_proto::dialer_v1 as pb;
use ratatui::Frame;
use ratatui::crossterm::event::{self, Event, KeyCode, KeyEvent, KeyEventKind, KeyModifiers};
use ratatui::layout::{Constraint, Layout, Rect};
use ratatui::style::{Color, Modifier, Style};
use ratatui::text::{Line, Span};
use ratatui::widgets::{Block, Borders, Cell, Paragraph, Row, Table};
use tokio::sync::mpsc;

use crate::client::{self, ConnArgs, Failure, FailureKind, describe};
use crate::manage::{duration, pct, seat_name, state_name, ts};

/// What the view shows besides the figures.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Ui {
    pub campaign: String,
    /// The last action's result or the stream's end, shown in the footer.
    pub status: String,
    /// Abandonment and occupancy over the shift, a point a minute, oldest first.
    pub shift: Vec<ShiftPoint>,
}

/// One minute of the shift in the sparklines.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct ShiftPoint {
    /// The campaign's clock, ms.
    pub at_ms: i64,
    pub abandon_rate_today: f64,
    pub occupancy: f64,
}

/// A point a minute of the campaign's clock, as dialerd keeps them.
const SHIFT_EVERY_MS: i64 = 60_000;
/// 12 hours of them, as dialerd keeps.
const SHIFT_POINTS: usize = 720;

fn ms(t: Option<&prost_types::Timestamp>) -> i64 {
    t.map_or(0, |t| t.seconds * 1000 + i64::from(t.nanos) / 1_000_000)
}

impl Ui {
    /// Follows the shift: the history the first message brings replaces what the view had,
    /// then live figures add a point a minute (none before the campaign starts).
    pub fn follow(&mut self, f: &pb::Figures) {
        if !f.history.is_empty() {
            self.shift = f
                .history
                .iter()
                .map(|p| ShiftPoint {
                    at_ms: ms(p.at.as_ref()),
                    abandon_rate_today: p.abandon_rate_today,
                    occupancy: p.occupancy,
                })
                .collect();
        }
        if f.state == pb::CampaignState::Ready as i32 {
            return;
        }
        let at_ms = ms(f.at.as_ref());
        if self
            .shift
            .last()
            .is_none_or(|p| at_ms >= p.at_ms + SHIFT_EVERY_MS)
        {
            self.shift.push(ShiftPoint {
                at_ms,
                abandon_rate_today: f.abandon_rate_today,
                occupancy: f.occupancy,
            });
        }
        if self.shift.len() > SHIFT_POINTS {
            self.shift.drain(..self.shift.len() - SHIFT_POINTS);
        }
    }
}

/// Eight heights of a sparkline cell.
const BARS: [char; 8] = ['▁', '▂', '▃', '▄', '▅', '▆', '▇', '█'];

/// `values` as at most `width` sparkline cells scaled to `max`: the whole series, each cell
/// the last value of its share of it (rates since the start of the day move slowly, so the
/// last one stands for its minutes).
pub fn sparkline(values: &[f64], max: f64, width: usize) -> String {
    if values.is_empty() || width == 0 {
        return String::new();
    }
    let cells = values.len().min(width);
    (0..cells)
        .map(|i| {
            let end = ((i + 1) * values.len()).div_ceil(cells).min(values.len());
            let v = values[end - 1];
            let share = if max > 0.0 {
                (v / max).clamp(0.0, 1.0)
            } else {
                0.0
            };
            BARS[(share * (BARS.len() - 1) as f64).round() as usize]
        })
        .collect()
}

/// What a key asks for.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Action {
    Pause,
    Resume,
    Quit,
}

/// The action of a key press (`p`, `r`, `q`, Esc, Ctrl-C); other keys and releases do
/// nothing.
pub fn on_key(key: KeyEvent) -> Option<Action> {
    if key.kind == KeyEventKind::Release {
        return None;
    }
    match key.code {
        KeyCode::Char('c') if key.modifiers.contains(KeyModifiers::CONTROL) => Some(Action::Quit),
        KeyCode::Char('p' | 'P') => Some(Action::Pause),
        KeyCode::Char('r' | 'R') => Some(Action::Resume),
        KeyCode::Char('q' | 'Q') | KeyCode::Esc => Some(Action::Quit),
        _ => None,
    }
}

/// How an abandonment rate stands against its target.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Level {
    Ok,
    /// At 80 % of the target or more: slow down before the limit is reached.
    Near,
    /// At or over the target.
    Over,
}

/// Share of the target from which a rate is shown as near it.
pub const NEAR_SHARE: f64 = 0.8;

pub fn level(rate: f64, target: f64) -> Level {
    if target <= 0.0 {
        return Level::Ok;
    }
    if rate >= target {
        Level::Over
    } else if rate >= NEAR_SHARE * target {
        Level::Near
    } else {
        Level::Ok
    }
}

fn level_style(l: Level) -> Style {
    match l {
        Level::Ok => Style::default().fg(Color::Green),
        Level::Near => Style::default()
            .fg(Color::Yellow)
            .add_modifier(Modifier::BOLD),
        Level::Over => Style::default().fg(Color::Red).add_modifier(Modifier::BOLD),
    }
}

fn level_word(l: Level) -> &'static str {
    match l {
        Level::Ok => "ok",
        Level::Near => "NEAR LIMIT",
        Level::Over => "OVER LIMIT",
    }
}

/// Draws the whole view for `figures` (none yet: a waiting line) and `ui`.
pub fn render(frame: &mut Frame<'_>, figures: Option<&pb::Figures>, ui: &Ui) {
    let [head, mid, shift, low, foot] = Layout::vertical([
        Constraint::Length(4),
        Constraint::Length(6),
        Constraint::Length(4),
        Constraint::Min(4),
        Constraint::Length(1),
    ])
    .areas(frame.area());
    let keys = "p pause  r resume  q quit";
    let Some(f) = figures else {
        frame.render_widget(
            Paragraph::new(format!("waiting for the figures of {}", ui.campaign)).block(
                Block::default()
                    .borders(Borders::ALL)
                    .title(" dialerctl watch "),
            ),
            head,
        );
        frame.render_widget(Paragraph::new(footer(ui, keys)), foot);
        return;
    };
    let title = Line::from(vec![
        Span::styled(
            format!("campaign {}", f.campaign_id),
            Style::default().add_modifier(Modifier::BOLD),
        ),
        Span::raw("  "),
        Span::styled(
            state_name(f.state).to_uppercase(),
            Style::default().fg(match pb::CampaignState::try_from(f.state) {
                Ok(pb::CampaignState::Running) => Color::Green,
                Ok(pb::CampaignState::Paused) => Color::Yellow,
                _ => Color::Gray,
            }),
        ),
        Span::raw(format!("  at {}", ts(f.at.as_ref()))),
    ]);
    let mut alarms = Vec::new();
    if f.clock_behind_ms > 0 {
        alarms.push(format!(
            "NOT DIALING: the clock reads {} behind recorded history",
            duration(u64::try_from(f.clock_behind_ms).unwrap_or(0))
        ));
    }
    if f.errors > 0 {
        alarms.push(format!("{} store or carrier errors (held back)", f.errors));
    }
    let alarm = Line::from(Span::styled(
        alarms.join("  "),
        Style::default().fg(Color::Red).add_modifier(Modifier::BOLD),
    ));
    frame.render_widget(
        Paragraph::new(vec![title, alarm]).block(
            Block::default()
                .borders(Borders::ALL)
                .title(" dialerctl watch "),
        ),
        head,
    );

    let [left, right] =
        Layout::horizontal([Constraint::Percentage(45), Constraint::Percentage(55)]).areas(mid);
    render_abandonment(frame, left, f);
    render_rates(frame, right, f);
    render_shift(frame, shift, f, &ui.shift);

    let [agents, refusals] =
        Layout::horizontal([Constraint::Percentage(62), Constraint::Percentage(38)]).areas(low);
    render_agents(frame, agents, f);
    render_refusals(frame, refusals, f);
    frame.render_widget(Paragraph::new(footer(ui, keys)), foot);
}

fn footer(ui: &Ui, keys: &str) -> String {
    if ui.status.is_empty() {
        keys.to_string()
    } else {
        format!("{keys}  |  {}", ui.status)
    }
}

fn render_abandonment(frame: &mut Frame<'_>, area: Rect, f: &pb::Figures) {
    let target = f.abandon_target;
    let row = |label: &str, rate: f64| {
        let l = level(rate, target);
        Line::from(vec![
            Span::raw(format!("{label:<10}")),
            Span::styled(format!("{:>7}", pct(rate)), level_style(l)),
            Span::raw("  "),
            Span::styled(level_word(l), level_style(l)),
        ])
    };
    let lines = vec![
        row("today", f.abandon_rate_today),
        row(
            &format!("{} days", f.abandon_window_days),
            f.abandon_rate_window,
        ),
        Line::from(format!(
            "target {}   abandoned {} of {} live",
            pct(target),
            f.abandoned,
            f.live_answers
        )),
        Line::from(format!("dials {}   errors {}", f.dials, f.errors)),
    ];
    let worst = level(f.abandon_rate_today.max(f.abandon_rate_window), target);
    frame.render_widget(
        Paragraph::new(lines).block(
            Block::default()
                .borders(Borders::ALL)
                .border_style(level_style(worst))
                .title(" abandonment "),
        ),
        area,
    );
}

/// Abandonment today (scaled so the target sits at 80 % of the height, coloured by the
/// latest point's level) and occupancy (0 to 100 %) over the shift.
fn render_shift(frame: &mut Frame<'_>, area: Rect, f: &pb::Figures, shift: &[ShiftPoint]) {
    const LABEL: usize = 12;
    const VALUE: usize = 9;
    let width = usize::from(area.width.saturating_sub(2)).saturating_sub(LABEL + VALUE);
    let abandon: Vec<f64> = shift.iter().map(|p| p.abandon_rate_today).collect();
    let occupancy: Vec<f64> = shift.iter().map(|p| p.occupancy).collect();
    let top = abandon
        .iter()
        .copied()
        .fold(f.abandon_target * 1.25, f64::max);
    let l = level(f.abandon_rate_today, f.abandon_target);
    let lines = if shift.is_empty() {
        vec![Line::from("no minute of the shift yet")]
    } else {
        vec![
            Line::from(vec![
                Span::raw(format!("{:<LABEL$}", "abandonment")),
                Span::styled(sparkline(&abandon, top, width), level_style(l)),
                Span::styled(format!(" {:>8}", pct(f.abandon_rate_today)), level_style(l)),
            ]),
            Line::from(vec![
                Span::raw(format!("{:<LABEL$}", "occupancy")),
                Span::styled(
                    sparkline(&occupancy, 1.0, width),
                    Style::default().fg(Color::Cyan),
                ),
                Span::raw(format!(" {:>8}", pct(f.occupancy))),
            ]),
        ]
    };
    let minutes = match (shift.first(), shift.last()) {
        (Some(a), Some(b)) => (b.at_ms - a.at_ms) / SHIFT_EVERY_MS,
        _ => 0,
    };
    let title = format!(
        " over the shift: {} ({} min) ",
        duration(u64::try_from(minutes * SHIFT_EVERY_MS).unwrap_or(0)),
        minutes
    );
    frame.render_widget(
        Paragraph::new(lines).block(Block::default().borders(Borders::ALL).title(title)),
        area,
    );
}

fn render_rates(frame: &mut Frame<'_>, area: Rect, f: &pb::Figures) {
    let h = f.last_hour.unwrap_or_default();
    let q = f.queue.unwrap_or_default();
    let lines = vec![
        Line::from(format!(
            "dials/h {}  answers/h {}  contacts/h {}  promises/h {}",
            h.dials, h.answers, h.right_party_contacts, h.promises
        )),
        Line::from(format!(
            "occupancy {}  answer rate {}",
            pct(f.occupancy),
            pct(f.answer_rate)
        )),
        Line::from(format!(
            "calls in progress {} (peak {})  pacing ratio {:.2}",
            f.lines_in_use, f.peak_lines, f.pacing_ratio
        )),
        Line::from(format!(
            "queue: {} ready, {} sleeping, {} leased",
            q.ready, q.sleeping, q.leased
        )),
    ];
    frame.render_widget(
        Paragraph::new(lines).block(Block::default().borders(Borders::ALL).title(" last hour ")),
        area,
    );
}

fn render_agents(frame: &mut Frame<'_>, area: Rect, f: &pb::Figures) {
    let a = f.agents.unwrap_or_default();
    let title = format!(
        " agents: {} ready, {} on call, {} reserved, {} wrap-up, {} not ready ",
        a.ready, a.on_call, a.reserved, a.wrap_up, a.not_ready
    );
    let rows = f.roster.iter().map(|r| {
        let colour = match pb::SeatState::try_from(r.state) {
            Ok(pb::SeatState::Ready) => Color::Green,
            Ok(pb::SeatState::OnCall | pb::SeatState::Reserved) => Color::Cyan,
            Ok(pb::SeatState::WrapUp) => Color::Blue,
            Ok(pb::SeatState::NotReady) => Color::Yellow,
            _ => Color::Gray,
        };
        Row::new(vec![
            Cell::from(r.agent_id.clone()),
            Cell::from(seat_name(r.state, &r.pause_code)).style(Style::default().fg(colour)),
            Cell::from(duration(r.in_state_ms)),
            Cell::from(if r.call_id.is_empty() {
                "-".to_string()
            } else {
                r.call_id.clone()
            }),
            Cell::from(r.calls.to_string()),
        ])
    });
    let table = Table::new(
        rows,
        [
            Constraint::Min(10),
            Constraint::Length(22),
            Constraint::Length(8),
            Constraint::Length(12),
            Constraint::Length(5),
        ],
    )
    .header(
        Row::new(["AGENT", "STATE", "IN STATE", "CALL", "CALLS"])
            .style(Style::default().add_modifier(Modifier::BOLD)),
    )
    .block(Block::default().borders(Borders::ALL).title(title));
    frame.render_widget(table, area);
}

fn render_refusals(frame: &mut Frame<'_>, area: Rect, f: &pb::Figures) {
    let mut by: Vec<(&String, &u64)> = f.refused_by_reason.iter().collect();
    by.sort_by(|a, b| b.1.cmp(a.1).then(a.0.cmp(b.0)));
    let rows = by
        .into_iter()
        .map(|(code, n)| Row::new(vec![Cell::from(code.clone()), Cell::from(n.to_string())]));
    let table = Table::new(rows, [Constraint::Min(12), Constraint::Length(8)])
        .header(
            Row::new(["REASON", "REFUSED"]).style(Style::default().add_modifier(Modifier::BOLD)),
        )
        .block(
            Block::default()
                .borders(Borders::ALL)
                .title(" refused by reason "),
        );
    frame.render_widget(table, area);
}

/// What reaches the view's loop.
enum Input {
    Figures(Box<pb::Figures>),
    /// The stream ended (the campaign stopped) or failed.
    Ended(Option<Failure>),
    Key(KeyEvent),
    Resize,
}

/// Runs the live view until `q`.
pub fn run(conn: &ConnArgs, campaign: &str) -> Result<(), Failure> {
    let c = client::resolve(conn, &|k| std::env::var(k).ok())
        .map_err(|e| Failure::invalid(format!("{e:#}")))?;
    let rt = tokio::runtime::Runtime::new().map_err(|e| Failure {
        kind: FailureKind::Other,
        message: e.to_string(),
    })?;
    rt.block_on(async {
        let mut client = c.campaigns().await?;
        let what = format!("watch {campaign}");
        // Refusals (token, unknown campaign) come before the screen is taken.
        let mut stream = client
            .watch_campaign(pb::WatchCampaignRequest {
                campaign_id: campaign.to_string(),
                history: true,
            })
            .await
            .map_err(|s| describe(&s, &what))?
            .into_inner();
        let (tx, mut rx) = mpsc::channel::<Input>(16);
        let figures_tx = tx.clone();
        let reader = tokio::spawn(async move {
            loop {
                let msg = match stream.message().await {
                    Ok(Some(f)) => Input::Figures(Box::new(f)),
                    Ok(None) => Input::Ended(None),
                    Err(s) => Input::Ended(Some(describe(&s, "watch"))),
                };
                let end = matches!(msg, Input::Ended(_));
                if figures_tx.send(msg).await.is_err() || end {
                    return;
                }
            }
        });
        let keys = std::thread::spawn(move || {
            while !tx.is_closed() {
                if !event::poll(std::time::Duration::from_millis(200)).unwrap_or(false) {
                    continue;
                }
                let input = match event::read() {
                    Ok(Event::Key(k)) => Input::Key(k),
                    Ok(Event::Resize(..)) => Input::Resize,
                    Ok(_) => continue,
                    Err(_) => return,
                };
                if tx.blocking_send(input).is_err() {
                    return;
                }
            }
        });

        let mut terminal = ratatui::init();
        let mut ui = Ui {
            campaign: campaign.to_string(),
            ..Ui::default()
        };
        let mut figures: Option<pb::Figures> = None;
        let result = loop {
            if let Err(e) = terminal.draw(|f| render(f, figures.as_ref(), &ui)) {
                break Err(Failure {
                    kind: FailureKind::Other,
                    message: format!("terminal: {e}"),
                });
            }
            let Some(input) = rx.recv().await else {
                break Ok(());
            };
            match input {
                Input::Figures(f) => {
                    ui.follow(&f);
                    figures = Some(*f);
                }
                Input::Ended(None) => ui.status = "the campaign has stopped".into(),
                Input::Ended(Some(e)) => ui.status = e.message,
                Input::Resize => {}
                Input::Key(k) => match on_key(k) {
                    Some(Action::Quit) => break Ok(()),
                    Some(Action::Pause) => {
                        ui.status = match client
                            .pause_campaign(pb::PauseCampaignRequest {
                                campaign_id: campaign.to_string(),
                            })
                            .await
                        {
                            Ok(_) => "paused: no new dials".into(),
                            Err(s) => describe(&s, "pause").message,
                        }
                    }
                    Some(Action::Resume) => {
                        ui.status = match client
                            .resume_campaign(pb::ResumeCampaignRequest {
                                campaign_id: campaign.to_string(),
                            })
                            .await
                        {
                            Ok(_) => "resumed".into(),
                            Err(s) => describe(&s, "resume").message,
                        }
                    }
                    None => {}
                },
            }
        };
        ratatui::restore();
        drop(rx);
        reader.abort();
        let _ = keys.join();
        result
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use ratatui::Terminal;
    use ratatui::backend::TestBackend;
    use ratatui::buffer::Buffer;

    fn figures(today: f64, window: f64) -> pb::Figures {
        pb::Figures {
            campaign_id: "spring".into(),
            at: Some(prost_types::Timestamp {
                seconds: 1_795_449_600,
                nanos: 0,
            }),
            state: pb::CampaignState::Running as i32,
            agents: Some(pb::AgentCounts {
                ready: 1,
                on_call: 1,
                not_ready: 1,
                ..Default::default()
            }),
            lines_in_use: 3,
            peak_lines: 7,
            dials: 1234,
            live_answers: 400,
            abandoned: 9,
            abandon_rate_today: today,
            abandon_rate_window: window,
            occupancy: 0.853,
            answer_rate: 0.32,
            last_hour: Some(pb::LastHour {
                dials: 960,
                answers: 310,
                right_party_contacts: 88,
                promises: 21,
            }),
            pacing_ratio: 1.5,
            abandon_target: 0.03,
            abandon_window_days: 30,
            refused_by_reason: [
                ("US_REGF_HOURS".to_string(), 40u64),
                ("US_TCPA_NO_CONSENT".to_string(), 12),
            ]
            .into_iter()
            .collect(),
            roster: vec![
                pb::AgentStatus {
                    agent_id: "ana".into(),
                    state: pb::SeatState::OnCall as i32,
                    call_id: "c-17".into(),
                    calls: 12,
                    in_state_ms: 95_000,
                    ..Default::default()
                },
                pb::AgentStatus {
                    agent_id: "bo".into(),
                    state: pb::SeatState::NotReady as i32,
                    pause_code: "lunch".into(),
                    in_state_ms: 1_260_000,
                    ..Default::default()
                },
            ],
            ..Default::default()
        }
    }

    fn draw(f: Option<&pb::Figures>, ui: &Ui) -> Buffer {
        let mut t = Terminal::new(TestBackend::new(110, 24)).expect("terminal");
        t.draw(|frame| render(frame, f, ui)).expect("draw");
        t.backend().buffer().clone()
    }

    fn text(b: &Buffer) -> String {
        let w = b.area.width as usize;
        b.content()
            .chunks(w)
            .map(|row| row.iter().map(|c| c.symbol()).collect::<String>())
            .collect::<Vec<_>>()
            .join("\n")
    }

    /// The colour of the first cell of the first occurrence of `needle`.
    fn colour_of(b: &Buffer, needle: &str) -> Color {
        let w = b.area.width as usize;
        for (y, row) in text(b).lines().enumerate() {
            if let Some(byte) = row.find(needle) {
                let x = row[..byte].chars().count();
                return b.content()[y * w + x].fg;
            }
        }
        panic!("{needle:?} not on screen:\n{}", text(b));
    }

    fn ui() -> Ui {
        Ui {
            campaign: "spring".into(),
            ..Ui::default()
        }
    }

    #[test]
    fn a_view_opened_mid_shift_draws_the_shift_so_far() {
        // The first message carries 3 hours of history: abandonment climbing to 2.5 %
        // (near a 3 % target), occupancy from 50 % to 90 %.
        let mut first = figures(0.025, 0.02);
        let start = 1_795_449_600 - 3 * 3600;
        first.history = (0..=180)
            .map(|m| pb::TrendPoint {
                at: Some(prost_types::Timestamp {
                    seconds: start + m * 60,
                    nanos: 0,
                }),
                abandon_rate_today: 0.025 * m as f64 / 180.0,
                occupancy: 0.5 + 0.4 * m as f64 / 180.0,
                ..Default::default()
            })
            .collect();
        let mut ui = ui();
        ui.follow(&first);
        // The live figures at the same instant as the last history point add nothing.
        assert_eq!(ui.shift.len(), 181);
        let b = draw(Some(&first), &ui);
        let screen = text(&b);
        assert!(
            screen.contains("over the shift: 3:00:00 (180 min)"),
            "{screen}"
        );
        let row = |name: &str| {
            screen
                .lines()
                .find(|l| l.contains(name) && l.chars().any(|c| BARS.contains(&c)))
                .unwrap_or_else(|| panic!("no {name} sparkline:\n{screen}"))
                .to_string()
        };
        let abandon = row("abandonment");
        // From the bottom at the start to 2.5 % of a 3.75 % scale at the end.
        assert!(abandon.contains("▁▁") && abandon.contains('▅'), "{abandon}");
        assert!(!abandon.contains('█'), "{abandon}");
        assert_eq!(colour_of(&b, "▅"), Color::Yellow, "near the target");
        let occupancy = row("occupancy");
        assert!(occupancy.contains('▇'), "{occupancy}");
        // A minute later the live figures add a point; a second later they do not.
        let mut later = first.clone();
        later.history.clear();
        later.at = Some(prost_types::Timestamp {
            seconds: 1_795_449_660,
            nanos: 0,
        });
        ui.follow(&later);
        later.at = Some(prost_types::Timestamp {
            seconds: 1_795_449_661,
            nanos: 0,
        });
        ui.follow(&later);
        assert_eq!(ui.shift.len(), 182);
        // Without history nor a start, nothing to draw.
        let mut ready = figures(0.0, 0.0);
        ready.state = pb::CampaignState::Ready as i32;
        let mut fresh = self::ui();
        fresh.follow(&ready);
        assert!(fresh.shift.is_empty());
        assert!(text(&draw(Some(&ready), &fresh)).contains("no minute of the shift yet"));
    }

    #[test]
    fn sparklines_fit_the_whole_series_into_the_width() {
        let rising: Vec<f64> = (0..=700).map(|i| f64::from(i) / 700.0).collect();
        let s = sparkline(&rising, 1.0, 8);
        assert_eq!(s.chars().count(), 8);
        assert!(s.starts_with('▂') && s.ends_with('█'), "{s}");
        assert_eq!(sparkline(&[0.5, 0.5], 1.0, 80), "▅▅");
        assert_eq!(sparkline(&[2.0], 1.0, 80), "█", "clamped");
        assert_eq!(sparkline(&[], 1.0, 80), "");
    }

    #[test]
    fn the_view_shows_every_figure_a_floor_manager_watches() {
        let b = draw(Some(&figures(0.01, 0.012)), &ui());
        let screen = text(&b);
        for want in [
            "campaign spring",
            "RUNNING",
            "1.00%",
            "1.20%",
            "target 3.00%",
            "30 days",
            "dials/h 960",
            "answers/h 310",
            "contacts/h 88",
            "promises/h 21",
            "occupancy 85.30%",
            "calls in progress 3 (peak 7)",
            "pacing ratio 1.50",
            "1 ready, 1 on call",
            "ana",
            "on_call",
            "1:35",
            "c-17",
            "not_ready (lunch)",
            "21:00",
            "US_REGF_HOURS",
            "US_TCPA_NO_CONSENT",
            "p pause  r resume  q quit",
        ] {
            assert!(screen.contains(want), "{want:?} missing:\n{screen}");
        }
        // Refusals are ordered by count.
        assert!(screen.find("US_REGF_HOURS") < screen.find("US_TCPA_NO_CONSENT"));
        assert_eq!(colour_of(&b, "1.00%"), Color::Green);
        assert!(!screen.contains("LIMIT"), "{screen}");
    }

    #[test]
    fn abandonment_near_or_over_the_target_is_coloured_and_said() {
        // 2.5 % today is over 80 % of a 3 % target; 3.1 % over 30 days is over it.
        let b = draw(Some(&figures(0.025, 0.031)), &ui());
        let screen = text(&b);
        assert!(
            screen.contains("NEAR LIMIT") && screen.contains("OVER LIMIT"),
            "{screen}"
        );
        assert_eq!(colour_of(&b, "2.50%"), Color::Yellow);
        assert_eq!(colour_of(&b, "NEAR LIMIT"), Color::Yellow);
        assert_eq!(colour_of(&b, "3.10%"), Color::Red);
        assert_eq!(colour_of(&b, "OVER LIMIT"), Color::Red);
        // The block's border turns red with the worst of the two.
        assert_eq!(colour_of(&b, "abandonment"), Color::Red);
    }

    #[test]
    fn before_the_first_figures_and_after_an_action_the_view_says_so() {
        let screen = text(&draw(None, &ui()));
        assert!(
            screen.contains("waiting for the figures of spring"),
            "{screen}"
        );
        let mut paused = figures(0.0, 0.0);
        paused.state = pb::CampaignState::Paused as i32;
        let ui = Ui {
            status: "paused: no new dials".into(),
            ..ui()
        };
        let screen = text(&draw(Some(&paused), &ui));
        assert!(
            screen.contains("PAUSED") && screen.contains("paused: no new dials"),
            "{screen}"
        );
    }

    #[test]
    fn a_clock_behind_history_and_errors_are_alarms() {
        let mut f = figures(0.0, 0.0);
        let screen = text(&draw(Some(&f), &ui()));
        assert!(!screen.contains("NOT DIALING"), "{screen}");
        f.clock_behind_ms = 1_725_000;
        f.errors = 4;
        let b = draw(Some(&f), &ui());
        let screen = text(&b);
        assert!(
            screen.contains("NOT DIALING: the clock reads 28:45 behind recorded history"),
            "{screen}"
        );
        assert!(screen.contains("4 store or carrier errors"), "{screen}");
        assert_eq!(colour_of(&b, "NOT DIALING"), Color::Red);
    }

    #[test]
    fn keys_pause_resume_and_quit() {
        let key = |c: KeyCode| KeyEvent::new(c, KeyModifiers::NONE);
        assert_eq!(on_key(key(KeyCode::Char('p'))), Some(Action::Pause));
        assert_eq!(on_key(key(KeyCode::Char('r'))), Some(Action::Resume));
        assert_eq!(on_key(key(KeyCode::Char('q'))), Some(Action::Quit));
        assert_eq!(on_key(key(KeyCode::Esc)), Some(Action::Quit));
        assert_eq!(
            on_key(KeyEvent::new(KeyCode::Char('c'), KeyModifiers::CONTROL)),
            Some(Action::Quit)
        );
        assert_eq!(on_key(key(KeyCode::Char('x'))), None);
        let mut release = key(KeyCode::Char('p'));
        release.kind = KeyEventKind::Release;
        assert_eq!(on_key(release), None);
    }

    #[test]
    fn levels_follow_the_target() {
        assert_eq!(level(0.0239, 0.03), Level::Ok);
        assert_eq!(level(0.0241, 0.03), Level::Near);
        assert_eq!(level(0.03, 0.03), Level::Over);
        assert_eq!(level(0.5, 0.0), Level::Ok);
    }
}
