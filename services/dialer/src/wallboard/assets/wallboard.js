// The floor wallboard: the overview of campaigns (/wallboard/) and one campaign's view
// (/wallboard/campaign/ID), fed by server-sent events; charts are drawn in SVG here.
(function () {
  "use strict";
  const $ = (id) => document.getElementById(id);
  const app = $("app");
  const NEAR = 0.8; // share of the target at which the warning starts
  const STATES = ["ready", "reserved", "on_call", "wrap_up", "not_ready", "logged_out"];
  const LABEL = { ready: "Ready", reserved: "Reserved", on_call: "On call", wrap_up: "Wrap-up",
    not_ready: "Not ready", logged_out: "Logged out" };

  const esc = (s) => String(s).replace(/[&<>"']/g, (c) => ({ "&": "&amp;", "<": "&lt;", ">": "&gt;", '"': "&quot;", "'": "&#39;" }[c]));
  const pct = (x, d = 1) => (100 * (x || 0)).toFixed(d) + " %";
  const num = (x) => (x || 0).toLocaleString("en-US");
  const dur = (ms) => {
    const s = Math.max(0, Math.floor(ms / 1000));
    const h = Math.floor(s / 3600), m = Math.floor((s % 3600) / 60), r = s % 60;
    const two = (n) => String(n).padStart(2, "0");
    return h ? `${h}:${two(m)}:${two(r)}` : `${m}:${two(r)}`;
  };
  const hhmm = (ms, secs) => {
    const d = new Date(ms);
    const t = d.toISOString().substring(11, secs ? 19 : 16);
    return t + (secs ? " UTC" : "");
  };
  /** ok, near (>= 80 % of the target) or over (at or past it). */
  function level(rate, target) {
    if (!(target > 0)) return "ok";
    if (rate >= target) return "over";
    if (rate >= NEAR * target) return "near";
    return "ok";
  }
  const worst = (a, b) => (["ok", "near", "over"].indexOf(a) >= ["ok", "near", "over"].indexOf(b) ? a : b);

  function connection(state) {
    const c = $("conn");
    c.className = "conn " + state;
    c.textContent = state === "live" ? "live" : state === "down" ? "reconnecting…" : "connecting…";
  }

  /** Opens a feed; `handlers` maps each event name to what its JSON data is given to. */
  function listen(url, handlers) {
    connection("");
    const es = new EventSource(url);
    es.addEventListener("open", () => connection("live"));
    es.addEventListener("error", () => connection("down"));
    for (const [event, onData] of Object.entries(handlers)) {
      es.addEventListener(event, (e) => { connection("live"); onData(JSON.parse(e.data)); });
    }
    return es;
  }

  function banner(lvl, text) {
    const b = $("banner");
    b.dataset.level = lvl;
    b.hidden = lvl === "ok";
    b.textContent = lvl === "ok" ? "" : text;
    document.body.dataset.alert = lvl;
  }

  // ---------------------------------------------------------------- overview

  function overview() {
    document.title = "Campaigns · wallboard";
    app.innerHTML = `<div class="cards" id="cards" data-testid="campaign-list"><div class="empty-state">Waiting for figures…</div></div>`;
    listen("/wallboard/api/events", { campaigns: (rows) => {
      const cards = $("cards");
      if (!rows.length) { cards.innerHTML = `<div class="empty-state">No campaigns on this dialer yet.</div>`; banner("ok"); return; }
      let all = "ok"; const names = [];
      cards.innerHTML = rows.map((r) => {
        const f = r.figures;
        const lvl = worst(level(f.abandon_rate_today, f.abandon_target), level(f.abandon_rate_window, f.abandon_target));
        all = worst(all, lvl); if (lvl !== "ok") names.push(r.name || r.id);
        const a = f.agents;
        return `<a class="panel card ${lvl}" href="/wallboard/campaign/${encodeURIComponent(r.id)}" data-testid="campaign-card-${esc(r.id)}">
          <div class="head"><span class="title">${esc(r.name || r.id)}</span><span class="pill ${esc(r.state)}">${esc(r.state)}</span></div>
          <div class="figs">
            <div><div class="value abandon">${pct(f.abandon_rate_today)}</div><div class="label">abandoned today (target ${pct(f.abandon_target)})</div></div>
            <div><div class="value">${pct(f.occupancy, 0)}</div><div class="label">occupancy</div></div>
            <div><div class="value">${num(f.last_hour.dials)}</div><div class="label">dials / hour</div></div>
            <div><div class="value">${num(f.lines_in_use)}</div><div class="label">calls in progress</div></div>
            <div><div class="value">${num(a.on_call + a.reserved + a.wrap_up)} / ${num(a.ready + a.reserved + a.on_call + a.wrap_up + a.not_ready)}</div><div class="label">agents busy / logged in</div></div>
            <div><div class="value">${num(f.last_hour.promises)}</div><div class="label">promises / hour</div></div>
          </div></a>`;
      }).join("");
      const latest = Math.max(...rows.map((r) => r.figures.at_ms));
      $("clock").textContent = hhmm(latest, true);
      banner(all, all === "over"
        ? `Abandonment target crossed: ${names.join(", ")}`
        : `Abandonment nearing its target: ${names.join(", ")}`);
    } });
  }

  // ---------------------------------------------------------------- one campaign

  function chart(el, series, opts) {
    const W = 600, H = 190, L = 44, R = 10, T = 10, B = 24;
    const pts = series.filter((p) => p.v !== null && p.v !== undefined);
    if (pts.length < 2) {
      el.innerHTML = `<svg viewBox="0 0 ${W} ${H}" role="img" aria-label="${esc(opts.label)}"><text class="empty" x="${W / 2}" y="${H / 2}" text-anchor="middle">collecting the shift's series…</text></svg>`;
      return;
    }
    const t0 = pts[0].t, t1 = Math.max(pts[pts.length - 1].t, t0 + 1);
    let max = opts.max || Math.max(...pts.map((p) => p.v), (opts.target || 0) * 1.25) * 1.08;
    if (!(max > 0)) max = 1;
    const x = (t) => L + ((t - t0) / (t1 - t0)) * (W - L - R);
    const y = (v) => T + (1 - v / max) * (H - T - B);
    // At most ~300 points drawn: the last point of each bucket.
    const step = Math.max(1, Math.floor(pts.length / 300));
    const drawn = pts.filter((_, i) => i % step === 0 || i === pts.length - 1);
    const line = drawn.map((p, i) => `${i ? "L" : "M"}${x(p.t).toFixed(1)},${y(p.v).toFixed(1)}`).join("");
    const area = `${line}L${x(drawn[drawn.length - 1].t).toFixed(1)},${y(0)}L${x(drawn[0].t).toFixed(1)},${y(0)}Z`;
    let grid = "";
    for (let i = 0; i <= 4; i++) {
      const v = (max * i) / 4;
      grid += `<line class="grid-line" x1="${L}" x2="${W - R}" y1="${y(v)}" y2="${y(v)}"/><text class="tick" x="${L - 6}" y="${y(v) + 4}" text-anchor="end">${(100 * v).toFixed(opts.digits)}%</text>`;
    }
    const short = t1 - t0 < 15 * 60_000; // under a quarter of an hour: seconds too
    const ticks = [t0, (t0 + t1) / 2, t1].map((t, i) => `<text class="tick" x="${x(t)}" y="${H - 6}" text-anchor="${["start", "middle", "end"][i]}">${new Date(t).toISOString().substring(11, short ? 19 : 16)}</text>`).join("");
    let target = "";
    if (opts.target > 0) {
      target = `<line class="target" x1="${L}" x2="${W - R}" y1="${y(opts.target)}" y2="${y(opts.target)}"><title>target</title></line>`
        + `<line class="near-line" x1="${L}" x2="${W - R}" y1="${y(NEAR * opts.target)}" y2="${y(NEAR * opts.target)}"/>`;
    }
    el.innerHTML = `<svg viewBox="0 0 ${W} ${H}" preserveAspectRatio="none" role="img" aria-label="${esc(opts.label)}">${grid}${target}
      <path class="area" d="${area}" fill="${opts.color}"/><path class="series" d="${line}" stroke="${opts.color}"/>
      <line class="axis" x1="${L}" x2="${W - R}" y1="${y(0)}" y2="${y(0)}"/>${ticks}</svg>`;
  }

  function campaign(id) {
    document.title = `${id} · wallboard`;
    $("view-title").textContent = id;
    app.innerHTML = `
    <div class="grid">
      <section class="panel kpi span-3" id="kpi-abandon-today" data-testid="kpi-abandon-today" aria-labelledby="h-at">
        <h2 id="h-at">Abandoned today <span class="aside" id="target-today"></span></h2>
        <div class="value" id="abandon-today" data-testid="abandon-today">–</div>
        <div class="meter"><span id="meter-today" style="width:0"></span></div>
        <div class="sub" id="abandon-today-sub"></div></section>
      <section class="panel kpi span-3" id="kpi-abandon-window" data-testid="kpi-abandon-window" aria-labelledby="h-aw">
        <h2 id="h-aw">Abandoned, rolling <span class="aside" id="window-days"></span></h2>
        <div class="value" id="abandon-window" data-testid="abandon-window">–</div>
        <div class="meter"><span id="meter-window" style="width:0"></span></div>
        <div class="sub" id="abandon-window-sub"></div></section>
      <section class="panel kpi span-2" aria-labelledby="h-occ"><h2 id="h-occ">Occupancy</h2>
        <div class="value" id="occupancy" data-testid="occupancy">–</div><div class="sub">talk and wrap over available time</div></section>
      <section class="panel kpi span-2" aria-labelledby="h-pace"><h2 id="h-pace">Pacing ratio</h2>
        <div class="value" id="pacing-ratio" data-testid="pacing-ratio">–</div><div class="sub">lines per available agent</div></section>
      <section class="panel kpi span-2" aria-labelledby="h-lines"><h2 id="h-lines">Calls in progress</h2>
        <div class="value" id="lines-in-use" data-testid="lines-in-use">–</div><div class="sub" id="lines-sub"></div></section>

      <section class="panel span-6" aria-labelledby="h-rates"><h2 id="h-rates">Last hour <span class="aside" id="totals"></span></h2>
        <div class="rates">
          <div class="rate"><div class="value" id="dials-per-hour" data-testid="dials-per-hour">–</div><div class="label">dials / hour</div><div class="total" id="dials-total" data-testid="dials-total"></div></div>
          <div class="rate"><div class="value" id="answers-per-hour" data-testid="answers-per-hour">–</div><div class="label">live answers / hour</div><div class="total" id="answers-total"></div></div>
          <div class="rate"><div class="value" id="contacts-per-hour" data-testid="contacts-per-hour">–</div><div class="label">right-party contacts / hour</div><div class="total" id="contacts-total"></div></div>
          <div class="rate"><div class="value" id="promises-per-hour" data-testid="promises-per-hour">–</div><div class="label">promises / hour</div><div class="total" id="promises-total"></div></div>
        </div></section>
      <section class="panel span-3" aria-labelledby="h-q"><h2 id="h-q">Queue</h2>
        <table><tbody>
          <tr><td>Ready to dial</td><td class="num" id="queue-ready" data-testid="queue-ready">–</td></tr>
          <tr><td>Sleeping / recycling</td><td class="num" id="queue-sleeping">–</td></tr>
          <tr><td>On a call</td><td class="num" id="queue-leased">–</td></tr>
          <tr><td>Answer rate</td><td class="num" id="answer-rate">–</td></tr></tbody></table></section>
      <section class="panel span-3" aria-labelledby="h-ref"><h2 id="h-ref">Refused by the rules</h2>
        <div class="bars" id="refusals" data-testid="refusals"></div></section>

      <section class="panel chart span-6" aria-labelledby="h-ca"><h2 id="h-ca">Abandonment over the shift <span class="aside">today, against the target</span></h2>
        <div id="chart-abandon" data-testid="chart-abandon"></div></section>
      <section class="panel chart span-6" aria-labelledby="h-co"><h2 id="h-co">Occupancy over the shift</h2>
        <div id="chart-occupancy" data-testid="chart-occupancy"></div></section>

      <section class="panel span-8" aria-labelledby="h-ag"><h2 id="h-ag">Agents <span class="legend">${STATES.map((s) => `<span><i style="background:var(--${s})"></i>${LABEL[s]}</span>`).join("")}</span></h2>
        <div class="agents" id="agents" data-testid="agents"></div></section>
      <section class="panel span-4" aria-labelledby="h-calls"><h2 id="h-calls">Calls with agents</h2>
        <table><thead><tr><th>Agent</th><th>State</th><th>Call</th><th class="num">For</th></tr></thead>
        <tbody id="calls" data-testid="calls"></tbody></table></section>
    </div>`;

    // {t, abandon, occupancy}: the shift so far as the feed's first event (`history`, one
    // point a minute) gave it, then every figures event since.
    let series = [];
    let target = 0;
    const set = (id, text) => { const e = $(id); if (e) e.textContent = text; };
    const draw = () => {
      $("chart-abandon").dataset.points = series.length;
      $("chart-occupancy").dataset.points = series.length;
      chart($("chart-abandon"), series.map((p) => ({ t: p.t, v: p.abandon })), { label: "Abandonment over the shift", color: "#ef7f4f", target, digits: 1 });
      chart($("chart-occupancy"), series.map((p) => ({ t: p.t, v: p.occupancy })), { label: "Occupancy over the shift", color: "#4ea1ff", max: 1, digits: 0 });
    };
    // Sent again on each reconnection: it replaces what the page had.
    const onHistory = (h) => {
      series = (h.points || []).map((p) => ({ t: p.at_ms, abandon: p.abandon_rate_today, occupancy: p.occupancy }));
      $("chart-abandon").dataset.historyPoints = series.length;
      draw();
    };
    const onFigures = (f) => {
      target = f.abandon_target;
      const lt = level(f.abandon_rate_today, target), lw = level(f.abandon_rate_window, target);
      const lvl = worst(lt, lw);
      const st = $("campaign-state"); st.hidden = false; st.textContent = f.state; st.className = "pill " + f.state;
      set("clock", hhmm(f.at_ms, true));
      set("abandon-today", pct(f.abandon_rate_today, 2));
      set("abandon-window", pct(f.abandon_rate_window, 2));
      set("target-today", `target ${pct(target)}`);
      set("window-days", `${f.abandon_window_days} days`);
      set("abandon-today-sub", `${num(f.abandoned)} of ${num(f.live_answers)} live answers`);
      set("abandon-window-sub", `${pct(f.abandon_rate_window / (target || 1), 0)} of the target`);
      for (const [k, l, r] of [["today", lt, f.abandon_rate_today], ["window", lw, f.abandon_rate_window]]) {
        $("kpi-abandon-" + k).className = `panel kpi span-3 ${l}`;
        $("kpi-abandon-" + k).dataset.level = l;
        $("meter-" + k).style.width = Math.min(100, (100 * r) / (target || 1)) + "%";
      }
      banner(lvl, lvl === "over"
        ? `Abandonment over the target: ${pct(Math.max(f.abandon_rate_today, f.abandon_rate_window), 2)} against ${pct(target)}. Slow the pacing or add agents.`
        : `Abandonment nearing the target: ${pct(Math.max(f.abandon_rate_today, f.abandon_rate_window), 2)} of ${pct(target)} allowed.`);
      set("occupancy", pct(f.occupancy, 0));
      set("pacing-ratio", (f.pacing_ratio || 0).toFixed(2));
      set("lines-in-use", num(f.lines_in_use));
      set("lines-sub", `peak ${num(f.peak_lines)} · ${num(f.dials_last_minute)} dials last minute`);
      const h = f.last_hour;
      set("dials-per-hour", num(h.dials)); set("answers-per-hour", num(h.answers));
      set("contacts-per-hour", num(h.contacts)); set("promises-per-hour", num(h.promises));
      set("dials-total", `${num(f.dials)} since start`); set("answers-total", `${num(f.live_answers)} since start`);
      set("contacts-total", `${num(f.right_party_contacts)} since start`); set("promises-total", `${num(f.promises)} since start`);
      set("queue-ready", num(f.queue.ready)); set("queue-sleeping", num(f.queue.sleeping));
      set("queue-leased", num(f.queue.leased)); set("answer-rate", pct(f.answer_rate));

      const refused = Object.entries(f.refused_by_reason || {}).sort((a, b) => b[1] - a[1]);
      const top = refused.length ? refused[0][1] : 1;
      $("refusals").innerHTML = refused.length ? refused.slice(0, 7).map(([code, n]) =>
        `<div class="bar" data-testid="refusal-${esc(code)}"><span class="code" title="${esc(code)}">${esc(code)}</span><span class="n">${num(n)}</span><span class="track"><span style="width:${(100 * n) / top}%"></span></span></div>`).join("")
        : `<p class="muted">None so far.</p>`;

      const roster = f.roster || [];
      $("agents").innerHTML = roster.length ? roster.map((a) => {
        const st = STATES.includes(a.state) ? a.state : "not_ready";
        const why = a.state === "not_ready" && a.pause_code ? ` · ${esc(a.pause_code)}` : "";
        return `<div class="agent" data-testid="agent-${esc(a.agent_id)}" data-agent="${esc(a.agent_id)}" data-state="${st}" aria-label="${esc(a.agent_id)}: ${LABEL[st]}">
          <div class="name">${esc(a.agent_id)}</div><div class="state">${LABEL[st]}${why}</div>
          <div class="since">${dur(f.at_ms - a.since_ms)}</div><div class="calls">${num(a.calls)} calls · talk ${dur(a.talk_ms)}</div></div>`;
      }).join("") : `<p class="muted">No agent has logged in.</p>`;
      const busy = roster.filter((a) => a.call_id);
      $("calls").innerHTML = busy.length ? busy.map((a) =>
        `<tr data-testid="call-${esc(a.call_id)}"><td>${esc(a.agent_id)}</td><td>${LABEL[a.state] || esc(a.state)}</td><td class="muted">${esc(String(a.call_id).slice(0, 10))}</td><td class="num">${dur(f.at_ms - a.since_ms)}</td></tr>`).join("")
        : `<tr><td colspan="4" class="muted">No call with an agent.</td></tr>`;

      const last = series.length ? series[series.length - 1].t : -Infinity;
      if (f.at_ms > last) series.push({ t: f.at_ms, abandon: f.abandon_rate_today, occupancy: f.occupancy });
      if (series.length > 20000) series.splice(0, series.length - 20000);
      draw();
    };
    listen(`/wallboard/api/campaigns/${encodeURIComponent(id)}/events`, { history: onHistory, figures: onFigures });
  }

  const m = location.pathname.match(/^\/wallboard\/campaign\/([^/]+)\/?$/);
  if (m) campaign(decodeURIComponent(m[1])); else overview();
})();
