// Inquest dashboard: plain JS, no build step. Routes: "/" (incident list),
// "/incidents/<id>" (one incident), "/runbooks" and "/runbooks/<id>" (runbooks and
// their steps), "/slos" (SLOs with budget and burn over time, and invariants),
// "/tickets" and "/tickets/<id>" (follow-up tickets, their history and dependencies),
// "/oncall" (schedules, who is on call, escalation steps, overrides), "/channels"
// (notification channels, their health and deliveries), "/audit" (the audit log) and
// "/login". Charts
// are inline SVG. A session's mutating requests carry its CSRF token; on an open
// loopback server the chosen project travels in X-Inquest-Project.
"use strict";

const app = document.getElementById("app");
const esc = (s) => String(s ?? "").replace(/[&<>"']/g, (c) => ({ "&": "&amp;", "<": "&lt;", ">": "&gt;", '"': "&quot;", "'": "&#39;" }[c]));
const svcName = (k) => String(k || "").split("/").pop();

// Who is signed in (GET /api/auth/me), or null before the first answer.
let me = null;

async function api(path, opts = {}) {
  const headers = Object.assign({}, opts.headers || {});
  const method = (opts.method || "GET").toUpperCase();
  if (me && me.csrf_token && method !== "GET") headers["x-csrf-token"] = me.csrf_token;
  if (me && !me.auth_required && me.project) headers["x-inquest-project"] = me.project;
  const res = await fetch(path, Object.assign({}, opts, { headers, credentials: "same-origin" }));
  const body = await res.json().catch(() => ({}));
  if (res.status === 401 && path !== "/api/auth/login" && location.pathname !== "/login") { go("/login"); throw new Error("sign in first"); }
  if (!res.ok) throw Object.assign(new Error((body.error && body.error.message) || res.statusText), { status: res.status });
  return body;
}

async function loadMe() {
  const saved = sessionStorage.getItem("inquest.project");
  try {
    me = await fetch("/api/auth/me", { credentials: "same-origin", headers: saved ? { "x-inquest-project": saved } : {} })
      .then((r) => (r.ok ? r.json() : null));
  } catch (e) { me = null; }
  header();
  return me;
}

// The header: the project switcher, the audit link and who is signed in.
function header() {
  const slot = document.getElementById("who");
  if (!slot) return;
  if (!me) { slot.innerHTML = `<a href="/login" data-go>sign in</a>`; return; }
  const options = me.projects.map((p) => `<option value="${esc(p.project_id)}" ${p.project_id === me.project ? "selected" : ""}>${esc(p.name || p.project_id)} (${esc(p.role)})</option>`).join("");
  slot.innerHTML = `<label class="small">project <select id="project">${options}</select></label>
    <a href="/changes" data-go>changes</a>
    <a href="/runbooks" data-go>runbooks</a>
    <a href="/slos" data-go>SLOs</a>
    <a href="/tickets" data-go>tickets</a>
    <a href="/oncall" data-go>on-call</a>
    <a href="/channels" data-go>channels</a>
    <a href="/audit" data-go>audit</a>
    <span class="small">${esc(me.actor)}${me.role ? " · " + esc(me.role) : ""}</span>
    ${me.csrf_token ? `<button id="logout" class="link">sign out</button>` : ""}`;
  slot.querySelector("#project").addEventListener("change", async (ev) => {
    try {
      me = await api("/api/auth/project", { method: "POST", headers: { "content-type": "application/json" }, body: JSON.stringify({ project_id: ev.target.value }) });
      sessionStorage.setItem("inquest.project", me.project);
    } catch (e) { alert(e.message); }
    header(); go("/");
  });
  const out = slot.querySelector("#logout");
  if (out) out.addEventListener("click", async () => { await api("/api/auth/logout", { method: "POST" }).catch(() => {}); me = null; sessionStorage.removeItem("inquest.project"); go("/login"); });
  slot.querySelectorAll("a[data-go]").forEach((a) => a.addEventListener("click", (ev) => { ev.preventDefault(); go(a.getAttribute("href")); }));
}

// ------------------------------------------------------------------ sign in
function loginPage() {
  document.title = "Sign in · Inquest";
  app.innerHTML = `<div class="card login"><h1>Sign in</h1>
    <form id="login"><label>login <input name="login" autocomplete="username" required></label>
    <label>password <input name="password" type="password" autocomplete="current-password" required></label>
    <button type="submit">sign in</button><div class="error" id="login-error" hidden></div></form></div>`;
  app.querySelector("#login").addEventListener("submit", async (ev) => {
    ev.preventDefault();
    const f = new FormData(ev.target);
    try {
      me = await api("/api/auth/login", { method: "POST", headers: { "content-type": "application/json" }, body: JSON.stringify({ login: f.get("login"), password: f.get("password") }) });
      sessionStorage.setItem("inquest.project", me.project);
      header(); go("/");
    } catch (e) {
      const box = app.querySelector("#login-error"); box.hidden = false; box.textContent = e.message;
    }
  });
}

// ------------------------------------------------------------------ audit log
async function auditPage() {
  document.title = "Audit · Inquest";
  const params = new URLSearchParams(location.search);
  const q = new URLSearchParams();
  for (const k of ["actor", "action", "outcome", "before"]) if (params.get(k)) q.set(k, params.get(k));
  q.set("limit", 50);
  let page;
  try { page = await api("/api/audit?" + q); } catch (e) { app.innerHTML = `<div class="error">${esc(e.message)}</div>`; return; }
  const rows = page.entries.map((e) => `<tr class="audit-row"><td>${esc(fmtTime(e.at))}</td><td>${esc(e.actor)}</td><td>${esc(e.action)}</td>
    <td>${esc(e.resource_type)} ${esc(e.resource_id || "")}</td><td><span class="badge ${esc(e.outcome)}">${esc(e.outcome)}</span> ${e.status}</td>
    <td class="small">${esc(e.client_addr || "")}</td></tr>`).join("");
  const sel = (v) => (params.get("outcome") === v ? "selected" : "");
  app.innerHTML = `<h1>Audit log <span class="muted small">${esc(me ? me.project : "")}</span></h1>
    <form class="filters" id="audit-filters"><input name="actor" placeholder="actor" value="${esc(params.get("actor") || "")}">
    <input name="action" placeholder="action" value="${esc(params.get("action") || "")}">
    <select name="outcome"><option value="">any outcome</option><option ${sel("allowed")}>allowed</option><option ${sel("denied")}>denied</option><option ${sel("failed")}>failed</option></select>
    <button type="submit">filter</button></form>
    <table class="list audit"><thead><tr><th>time</th><th>actor</th><th>action</th><th>resource</th><th>outcome</th><th>from</th></tr></thead>
    <tbody>${rows || `<tr><td colspan="6" class="muted">no entries</td></tr>`}</tbody></table>
    ${page.next ? `<p><a id="older" href="#">older entries</a></p>` : ""}`;
  app.querySelector("#audit-filters").addEventListener("submit", (ev) => {
    ev.preventDefault();
    const f = new URLSearchParams();
    for (const [k, v] of new FormData(ev.target)) if (v) f.set(k, v);
    go("/audit?" + f);
  });
  const older = app.querySelector("#older");
  if (older) older.addEventListener("click", (ev) => { ev.preventDefault(); params.set("before", page.next); go("/audit?" + params); });
}

function age(ts) {
  const s = (Date.now() - new Date(ts).getTime()) / 1000;
  if (s < 3600) return Math.max(1, Math.round(s / 60)) + " min ago";
  if (s < 86400) return Math.round(s / 3600) + " h ago";
  return Math.round(s / 86400) + " d ago";
}
const fmtTime = (ts) => new Date(ts).toISOString().replace("T", " ").slice(0, 16) + " UTC";
const confBar = (c) => `<span class="conf"><span class="bar"><i style="width:${Math.round(c * 100)}%"></i></span>${c.toFixed(2)}</span>`;

// ------------------------------------------------------------------ list
async function listPage() {
  const params = new URLSearchParams(location.search);
  const limit = 20;
  const offset = Number(params.get("offset") || 0);
  const q = new URLSearchParams();
  for (const k of ["status", "service", "severity"]) if (params.get(k)) q.set(k, params.get(k));
  q.set("limit", limit); q.set("offset", offset);
  document.title = "Incidents · Inquest";
  let page;
  try { page = await api("/api/incidents?" + q); } catch (e) { app.innerHTML = `<div class="error">${esc(e.message)}</div>`; return; }
  const sel = (name, opts) => `<select name="${name}"><option value="">any ${name}</option>${opts.map((o) => `<option ${params.get(name) === String(o) ? "selected" : ""}>${o}</option>`).join("")}</select>`;
  const rows = page.items.map((i) => `
    <tr data-id="${esc(i.incident_id)}">
      <td><span class="badge ${esc(i.status)}">${esc(i.status)}</span></td>
      <td><span class="badge sev${i.severity}">SEV${i.severity}</span></td>
      <td><strong>${esc(i.service)}</strong><div class="small muted">${esc(i.trigger_type)}</div></td>
      <td>${i.top_hypothesis ? `<a href="/incidents/${esc(i.incident_id)}">${esc(i.top_hypothesis.title)}</a><div class="small muted">${esc(i.top_hypothesis.hypothesis_type)}${i.resolution_summary ? " · resolved: " + esc(i.resolution_summary) : ""}</div>` : `<a href="/incidents/${esc(i.incident_id)}" class="muted">not investigated</a>`}</td>
      <td>${i.top_hypothesis ? confBar(i.top_hypothesis.confidence) : ""}</td>
      <td class="hide-narrow" title="${esc(i.window_start)}">${age(i.window_start)}<div class="small muted">${fmtTime(i.window_start)}</div></td>
    </tr>`).join("");
  app.innerHTML = `
    <h1>Incidents</h1>
    <div class="kv small" id="summary"></div>
    <form class="filters" id="filters">
      ${sel("status", ["open", "triaged", "resolved", "suppressed"])}
      ${sel("severity", [1, 2, 3, 4, 5])}
      <input name="service" placeholder="service" value="${esc(params.get("service") || "")}">
      <button type="submit">Filter</button>
      <span class="muted">${page.total} incident(s)</span>
    </form>
    <table class="list" id="incidents">
      <thead><tr><th>Status</th><th>Sev</th><th>Service</th><th>Top hypothesis</th><th>Confidence</th><th class="hide-narrow">Age</th></tr></thead>
      <tbody>${rows || `<tr><td colspan="6" class="muted">no incidents match</td></tr>`}</tbody>
    </table>
    <div class="pager">
      <button id="prev" ${offset === 0 ? "disabled" : ""}>← newer</button>
      <span class="muted">${page.total ? offset + 1 : 0}–${Math.min(offset + limit, page.total)} of ${page.total}</span>
      <button id="next" ${offset + limit >= page.total ? "disabled" : ""}>older →</button>
    </div>`;
  document.getElementById("filters").addEventListener("submit", (ev) => {
    ev.preventDefault();
    const f = new FormData(ev.target); const p = new URLSearchParams();
    for (const [k, v] of f) if (v) p.set(k, v);
    go("/?" + p);
  });
  const move = (d) => { params.set("offset", Math.max(0, offset + d)); go("/?" + params); };
  document.getElementById("prev").onclick = () => move(-limit);
  document.getElementById("next").onclick = () => move(limit);
  for (const tr of app.querySelectorAll("tr[data-id]")) tr.addEventListener("click", (ev) => { if (ev.target.tagName !== "A") go("/incidents/" + tr.dataset.id); });
  summary();
}

// ------------------------------------------------------------------ incident
function evidenceLink(e) {
  const md = e.metadata || {};
  const url = md.payload && md.payload.source_url;
  if (url && /^https?:\/\//.test(url)) return `<a href="${esc(url)}" target="_blank" rel="noopener">${esc(e.ref)}</a>`;
  return `<a href="#ev-${esc(e.evidence_id)}">${esc(e.ref)}</a>`;
}

function evidenceSummary(e) {
  const m = e.metadata || {};
  switch (e.kind) {
    case "metric_query": case "clickhouse_query": return `${svcName(m.service_key)} ${m.metric_name}: z=${m.robust_z}, peak ${m.peak_value} vs median ${m.baseline_median}`;
    case "git_diff": return `${m.commit_sha} ${m.path} (${m.change_type}, +${m.lines_added}/-${m.lines_removed}) “${m.message}”`;
    case "record": return m.image_ref ? `deployment of ${svcName(m.service_key)} ${m.image_ref}` : m.change_kind ? `${m.change_kind} ${m.resource_name}: ${JSON.stringify(m.diff)}` : "";
    case "semantic_match": return `${m.collection} match, score ${Number(m.score).toFixed(2)}${m.payload && (m.payload.title || m.payload.summary) ? ": " + (m.payload.title || m.payload.summary) : ""}`;
    case "topology_query": return `blast radius of ${svcName(m.origin)} (${(m.nodes || []).length} nodes)`;
    case "gap": return `evidence gap: ${m.error}`;
    default: return "";
  }
}

function actionsHtml(d) {
  const recs = d.hypotheses.map((h) => [h, (h.details || {}).recommendation]).filter(([, r]) => r).sort((a, b) => a[1].rank - b[1].rank);
  if (!recs.length) return "";
  const rows = recs.map(([h, r]) => `<tr><td class="v">${r.rank}</td>
    <td><strong>${esc(r.summary)}</strong><div class="small muted"><code>${esc(r.action_type)}</code> for #${h.rank} ${esc(h.title)}</div></td>
    <td class="v"><span class="badge risk-${esc(r.risk_level)}">${esc(r.risk_level)}</span><div class="small muted">${esc(r.risk_reason)}</div></td>
    <td class="v">${r.expected_ttr_minutes} min<div class="small muted">${esc(r.ttr_basis)}</div></td>
    <td>${r.runbook ? (r.runbook.source_url ? `<a href="${esc(r.runbook.source_url)}">${esc(r.runbook.title)}</a>` : esc(r.runbook.title)) : `<span class="muted">none</span>`}</td></tr>`).join("");
  return `<section class="card" id="actions"><h2>Recommended actions</h2><table>
    <thead><tr><th>#</th><th>Action</th><th>Risk</th><th>Expected time to recover</th><th>Runbook</th></tr></thead><tbody>${rows}</tbody></table></section>`;
}

// One decision on the incident: its kind, who it was for, why, by which policy version.
function decisionHtml(x) {
  const det = x.details || {};
  const who = det.person || det.recipient;
  const queued = det.queued != null ? ` <span class="small muted">(${det.queued} message(s) queued)</span>` : "";
  return `<li><strong>${esc(x.decision)}</strong>${who ? ` → ${esc(who)}` : ""} ${esc(x.rationale)}${queued}
    <span class="muted">${fmtTime(x.decided_at)} · ${esc(x.policy_version)}</span></li>`;
}

// The factor's weight; a weight learned from feedback shows its default beside it.
function weightHtml(f) {
  if (f.default_weight == null || f.default_weight === f.weight) return `<span class="muted">×${f.weight}</span>`;
  return `<span class="learned" title="learned from feedback; default weight ${f.default_weight}">×${f.weight} <span class="muted">(default ×${f.default_weight})</span></span>`;
}

function hypothesisHtml(h, d, byId) {
  const verdict = d.verdicts[h.hypothesis_id];
  const resolved = d.incident.resolved_hypothesis_id === h.hypothesis_id;
  const factors = ((h.details || {}).factors || []).map((f) => `
    <tr class="${f.name === "feedback_prior" || f.name === "precedent" ? "prior" : ""}"><td class="v"><code>${esc(f.name)}</code></td>
    <td class="v">${confBar(f.value)} ${weightHtml(f)}</td><td>${esc(f.explanation)}</td></tr>`).join("");
  const ev = h.evidence_ids.map((id) => byId[id]).filter(Boolean).map((e) => `<li><span class="badge">${esc(e.kind)}</span> ${evidenceLink(e)}<div class="muted">${esc(evidenceSummary(e))}</div></li>`).join("");
  return `<div class="hyp" data-hypothesis="${esc(h.hypothesis_id)}">
    <div class="head"><span class="rank">#${h.rank}</span><span class="badge">${esc(h.hypothesis_type)}</span>
      <span class="title">${esc(h.title)}</span>${confBar(h.confidence)}
      ${verdict ? `<span class="badge ${verdict} verdict">${verdict}</span>` : ""}${resolved ? `<span class="badge resolved">root cause</span>` : ""}
      <span class="actions">
        <button class="confirm" data-act="hypothesis_confirmed" ${verdict === "confirmed" ? "disabled" : ""}>✓ Confirm</button>
        <button class="reject" data-act="hypothesis_rejected" ${verdict === "rejected" ? "disabled" : ""}>✗ Reject</button>
        <button data-act="root_cause_set" title="set as the root cause">Root cause</button>
      </span></div>
    <div class="small muted">service ${esc(svcName((h.details || {}).service_key))}${(h.details || {}).culprit ? " · culprit <code>" + esc(h.details.culprit) + "</code>" : ""}</div>
    <details ${h.rank === 1 ? "open" : ""}><summary>why: ${((h.details || {}).factors || []).length} factors, ${h.evidence_ids.length} evidence</summary>
      <table class="factors">${factors}</table><ul class="evidence">${ev}</ul></details>
  </div>`;
}

function chartSvg(series, m) {
  const W = 320, H = 110, L = 6, R = 6, T = 8, B = 16;
  const t0 = new Date(m.from).getTime(), t1 = new Date(m.to).getTime();
  const pts = series.points.map(([t, v]) => [new Date(t).getTime(), v]);
  if (!pts.length) return "";
  let lo = Math.min(...pts.map((p) => p[1])), hi = Math.max(...pts.map((p) => p[1]));
  if (hi === lo) { hi += 1; lo -= 1; }
  const x = (t) => L + ((t - t0) / Math.max(1, t1 - t0)) * (W - L - R);
  const y = (v) => T + (1 - (v - lo) / (hi - lo)) * (H - T - B);
  const line = pts.map((p) => `${x(p[0]).toFixed(1)},${y(p[1]).toFixed(1)}`).join(" ");
  const marks = m.changes.filter((c) => { const t = new Date(c.at).getTime(); return t >= t0 && t <= t1; }).map((c) => {
    const xx = x(new Date(c.at).getTime()).toFixed(1);
    return `<line x1="${xx}" x2="${xx}" y1="${T}" y2="${H - B}" stroke="${c.kind === "deployment" ? "var(--dep)" : "var(--cfg)"}" stroke-width="1.5"><title>${esc(c.kind + ": " + c.label + " (" + svcName(c.service_key) + ") " + fmtTime(c.at))}</title></line>`;
  }).join("");
  const ws = x(new Date(m.window_start).getTime()).toFixed(1);
  const onset = m.onset ? `<line x1="${x(new Date(m.onset).getTime()).toFixed(1)}" x2="${x(new Date(m.onset).getTime()).toFixed(1)}" y1="${T}" y2="${H - B}" stroke="var(--bad)" stroke-dasharray="3 2"><title>onset ${fmtTime(m.onset)}</title></line>` : "";
  const fmt = (v) => Math.abs(v) >= 100 ? v.toFixed(0) : v.toFixed(2);
  return `<svg viewBox="0 0 ${W} ${H}" role="img" aria-label="${esc(series.metric_name)}">
    <rect x="${ws}" y="${T}" width="${(W - R - ws).toFixed(1)}" height="${H - T - B}" fill="#fdf2f2"/>
    <polyline fill="none" stroke="#1c2430" stroke-width="1.3" points="${line}"/>${marks}${onset}
    <text x="${L}" y="${H - 3}" font-size="9" fill="#667085">${new Date(t0).toISOString().slice(11, 16)}</text>
    <text x="${W - R}" y="${H - 3}" font-size="9" fill="#667085" text-anchor="end">${new Date(t1).toISOString().slice(11, 16)} UTC</text>
    <text x="${W - R}" y="${T + 8}" font-size="9" fill="#667085" text-anchor="end">max ${fmt(hi)}</text>
    <text x="${W - R}" y="${H - B - 2}" font-size="9" fill="#667085" text-anchor="end">min ${fmt(lo)}</text></svg>`;
}

function metricsHtml(m) {
  const charts = m.series.map((s) => `<div class="chart"><div class="name">${esc(svcName(s.service_key))} · ${esc(s.metric_name)}</div>${chartSvg(s, m)}</div>`).join("");
  const changes = m.changes.map((c) => `<li><span class="badge" style="color:${c.kind === "deployment" ? "var(--dep)" : "var(--cfg)"}">${esc(c.kind)}</span> ${fmtTime(c.at)} ${esc(svcName(c.service_key) || "cluster-wide")}: ${esc(c.label)}</li>`).join("");
  return `<div class="legend"><span><i style="background:var(--dep)"></i>deployment</span><span><i style="background:var(--cfg)"></i>config change</span>
      <span><i style="background:var(--bad)"></i>anomaly onset</span><span><i style="background:#fdf2f2;height:10px"></i>incident window</span></div>
    <div class="charts">${charts || `<p class="muted">no metric points in this range</p>`}</div>
    ${changes ? `<h3 style="margin-top:10px">Changes in reach</h3><ul class="evidence">${changes}</ul>` : ""}`;
}

function radiusHtml(m) {
  const nodes = [...m.blast_radius].sort((a, b) => a.distance - b.distance || a.key.localeCompare(b.key));
  return `<ul class="radius">${nodes.map((n) => `<li><span class="badge">${esc(n.direction)}</span><strong>${esc(svcName(n.key))}</strong><span class="muted small">${esc(n.kind)} · ${n.distance} hop(s)</span></li>`).join("")}</ul>
    <div class="small muted">ref <code>${esc(m.topology_ref)}</code></div>`;
}

async function incidentPage(id, tries = 0) {
  let d;
  try { d = await api("/api/incidents/" + encodeURIComponent(id)); } catch (e) {
    // An incident the intake opened a moment ago reaches the records store shortly
    // after the alert was answered: wait for it while the intake knows it.
    if (e.status === 404 && tries < 40 && (await api(`/api/incidents/${encodeURIComponent(id)}/lifecycle`).then(() => true, () => false))) {
      app.innerHTML = `<p><a href="/">← incidents</a></p><p class="muted" id="pending">incident opened by alerts; being recorded…</p>`;
      setTimeout(() => incidentPage(id, tries + 1), 250);
      return;
    }
    app.innerHTML = `<p><a href="/">← incidents</a></p><div class="error">${esc(e.message)}</div>`;
    return;
  }
  const inc = d.incident;
  document.title = `${d.service} SEV${inc.severity} · Inquest`;
  const byId = Object.fromEntries(d.evidence.map((e) => [e.evidence_id, e]));
  const top = d.hypotheses[0];
  const retracted = new Set(d.retracted);
  const hypTitle = Object.fromEntries(d.hypotheses.map((h) => [h.hypothesis_id, h.title]));
  const fb = d.feedback.slice().reverse().map((e) => {
    const p = e.payload || {};
    const what = p.hypothesis_id ? hypTitle[p.hypothesis_id] || p.hypothesis_id : p.text || (p.retracts ? "undo " + p.retracts.slice(0, 8) : "");
    const canUndo = e.event_type !== "feedback_retracted" && !retracted.has(e.feedback_event_id);
    return `<li class="${retracted.has(e.feedback_event_id) ? "retracted" : ""}"><strong>${esc(e.event_type)}</strong> ${esc(what)}
      <div class="muted small">${fmtTime(e.created_at)} · ${esc(e.actor_type)} ${esc(e.actor_id || "")} ${canUndo ? `· <a href="#" data-undo="${esc(e.feedback_event_id)}">undo</a>` : ""}</div></li>`;
  }).join("");
  const options = d.hypotheses.map((h) => `<option value="${esc(h.hypothesis_id)}">#${h.rank} ${esc(h.title)}</option>`).join("");
  app.innerHTML = `
    <p><a href="/">← incidents</a></p>
    <div class="card summary">
      <div><h1>${esc(d.service)} · ${esc(inc.trigger_type)}</h1>
        <div class="kv"><span class="badge ${esc(inc.status)}" id="status">${esc(inc.status)}</span> <span class="badge sev${inc.severity}">SEV${inc.severity}</span>
        window ${fmtTime(inc.window_start)} – ${fmtTime(inc.window_end)} · <code>${esc(inc.incident_id)}</code></div></div>
      ${top ? `<div class="headline">Most likely: <strong>${esc(top.title)}</strong> ${confBar(top.confidence)}</div>` : `<div class="muted">not investigated yet</div>`}
      <button id="reinvestigate" class="primary" style="margin-left:auto">Re-investigate</button>
    </div>
    ${inc.resolved_at ? `<div class="resolution card" id="resolution"><strong>Resolved</strong> (${esc(inc.resolution_kind)}, ${fmtTime(inc.resolved_at)}): ${esc(inc.resolution_summary || "")}</div>` : ""}
    <div class="grid">
      <div>
        ${actionsHtml(d)}
        <section class="card" id="hypotheses"><h2>Hypotheses</h2>${d.hypotheses.map((h) => hypothesisHtml(h, d, byId)).join("") || `<p class="muted">none yet</p>`}</section>
        <section class="card" id="metrics"><h2>Metrics around the onset</h2><p class="muted">loading…</p></section>
        <section class="card" id="changes"><h2>Changes in reach</h2><p class="muted">loading…</p></section>
        <section class="card report" id="report"><h2>Report</h2>${d.report ? d.report.html : `<p class="muted">no report yet</p>`}
          ${d.report_history.length > 1 ? `<p class="small muted">${d.report_history.length} reports in history; latest ${fmtTime(d.report.created_at)}</p>` : ""}</section>
      </div>
      <div>
        <section class="card" id="lifecycle" hidden></section>
        <section class="card" id="assignment" hidden></section>
        <section class="card" id="follow-ups"><h2>Follow-up tickets</h2><p class="muted">loading…</p></section>
        <section class="card" id="notifications"><h2>Notifications</h2><p class="muted">loading…</p></section>
        <section class="card" id="feedback"><h2>Feedback</h2>
          <form class="inline" id="rootcause"><select name="hypothesis_id"><option value="">root cause: free text…</option>${options}</select>
            <input name="text" placeholder="root cause in your words"><button type="submit">Set root cause</button></form>
          <form class="inline" id="note"><input name="text" placeholder="add a note" required><button type="submit">Add note</button></form>
          <ul class="feedback-list">${fb || `<li class="muted">no feedback yet</li>`}</ul></section>
        <section class="card" id="radius"><h2>Blast radius</h2><p class="muted">loading…</p></section>
        <section class="card" id="runbooks"><h2>Suggested runbooks</h2>${d.runbooks.length ? `<ul class="evidence">${d.runbooks.map((r) => suggestedRunbook(r, byId)).join("")}</ul>` : `<p class="muted">none matched</p>`}</section>
        <section class="card" id="evidence"><h2>Evidence (${d.evidence.length})</h2><ul class="evidence">${d.evidence.map((e) => `<li id="ev-${esc(e.evidence_id)}"><span class="badge">${esc(e.kind)}</span> <code>${esc(e.ref)}</code> <span class="muted">${esc(e.source)}</span><div class="muted">${esc(evidenceSummary(e))}</div></li>`).join("")}</ul></section>
        ${d.decisions.length ? `<section class="card"><h2>Decisions</h2><ul class="evidence">${d.decisions.map(decisionHtml).join("")}</ul></section>` : ""}
      </div>
    </div>`;

  const send = async (body) => {
    try { await api(`/api/incidents/${id}/feedback`, { method: "POST", headers: { "content-type": "application/json" }, body: JSON.stringify(body) }); }
    catch (e) { alert(e.message); }
    await incidentPage(id);
  };
  for (const b of app.querySelectorAll(".hyp button[data-act]")) {
    b.addEventListener("click", () => { b.disabled = true; send({ event_type: b.dataset.act, hypothesis_id: b.closest(".hyp").dataset.hypothesis }); });
  }
  for (const a of app.querySelectorAll("a[data-undo]")) a.addEventListener("click", (ev) => { ev.preventDefault(); send({ event_type: "feedback_retracted", retracts: a.dataset.undo }); });
  document.getElementById("rootcause").addEventListener("submit", (ev) => {
    ev.preventDefault(); const f = new FormData(ev.target);
    send({ event_type: "root_cause_set", hypothesis_id: f.get("hypothesis_id") || null, text: f.get("text") || null });
  });
  document.getElementById("note").addEventListener("submit", (ev) => { ev.preventDefault(); send({ event_type: "human_note_added", text: new FormData(ev.target).get("text") }); });
  document.getElementById("reinvestigate").addEventListener("click", async (ev) => {
    ev.target.disabled = true; ev.target.textContent = "investigating…";
    try { await api(`/api/incidents/${id}/investigate`, { method: "POST" }); } catch (e) { alert(e.message); }
    await incidentPage(id);
  });
  await lifecycle(id);
  incidentAssignment(id);
  incidentChanges(id);
  incidentTickets(id);
  incidentNotifications(id);
  try {
    const m = await api(`/api/incidents/${id}/metrics`);
    document.querySelector("#metrics").innerHTML = `<h2>Metrics around the onset</h2>` + metricsHtml(m);
    document.querySelector("#radius").innerHTML = `<h2>Blast radius</h2>` + radiusHtml(m);
  } catch (e) {
    document.querySelector("#metrics").innerHTML = `<h2>Metrics around the onset</h2><div class="error">${esc(e.message)}</div>`;
  }
}

// ------------------------------------------------------------------ changes
// One timeline of deployments (their commit ranges expandable), config changes and
// commits, newest first, each saying where it came from; the culprit highlighted.
const CHANGE_COLOR = { deployment: "var(--dep)", config_change: "var(--cfg)", commit: "var(--muted)" };
const CHANGE_LABEL = { deployment: "deploy", config_change: "config", commit: "commit" };

function changeHtml(c) {
  const s = c.source || {};
  const from = [s.kind, s.feed && "via " + s.feed, s.actor && "by " + s.actor, s.repo, s.audit_log_ref && "audit " + s.audit_log_ref]
    .filter(Boolean).map(esc).join(" · ");
  const link = s.url && /^https?:\/\//.test(s.url) ? ` · <a href="${esc(s.url)}" target="_blank" rel="noopener">open</a>` : "";
  const where = c.service_key ? svcName(c.service_key) : c.kind === "config_change" ? "cluster-wide" : "";
  const commits = (c.commits || []).map((k) => `<li><code>${esc(k.sha.slice(0, 10))}</code> ${esc(k.title)}
    <span class="muted">${esc(k.author || "")} · ${esc(k.repo)} · ${k.files} file(s) +${k.lines_added}/-${k.lines_removed}</span></li>`).join("");
  const range = c.kind === "deployment"
    ? (commits ? `<details class="range"><summary>${c.commits.length} commit(s) in this deploy</summary><ul class="evidence">${commits}</ul></details>` : `<div class="small muted">no commit range recorded</div>`)
    : "";
  return `<li class="change${c.culprit ? " culprit" : ""}" data-kind="${esc(c.kind)}" data-id="${esc(c.id)}">
    <div><span class="badge" style="color:${CHANGE_COLOR[c.kind] || "inherit"}">${esc(CHANGE_LABEL[c.kind] || c.kind)}</span>
      <span class="when">${fmtTime(c.at)}</span> <strong>${esc(where)}</strong> ${esc(c.title)}
      ${c.culprit ? `<span class="badge culprit">culprit of the top hypothesis</span>` : ""}</div>
    <div class="small muted">${from} · <code>${esc(c.ref)}</code>${link}</div>${range}</li>`;
}

function timelineHtml(t) {
  const items = t.items.map(changeHtml).join("");
  return `<ul class="timeline">${items || `<li class="muted">no changes in this range</li>`}</ul>
    <div class="small muted">${fmtTime(t.from)} – ${fmtTime(t.to)} · ${t.items.length} change(s)${t.truncated ? ` · only the newest ${t.limit} shown` : ""}</div>`;
}

async function incidentChanges(id) {
  const el = document.getElementById("changes");
  if (!el) return;
  try {
    const t = await api(`/api/incidents/${id}/changes`);
    el.innerHTML = `<h2>Changes in reach</h2><p class="small muted">the blast radius's changes from the lookback before the window to its end</p>` + timelineHtml(t);
  } catch (e) { el.innerHTML = `<h2>Changes in reach</h2><div class="error">${esc(e.message)}</div>`; }
}

const RANGES = [["1", "last day"], ["7", "last 7 days"], ["30", "last 30 days"], ["90", "last 90 days"], ["365", "last year"]];

async function changesPage() {
  document.title = "Changes · Inquest";
  const params = new URLSearchParams(location.search);
  const service = params.get("service") || "";
  const days = params.get("days") || "7";
  let known = [];
  try { known = (await api("/api/changes?kind=deployment&limit=1")).services; } catch (e) { known = []; }
  const options = known.map((k) => `<option value="${esc(k)}">${esc(svcName(k))}</option>`).join("");
  const ranges = RANGES.map(([v, label]) => `<option value="${v}" ${v === days ? "selected" : ""}>${label}</option>`).join("");
  app.innerHTML = `<h1>Changes</h1>
    <form class="filters" id="changes-filters"><input name="service" list="services" placeholder="service" value="${esc(service)}">
      <datalist id="services">${options}</datalist><select name="days">${ranges}</select><button type="submit">show</button>
      <span class="muted small">${known.length} service(s)</span></form>
    <section class="card" id="changes-timeline">${service ? `<p class="muted">loading…</p>` : `<p class="muted">pick a service</p>`}</section>`;
  app.querySelector("#changes-filters").addEventListener("submit", (ev) => {
    ev.preventDefault();
    const f = new URLSearchParams();
    for (const [k, v] of new FormData(ev.target)) if (v) f.set(k, v);
    go("/changes?" + f);
  });
  if (!service) return;
  const to = new Date();
  const from = new Date(to.getTime() - Number(days) * 86400000);
  const q = new URLSearchParams({ service, from: from.toISOString(), to: to.toISOString() });
  const el = app.querySelector("#changes-timeline");
  try {
    const t = await api("/api/changes?" + q);
    el.innerHTML = `<h2>${esc(svcName(service))} <span class="muted small">${esc(t.services.join(", "))}</span></h2>` + timelineHtml(t);
  } catch (e) { el.innerHTML = `<div class="error">${esc(e.message)}</div>`; }
}

// ------------------------------------------------------------------ runbooks
// A suggested runbook links to its page when it came from the runbook API or folder
// sync (its evidence payload names the runbook and the section), else to its source.
function suggestedRunbook(r, byId) {
  const p = ((byId[r.evidence_id] || {}).metadata || {}).payload || {};
  const src = r.source_url && /^https?:\/\//.test(r.source_url) ? ` <a class="small" href="${esc(r.source_url)}" target="_blank" rel="noopener">source</a>` : "";
  const title = p.runbook_id
    ? `<a href="/runbooks/${encodeURIComponent(p.runbook_id)}${p.heading ? "#" + encodeURIComponent(p.heading) : ""}" class="runbook-link">${esc(r.title)}</a>${p.heading ? ` <span class="muted">§ ${esc(p.heading)}</span>` : ""}`
    : esc(r.title);
  return `<li>${title}${src} <span class="muted">score ${r.score.toFixed(2)}</span></li>`;
}

async function runbooksPage() {
  document.title = "Runbooks · Inquest";
  let list;
  try { list = await api("/api/runbooks"); } catch (e) { app.innerHTML = `<div class="error">${esc(e.message)}</div>`; return; }
  const rows = list.map((r) => `<tr data-runbook="${esc(r.id)}"><td><a href="/runbooks/${encodeURIComponent(r.id)}" data-go>${esc(r.title)}</a><div class="small muted"><code>${esc(r.id)}</code></div></td>
    <td>${esc(svcName(r.service) || "any")}</td><td>${r.tags.map((t) => `<span class="badge">${esc(t)}</span>`).join(" ")}</td>
    <td class="small">${esc(r.origin)}</td><td>${r.chunks}</td></tr>`).join("");
  app.innerHTML = `<h1>Runbooks <span class="muted small">${esc(me ? me.project : "")}</span></h1>
    <table class="list" id="runbook-list"><thead><tr><th>title</th><th>service</th><th>tags</th><th>origin</th><th>sections</th></tr></thead>
    <tbody>${rows || `<tr><td colspan="5" class="muted">no runbooks yet: POST /api/runbooks or run <code>inquest runbooks sync DIR</code></td></tr>`}</tbody></table>`;
  for (const tr of app.querySelectorAll("tr[data-runbook]")) tr.addEventListener("click", (ev) => { ev.preventDefault(); go("/runbooks/" + encodeURIComponent(tr.dataset.runbook)); });
}

async function runbookPage(id) {
  let r;
  try { r = await api("/api/runbooks/" + encodeURIComponent(id)); } catch (e) {
    app.innerHTML = `<p><a href="/runbooks" data-go>← runbooks</a></p><div class="error">${esc(e.message)}</div>`;
    bindGo(); return;
  }
  document.title = `${r.title} · Runbooks · Inquest`;
  // Ticks are kept for the browser tab only: a checklist for the person following it.
  const key = (i, j) => `inquest.runbook.${r.id}.${i}.${j}`;
  const sections = r.sections.map((s, i) => `<section class="card runbook-section" id="${esc(s.heading || "top")}">
      ${s.heading ? `<h2>${esc(s.heading)}</h2>` : ""}
      ${s.steps.length ? `<ul class="checklist">${s.steps.map((st, j) => `<li><label><input type="checkbox" data-key="${esc(key(i, j))}" ${sessionStorage.getItem(key(i, j)) ? "checked" : ""}> ${esc(st)}</label></li>`).join("")}</ul>` : ""}
      <details ${s.steps.length ? "" : "open"}><summary>text</summary><pre class="runbook-text">${esc(s.markdown)}</pre></details>
    </section>`).join("");
  app.innerHTML = `<p><a href="/runbooks" data-go>← runbooks</a></p>
    <div class="card summary"><div><h1 id="runbook-title">${esc(r.title)}</h1>
      <div class="kv">${r.service ? "service " + esc(svcName(r.service)) + " · " : ""}${r.tags.map((t) => `<span class="badge">${esc(t)}</span>`).join(" ")}
      · <code>${esc(r.id)}</code> · ${esc(r.origin)}${r.source_url && /^https?:\/\//.test(r.source_url) ? ` · <a href="${esc(r.source_url)}" target="_blank" rel="noopener">source</a>` : ""}</div></div></div>
    ${sections}`;
  for (const box of app.querySelectorAll(".checklist input[type=checkbox]")) {
    box.addEventListener("change", () => { if (box.checked) sessionStorage.setItem(box.dataset.key, "1"); else sessionStorage.removeItem(box.dataset.key); });
  }
  bindGo();
  if (location.hash) { const el = document.getElementById(decodeURIComponent(location.hash.slice(1))); if (el) el.scrollIntoView(); }
}

// Links marked data-go navigate inside the dashboard.
function bindGo() {
  for (const a of app.querySelectorAll("a[data-go]")) a.addEventListener("click", (ev) => { ev.preventDefault(); go(a.getAttribute("href")); });
}

// ------------------------------------------------------------------ lifecycle
// Incidents opened by alerts have a lifecycle (status, transitions, alerts); others answer 404.
const ACTIONS = { open: ["triage", "resolve", "suppress"], triaged: ["resolve", "suppress"], suppressed: ["reopen"], resolved: ["reopen"] };
const ACTION_LABEL = { triage: "Acknowledge", resolve: "Resolve", suppress: "Suppress", reopen: "Reopen" };
const secs = (s) => s == null ? "–" : s < 120 ? `${Math.round(s)} s` : s < 7200 ? `${Math.round(s / 60)} min` : `${(s / 3600).toFixed(1)} h`;

async function lifecycle(id) {
  const el = document.getElementById("lifecycle");
  let lc;
  try { lc = await api(`/api/incidents/${id}/lifecycle`); } catch (e) { return; }
  const buttons = (ACTIONS[lc.status] || []).map((a) => `<button data-action="${a}">${ACTION_LABEL[a]}</button>`).join(" ");
  const alerts = lc.alerts.map((a) => `<li><span class="badge">${esc(a.alert.severity)}</span> ${esc(a.alert.message)}
    <div class="muted small">${esc(a.alert.status)} · ×${a.occurrences} · last ${fmtTime(a.last_received_at)} · ${esc(a.alert.source)}</div></li>`).join("");
  const moves = lc.transitions.map((t) => `<li>${esc(t.from)} → <strong>${esc(t.to)}</strong> <span class="muted small">${fmtTime(t.at)} · ${esc(t.actor)}${t.reason ? " · " + esc(t.reason) : ""}</span></li>`).join("");
  el.innerHTML = `<h2>Lifecycle</h2>
    <div class="kv"><span class="badge ${esc(lc.status)}" id="lifecycle-status">${esc(lc.status)}</span>
      ${lc.approved ? `<span class="badge">approved for investigation</span>` : ""}
      time to acknowledge ${secs(lc.time_to_acknowledge_seconds)} · time to resolve ${secs(lc.time_to_resolve_seconds)}</div>
    <p class="inline">${buttons}</p>
    <h3>Alerts (${lc.alert_count})</h3><ul class="evidence">${alerts}</ul>
    ${moves ? `<h3>Transitions</h3><ul class="evidence">${moves}</ul>` : ""}`;
  el.hidden = false;
  for (const b of el.querySelectorAll("button[data-action]")) {
    b.addEventListener("click", async () => {
      b.disabled = true;
      try {
        await api(`/api/incidents/${id}/transition`, { method: "POST", headers: { "content-type": "application/json" }, body: JSON.stringify({ action: b.dataset.action }) });
      } catch (e) { alert(e.message); }
      await incidentPage(id);
    });
  }
}

// ------------------------------------------------------------------ SLOs and invariants
const pct = (v) => v == null ? "–" : (v * 100).toFixed(1) + "%";
const rate = (v) => v == null ? "–" : v >= 100 ? v.toFixed(0) + "×" : v.toFixed(2) + "×";
const span = (m) => m % 1440 === 0 ? `${m / 1440} d` : m % 60 === 0 ? `${m / 60} h` : `${m} min`;
const BURN_COLOURS = ["#b42318", "#dc6803", "#1570ef", "#667085"];

// Budget left (top) and each condition's long-window burn rate against its factor (bottom).
function burnSvg(slo, b) {
  const W = 420, H = 150, L = 34, R = 8, T = 8, B = 16, mid = 62;
  const h = b.history;
  if (!h.length) return "";
  const t0 = new Date(h[0].at).getTime(), t1 = new Date(h[h.length - 1].at).getTime();
  const x = (t) => L + ((new Date(t).getTime() - t0) / Math.max(1, t1 - t0)) * (W - L - R);
  const path = (vals, y) => vals.map((v, i) => v == null ? null : `${x(h[i].at).toFixed(1)},${y(v).toFixed(1)}`).filter(Boolean).join(" ");
  const budgets = h.map((s) => s.budget_remaining);
  const bLo = Math.min(0, ...budgets.filter((v) => v != null)), bHi = 1;
  const yb = (v) => T + (1 - (v - bLo) / (bHi - bLo)) * (mid - T);
  const factors = slo.burn_rate_thresholds.map((t) => t.factor);
  const burnMax = Math.max(1, ...factors, ...h.flatMap((s) => s.burn).filter((v) => v != null)) * 1.1;
  const yr = (v) => mid + 10 + (1 - v / burnMax) * (H - B - mid - 10);
  const lines = slo.burn_rate_thresholds.map((t, i) => {
    const c = BURN_COLOURS[i % BURN_COLOURS.length];
    return `<polyline fill="none" stroke="${c}" stroke-width="1.3" points="${path(h.map((s) => s.burn[i]), yr)}"><title>burn over ${span(t.long_window_minutes)}</title></polyline>
      <line x1="${L}" x2="${W - R}" y1="${yr(t.factor).toFixed(1)}" y2="${yr(t.factor).toFixed(1)}" stroke="${c}" stroke-dasharray="3 3" stroke-width="0.8"><title>${t.factor}× (fires with the ${span(t.short_window_minutes)} window)</title></line>`;
  }).join("");
  return `<svg viewBox="0 0 ${W} ${H}" role="img" aria-label="budget and burn of ${esc(slo.name)}" class="burn-chart">
    <line x1="${L}" x2="${W - R}" y1="${yb(0).toFixed(1)}" y2="${yb(0).toFixed(1)}" stroke="#d0d5dd"/>
    <polyline fill="none" stroke="#1c2430" stroke-width="1.5" points="${path(budgets, yb)}"><title>error budget left</title></polyline>
    <text x="${W - R}" y="${T + 8}" font-size="9" fill="#667085" text-anchor="end">error budget left</text>
    <text x="2" y="${T + 6}" font-size="9" fill="#667085">100%</text>${yb(0) - T > 12 ? `<text x="2" y="${yb(0) + 3}" font-size="9" fill="#667085">0%</text>` : ""}
    ${bLo < 0 ? `<text x="2" y="${mid}" font-size="9" fill="#667085">${Math.round(bLo * 100)}%</text>` : ""}
    <text x="${W - R}" y="${mid + 18}" font-size="9" fill="#667085" text-anchor="end">burn rate over each long window, dashed: its factor</text>
    <text x="2" y="${mid + 18}" font-size="9" fill="#667085">${rate(burnMax)}</text><text x="2" y="${H - B}" font-size="9" fill="#667085">0</text>${lines}
    <text x="${L}" y="${H - 3}" font-size="9" fill="#667085">${new Date(t0).toISOString().slice(5, 16).replace("T", " ")}</text>
    <text x="${W - R}" y="${H - 3}" font-size="9" fill="#667085" text-anchor="end">${new Date(t1).toISOString().slice(5, 16).replace("T", " ")} UTC</text></svg>`;
}

function sloCard(slo) {
  const last = slo.last;
  const state = last ? last.state : "not evaluated";
  const conds = slo.burn_rate_thresholds.map((t, i) => {
    const c = last && last.conditions[i];
    return `<tr><td><i class="swatch" style="background:${BURN_COLOURS[i % BURN_COLOURS.length]}"></i>${t.factor}× over ${span(t.long_window_minutes)} and ${span(t.short_window_minutes)}</td>
      <td>${rate(c && c.long_burn)}</td><td>${rate(c && c.short_burn)}</td><td>${c && c.firing ? `<span class="badge burning">firing</span>` : ""} <span class="small muted">${esc(t.severity)}</span></td></tr>`;
  }).join("");
  const q = slo.metric_query;
  const what = q.kind === "ratio" ? `${esc(q.good)} / ${esc(q.total)}` : `${esc(q.metric)} ≤ ${esc(q.threshold)}`;
  return `<section class="slo" data-slo="${esc(slo.slo_id)}"><h2>${esc(slo.name)} <span class="badge ${esc(state)}">${esc(state)}</span>${slo.enabled ? "" : ` <span class="badge">disabled</span>`}</h2>
    <div class="kv small">${esc(svcName(q.service))} · ${what} · target ${pct(slo.target)} over ${slo.window_days} d ·
      error budget left <strong class="budget">${pct(last && last.budget_remaining)}</strong>${last ? ` · evaluated ${age(last.at)}` : ""}</div>
    ${slo.description ? `<p class="small">${esc(slo.description)}</p>` : ""}
    <table class="list small"><thead><tr><th>condition</th><th>long burn</th><th>short burn</th><th></th></tr></thead><tbody>${conds}</tbody></table>
    <div class="chart burn" id="burn-${esc(slo.slo_id)}"><span class="muted small">loading the last 24 h…</span></div></section>`;
}

async function slosPage() {
  document.title = "SLOs · Inquest";
  let slos, invariants;
  try { [slos, invariants] = await Promise.all([api("/api/slos"), api("/api/invariants")]); } catch (e) { app.innerHTML = `<div class="error">${esc(e.message)}</div>`; return; }
  const inv = invariants.map((i) => {
    const l = i.last;
    return `<tr data-invariant="${esc(i.invariant_id)}"><td>${esc(i.name)}<div class="small muted">${esc(svcName(i.query.service))} · ${esc(i.query.aggregation)}(${esc(i.query.metric)}) over ${span(i.query.window_minutes)} ${esc(i.condition.op)} ${esc(i.condition.value)}</div></td>
      <td><span class="badge ${esc(l ? l.state : "")}">${esc(l ? l.state : "not run")}</span></td><td>${l && l.value != null ? esc(l.value) : "–"}</td>
      <td class="small">${l ? esc(fmtTime(l.at)) : ""}</td><td class="small">${l ? esc(l.message) : ""}</td>
      <td><button data-run="${esc(i.invariant_id)}">run now</button></td></tr>`;
  }).join("");
  app.innerHTML = `<h1>SLOs <span class="muted small">${esc(me ? me.project : "")}</span></h1>
    <div id="slo-list">${slos.map(sloCard).join("") || `<p class="muted">no SLOs yet: POST /api/slos</p>`}</div>
    <h1>Invariants</h1>
    <table class="list" id="invariant-list"><thead><tr><th>invariant</th><th>last result</th><th>value</th><th>checked</th><th></th><th></th></tr></thead>
    <tbody>${inv || `<tr><td colspan="6" class="muted">no invariants yet: POST /api/invariants</td></tr>`}</tbody></table>`;
  for (const b of app.querySelectorAll("button[data-run]")) {
    b.addEventListener("click", async () => {
      b.disabled = true;
      try { await api(`/api/invariants/${b.dataset.run}/run`, { method: "POST" }); } catch (e) { alert(e.message); }
      slosPage();
    });
  }
  for (const slo of slos) {
    const el = document.getElementById("burn-" + slo.slo_id);
    api(`/api/slos/${slo.slo_id}/burn?hours=24`)
      .then((b) => { el.innerHTML = burnSvg(slo, b) || `<span class="muted small">no points in the last 24 h</span>`; })
      .catch((e) => { el.innerHTML = `<span class="error small">${esc(e.message)}</span>`; });
  }
}

// ------------------------------------------------------------------ tickets
// Follow-up work: the filtered list ("ready" = pending with every dependency
// completed), one ticket with its history and dependencies, and the incident page's
// follow-ups.
const TICKET_STATUSES = ["pending", "in_progress", "completed", "failed", "blocked"];
const jsonPost = (method, body) => ({ method, headers: { "content-type": "application/json" }, body: JSON.stringify(body) });
const readyBadge = (t) => t.ready ? ` <span class="badge ready">ready</span>` : "";
const ticketRow = (t) => `<tr data-ticket="${esc(t.id)}"><td><span class="badge ${esc(t.status)}">${esc(t.status)}</span>${readyBadge(t)}</td>
  <td><span class="badge prio-${esc(t.priority)}">${esc(t.priority)}</span></td>
  <td><a href="/tickets/${esc(t.id)}" data-go>${esc(t.objective)}</a>${t.success_criteria.length ? `<div class="small muted">${t.success_criteria.length} criteria</div>` : ""}</td>
  <td class="small">${esc(t.source_type)}${t.source_id ? ` <code>${esc(t.source_id.slice(0, 8))}</code>` : ""}</td>
  <td class="small hide-narrow">${age(t.created_at)}</td></tr>`;

async function ticketsPage() {
  document.title = "Tickets · Inquest";
  const params = new URLSearchParams(location.search);
  const limit = 25;
  const offset = Number(params.get("offset") || 0);
  const q = new URLSearchParams();
  for (const k of ["status", "priority", "source_type", "source_id"]) if (params.get(k)) q.set(k, params.get(k));
  q.set("limit", limit); q.set("offset", offset);
  let page;
  try { page = await api("/api/tickets?" + q); } catch (e) { app.innerHTML = `<div class="error">${esc(e.message)}</div>`; return; }
  const sel = (name, opts) => `<select name="${name}"><option value="">any ${name.replace("_", " ")}</option>${opts.map((o) => `<option ${params.get(name) === o ? "selected" : ""}>${o}</option>`).join("")}</select>`;
  app.innerHTML = `<h1>Tickets <span class="muted small">${esc(me ? me.project : "")}</span></h1>
    <form class="filters" id="ticket-filters">
      ${sel("status", ["ready", ...TICKET_STATUSES])}
      ${sel("priority", ["critical", "high", "medium", "low"])}
      ${sel("source_type", ["incident", "slo", "invariant", "human"])}
      <button type="submit">Filter</button> <span class="muted">${page.total} ticket(s)</span>
    </form>
    <table class="list" id="ticket-list"><thead><tr><th>status</th><th>priority</th><th>objective</th><th>source</th><th class="hide-narrow">created</th></tr></thead>
      <tbody>${page.items.map(ticketRow).join("") || `<tr><td colspan="5" class="muted">no tickets match</td></tr>`}</tbody></table>
    <div class="pager">
      <button id="prev" ${offset === 0 ? "disabled" : ""}>← previous</button>
      <span class="muted">${page.total ? offset + 1 : 0}–${Math.min(offset + limit, page.total)} of ${page.total}</span>
      <button id="next" ${offset + limit >= page.total ? "disabled" : ""}>next →</button>
    </div>
    <section class="card"><h2>New ticket</h2>
      <form class="inline" id="new-ticket"><input name="objective" placeholder="objective" required size="40">
        <select name="priority"><option>medium</option><option>critical</option><option>high</option><option>low</option></select>
        <input name="criteria" placeholder="success criteria (one per ;)" size="30"><button type="submit">Create</button></form></section>`;
  app.querySelector("#ticket-filters").addEventListener("submit", (ev) => {
    ev.preventDefault();
    const p = new URLSearchParams();
    for (const [k, v] of new FormData(ev.target)) if (v) p.set(k, v);
    go("/tickets?" + p);
  });
  const move = (d) => { params.set("offset", Math.max(0, offset + d)); go("/tickets?" + params); };
  app.querySelector("#prev").onclick = () => move(-limit);
  app.querySelector("#next").onclick = () => move(limit);
  app.querySelector("#new-ticket").addEventListener("submit", async (ev) => {
    ev.preventDefault();
    const f = new FormData(ev.target);
    const criteria = String(f.get("criteria") || "").split(";").map((s) => s.trim()).filter(Boolean);
    try {
      const t = await api("/api/tickets", jsonPost("POST", { objective: f.get("objective"), priority: f.get("priority"), success_criteria: criteria }));
      go("/tickets/" + t.id);
    } catch (e) { alert(e.message); }
  });
  bindGo();
}

const eventLine = (e) => {
  const d = e.data || {};
  const what = e.event_type === "status_changed" || e.event_type === "priority_changed" ? `${esc(d.from)} → <strong>${esc(d.to)}</strong>`
    : e.event_type.startsWith("dependency_") ? `<a href="/tickets/${esc(d.depends_on_id)}" data-go><code>${esc(String(d.depends_on_id).slice(0, 8))}</code></a>`
    : `<code class="small">${esc(JSON.stringify(d.changes || d))}</code>`;
  return `<li><strong>${esc(e.event_type)}</strong> ${what}${d.note ? ` · ${esc(d.note)}` : ""}<div class="muted small">${fmtTime(e.created_at)}</div></li>`;
};

async function ticketPage(id) {
  let t;
  try { t = await api("/api/tickets/" + encodeURIComponent(id)); } catch (e) {
    app.innerHTML = `<p><a href="/tickets" data-go>← tickets</a></p><div class="error">${esc(e.message)}</div>`;
    bindGo(); return;
  }
  document.title = `${t.objective} · Tickets · Inquest`;
  const source = t.source_type === "incident" && t.source_id ? `<a href="/incidents/${esc(t.source_id)}" data-go>incident <code>${esc(t.source_id.slice(0, 8))}</code></a>`
    : `${esc(t.source_type)}${t.source_id ? ` <code>${esc(t.source_id)}</code>` : ""}`;
  const deps = t.dependencies.map((d) => `<li data-dep="${esc(d.depends_on_id)}"><span class="badge ${esc(d.depends_on.status)}">${esc(d.depends_on.status)}</span>
    <a href="/tickets/${esc(d.depends_on_id)}" data-go>${esc(d.depends_on.objective)}</a> <button class="link" data-remove="${esc(d.depends_on_id)}">remove</button></li>`).join("");
  const waiting = t.dependencies.filter((d) => d.depends_on.status !== "completed").length;
  app.innerHTML = `<p><a href="/tickets" data-go>← tickets</a></p>
    <div class="card summary"><div><h1 id="ticket-objective">${esc(t.objective)}</h1>
      <div class="kv"><span class="badge ${esc(t.status)}" id="ticket-status">${esc(t.status)}</span>${readyBadge(t)}
        <span class="badge prio-${esc(t.priority)}">${esc(t.priority)}</span> · from ${source} · created ${fmtTime(t.created_at)}
        ${t.resolved_at ? ` · resolved ${fmtTime(t.resolved_at)}` : ""} · <code>${esc(t.id)}</code></div>
      ${t.status === "pending" && !t.ready ? `<div class="small muted">waiting on ${waiting} dependenc${waiting === 1 ? "y" : "ies"}</div>` : ""}</div></div>
    <div class="grid"><div>
      <section class="card"><h2>Success criteria</h2>${t.success_criteria.length ? `<ul>${t.success_criteria.map((c) => `<li>${esc(c)}</li>`).join("")}</ul>` : `<p class="muted">none given</p>`}</section>
      <section class="card"><h2>Context</h2><pre class="runbook-text">${esc(JSON.stringify(t.context, null, 2))}</pre></section>
      <section class="card" id="ticket-events"><h2>History</h2><ul class="evidence">${t.events.map(eventLine).join("")}</ul>
        <form class="inline" id="ticket-note"><input name="text" placeholder="add a note" required><button type="submit">Add note</button></form></section>
    </div><div>
      <section class="card"><h2>Status</h2>
        <form class="inline" id="ticket-move"><select name="status">${TICKET_STATUSES.map((s) => `<option ${s === t.status ? "selected" : ""}>${s}</option>`).join("")}</select>
          <input name="note" placeholder="why (optional)"><button type="submit">Change</button></form></section>
      <section class="card" id="ticket-deps"><h2>Depends on</h2><ul class="evidence">${deps || `<li class="muted">nothing</li>`}</ul>
        <form class="inline" id="ticket-dep"><input name="depends_on_id" placeholder="ticket id" required size="36"><button type="submit">Add dependency</button></form></section>
    </div></div>`;
  const again = () => ticketPage(id);
  app.querySelector("#ticket-move").addEventListener("submit", async (ev) => {
    ev.preventDefault();
    const f = new FormData(ev.target);
    const body = { status: f.get("status") };
    if (f.get("note")) body.note = f.get("note");
    try { await api(`/api/tickets/${encodeURIComponent(id)}`, jsonPost("PATCH", body)); } catch (e) { alert(e.message); }
    again();
  });
  app.querySelector("#ticket-note").addEventListener("submit", async (ev) => {
    ev.preventDefault();
    const text = new FormData(ev.target).get("text");
    try { await api(`/api/tickets/${encodeURIComponent(id)}/events`, jsonPost("POST", { event_type: "note", data: { text } })); } catch (e) { alert(e.message); }
    again();
  });
  app.querySelector("#ticket-dep").addEventListener("submit", async (ev) => {
    ev.preventDefault();
    const dep = String(new FormData(ev.target).get("depends_on_id")).trim();
    try { await api(`/api/tickets/${encodeURIComponent(id)}/dependencies`, jsonPost("POST", { depends_on_id: dep })); } catch (e) { alert(e.message); }
    again();
  });
  for (const b of app.querySelectorAll("button[data-remove]")) {
    b.addEventListener("click", async () => {
      const path = `/api/tickets/${encodeURIComponent(id)}/dependencies/${encodeURIComponent(b.dataset.remove)}`;
      try { await api(path, { method: "DELETE" }); } catch (e) { alert(e.message); }
      again();
    });
  }
  bindGo();
}

// The incident page's follow-up tickets, and the button that creates them once.
async function incidentTickets(id) {
  const el = document.getElementById("follow-ups");
  if (!el) return;
  let page;
  try { page = await api(`/api/tickets?source_type=incident&source_id=${encodeURIComponent(id)}`); } catch (e) {
    el.innerHTML = `<h2>Follow-up tickets</h2><div class="error small">${esc(e.message)}</div>`; return;
  }
  el.innerHTML = `<h2>Follow-up tickets</h2>
    ${page.items.length ? `<ul class="evidence">${page.items.map((t) => `<li><span class="badge ${esc(t.status)}">${esc(t.status)}</span>${readyBadge(t)} <a href="/tickets/${esc(t.id)}" data-go>${esc(t.objective)}</a></li>`).join("")}</ul>`
      : `<p class="muted small">none yet</p><button id="make-follow-ups">Create follow-up tickets</button>`}`;
  const b = el.querySelector("#make-follow-ups");
  if (b) b.addEventListener("click", async () => {
    b.disabled = true;
    try { await api(`/api/incidents/${encodeURIComponent(id)}/tickets`, { method: "POST" }); } catch (e) { alert(e.message); }
    incidentTickets(id);
  });
  for (const a of el.querySelectorAll("a[data-go]")) a.addEventListener("click", (ev) => { ev.preventDefault(); go(a.getAttribute("href")); });
}

// ------------------------------------------------------------------ on-call
// Schedules with who is on call now and the next handoff, their escalation steps and
// overrides (a form adds one), and on the incident page who it was assigned and
// escalated to.
const hours = (h) => h % 24 === 0 ? `${h / 24} d` : `${h} h`;
function targetText(t, names) {
  if (t.kind === "person") return esc(t.person);
  if (t.kind === "schedule") return `on call for ${esc(names[t.schedule_id] || t.schedule_id.slice(0, 8))}`;
  return "the next in the rotation";
}
function onCallText(o) {
  if (!o) return `<span class="muted">nobody (the rotation has not started)</span>`;
  const via = o.source.kind === "override" ? ` <span class="badge">override</span>` : "";
  return `<strong class="on-call">${esc(o.person)}</strong>${via} <span class="small muted">until ${fmtTime(o.until)}</span>`;
}

function scheduleCard(s, names) {
  const covers = [...s.services.map((x) => esc(svcName(x)) + (x.includes("/") ? ` <span class="muted">(${esc(x)})</span>` : "")),
    ...(s.team ? [`team <strong>${esc(s.team)}</strong>`] : [])].join(", ") || `<span class="muted">no service (an escalation target only)</span>`;
  const steps = s.escalation.map((st, i) => `<li>step ${i + 1}: after <strong>${span(st.after_minutes)}</strong> unacknowledged → ${st.targets.map((t) => targetText(t, names)).join(", ")}</li>`).join("");
  const overrides = s.overrides.map((o) => `<li><strong>${esc(o.person)}</strong> <span class="small muted">${fmtTime(o.from)} – ${fmtTime(o.until)}</span></li>`).join("");
  return `<section class="schedule card" data-schedule="${esc(s.schedule_id)}"><h2>${esc(s.name)}</h2>
    <div class="kv">on call now: ${onCallText(s.on_call)}${s.next ? ` · next handoff to <strong class="next">${esc(s.next.person)}</strong>` : ""}</div>
    <div class="small">covers ${covers}</div>
    <div class="small muted">rotation: ${s.rotation.members.map(esc).join(" → ")}, shifts of ${hours(s.rotation.shift_hours)} from ${fmtTime(s.rotation.starts_at)}</div>
    <h3>Escalation</h3>${steps ? `<ol class="evidence steps">${steps}</ol>` : `<p class="muted small">no steps: nobody is told beyond the person on call</p>`}
    <h3>Overrides</h3>${overrides ? `<ul class="evidence">${overrides}</ul>` : `<p class="muted small">none coming</p>`}
    <form class="inline override" data-schedule="${esc(s.schedule_id)}">
      <input name="person" placeholder="who covers" required>
      <input name="from" type="datetime-local" required title="from (your local time)">
      <input name="until" type="datetime-local" required title="until (your local time)">
      <button type="submit">Add override</button></form></section>`;
}

async function oncallPage() {
  document.title = "On-call · Inquest";
  let schedules;
  try { schedules = await api("/api/oncall/schedules"); } catch (e) { app.innerHTML = `<div class="error">${esc(e.message)}</div>`; return; }
  const names = Object.fromEntries(schedules.map((s) => [s.schedule_id, s.name]));
  app.innerHTML = `<h1>On-call <span class="muted small">${esc(me ? me.project : "")}</span></h1>
    <form class="inline" id="who-now"><input name="service" placeholder="service (name or cluster/namespace/name)" required><button type="submit">Who is on call?</button></form>
    <p id="who-now-answer" class="small"></p>
    <div id="schedule-list">${schedules.map((s) => scheduleCard(s, names)).join("") || `<p class="muted">no schedules yet: POST /api/oncall/schedules</p>`}</div>`;
  document.getElementById("who-now").addEventListener("submit", async (ev) => {
    ev.preventDefault();
    const out = document.getElementById("who-now-answer");
    const service = new FormData(ev.target).get("service");
    try {
      const n = await api(`/api/oncall/now?service=${encodeURIComponent(service)}`);
      out.innerHTML = `${esc(n.service)}: ${onCallText(n.on_call)} (schedule ${esc(n.schedule)})`;
    } catch (e) { out.innerHTML = `<span class="error small">${esc(e.message)}</span>`; }
  });
  for (const f of app.querySelectorAll("form.override")) {
    f.addEventListener("submit", async (ev) => {
      ev.preventDefault();
      const d = new FormData(f);
      const iso = (v) => new Date(v).toISOString();
      try {
        await api(`/api/oncall/schedules/${f.dataset.schedule}/overrides`, jsonPost("POST", { person: d.get("person"), from: iso(d.get("from")), until: iso(d.get("until")) }));
      } catch (e) { alert(e.message); return; }
      oncallPage();
    });
  }
}

async function incidentAssignment(id) {
  const el = document.getElementById("assignment");
  if (!el) return;
  let a;
  try { a = await api(`/api/incidents/${encodeURIComponent(id)}/assignment`); } catch (e) {
    if (e.status === 404) return;
    el.innerHTML = `<h2>On call</h2><div class="error small">${esc(e.message)}</div>`; el.hidden = false; return;
  }
  if (!a.assigned) {
    el.innerHTML = `<h2>On call</h2><p class="muted small" id="unassigned">unassigned: ${esc(a.reason)}</p>`;
  } else {
    const x = a.assignment;
    const esc_ = x.escalations.map((e) => `<li>escalated to <strong>${e.targets.map(esc).join(", ") || "nobody on call"}</strong> at ${fmtTime(e.at)} <span class="small muted">(step ${e.step + 1})</span></li>`).join("");
    const stopped = x.stopped ? `<p class="small muted">no further escalation: ${esc(x.stopped.reason.replace("_", " "))} ${fmtTime(x.stopped.at)}</p>` : "";
    el.innerHTML = `<h2>On call</h2><p id="assigned">assigned to <strong>${esc(x.person)}</strong> at ${fmtTime(x.assigned_at)}
      <span class="small muted">${a.schedule ? `schedule ${esc(a.schedule)}` : "schedule deleted"}</span></p>
      ${esc_ ? `<ul class="evidence" id="escalations">${esc_}</ul>` : ""}${stopped}`;
  }
  el.hidden = false;
}

// The summary above the incident list (GET /api/stats): a part whose store could not
// be read is left out and said so.
async function summary() {
  const el = document.getElementById("summary");
  if (!el) return;
  let st;
  try { st = await api("/api/stats?days=30"); } catch (e) { el.innerHTML = `<span class="error small">${esc(e.message)}</span>`; return; }
  const parts = [];
  if (st.incidents) {
    const sev = Object.entries(st.incidents.by_severity).map(([k, n]) => `SEV${esc(k)} ${n}`).join(", ");
    parts.push(`<strong>${st.incidents.total}</strong> open${sev ? ` (${sev})` : ""}`);
  }
  if (st.response_times) parts.push(`MTTA ${secs(st.response_times.mtta_seconds)} · MTTR ${secs(st.response_times.mttr_seconds)} over ${st.response_times.days} d`);
  if (st.slos) parts.push(st.slos.burning.length ? `<a href="/slos" data-go class="badge burning">${st.slos.burning.length} SLO(s) burning</a>` : `${st.slos.enabled} SLO(s), none burning`);
  if (st.tickets) parts.push(`<a href="/tickets?status=ready" data-go>${st.tickets.ready} ticket(s) ready</a>`);
  for (const g of st.gaps) parts.push(`<span class="muted">${esc(g.part)}: ${esc(g.message)}</span>`);
  el.innerHTML = parts.join(" · ");
  for (const a of el.querySelectorAll("a[data-go]")) a.addEventListener("click", (ev) => { ev.preventDefault(); go(a.getAttribute("href")); });
}

// ------------------------------------------------------------------ notification channels
// Channels with their kind, masked target and health (failing after failures in a
// row, with the last error), a form to add one, a test button per channel, and the
// deliveries with state, attempts and error, a failed one retried with a button.
const EVENTS = ["assigned", "escalated", "paged", "diagnosed"];
const healthHtml = (h) => h.failing
  ? `<span class="badge fail">failing</span> <span class="small">${h.consecutive_failures} failures in a row: ${esc(h.last_error)}</span>`
  : h.consecutive_failures ? `<span class="badge no_data">${h.consecutive_failures} failed</span> <span class="small">${esc(h.last_error)}</span>`
  : h.last_success_at ? `<span class="badge ok">ok</span> <span class="small muted">last sent ${age(h.last_success_at)}</span>`
  : `<span class="badge">no attempt yet</span>`;
const deliveryRow = (d, names) => `<tr><td><span class="badge ${esc(d.state)}">${esc(d.state)}</span></td>
  <td>${esc(names[d.channel_id] || String(d.channel_id).slice(0, 8))}</td>
  <td>${d.incident_id.startsWith("00000000") ? `<span class="muted">test</span>` : `<a href="/incidents/${esc(d.incident_id)}" data-go>${esc(d.subject)}</a>`}</td>
  <td>${d.attempts}</td><td class="small">${esc(d.last_error || "")}</td><td class="small">${age(d.created_at)}</td>
  <td>${d.state === "failed" ? `<button class="link" data-retry="${esc(d.delivery_id)}">retry</button>` : ""}</td></tr>`;

function bindRetry(el, after) {
  for (const b of el.querySelectorAll("button[data-retry]")) b.addEventListener("click", async () => {
    try { await api(`/api/notifications/${encodeURIComponent(b.dataset.retry)}/retry`, { method: "POST" }); } catch (e) { alert(e.message); }
    after();
  });
}

async function channelsPage() {
  app.innerHTML = `<p class="muted">loading…</p>`;
  const state = new URLSearchParams(location.search).get("state") || "";
  let channels, page;
  try {
    [channels, page] = await Promise.all([api("/api/channels"), api("/api/notifications?limit=100" + (state ? "&state=" + encodeURIComponent(state) : ""))]);
  } catch (e) { app.innerHTML = `<h1>Notification channels</h1><div class="error">${esc(e.message)}</div>`; return; }
  const names = Object.fromEntries(channels.map((c) => [c.channel_id, c.name]));
  const rows = channels.map((c) => `<tr data-channel="${esc(c.channel_id)}"><td>${esc(c.name)}${c.enabled ? "" : ` <span class="badge">disabled</span>`}</td>
    <td>${esc(c.kind)}${c.signed ? ` <span class="small muted">signed</span>` : ""}</td><td><code>${esc(c.target)}</code></td>
    <td class="small">${c.events.length ? c.events.map(esc).join(", ") : "all"}</td><td class="health">${healthHtml(c.health)}</td>
    <td><button class="link" data-test="${esc(c.channel_id)}">send a test</button> <button class="link" data-delete="${esc(c.channel_id)}">delete</button></td></tr>`).join("");
  app.innerHTML = `<h1>Notification channels</h1>
    <section class="card"><table class="list"><thead><tr><th>name</th><th>kind</th><th>target</th><th>events</th><th>health</th><th></th></tr></thead>
      <tbody>${rows || `<tr><td colspan="6" class="muted">no channels yet</td></tr>`}</tbody></table></section>
    <section class="card"><h2>Add a channel</h2>
      <form id="new-channel" class="inline"><input name="name" placeholder="name" required>
        <select name="kind"><option value="slack">Slack webhook</option><option value="webhook">JSON webhook</option><option value="email">e-mail</option></select>
        <input name="target" placeholder="webhook URL, or addresses separated by commas" required size="40">
        <input name="secret" placeholder="signing secret (JSON webhook, optional)">
        ${EVENTS.map((e) => `<label class="small"><input type="checkbox" name="events" value="${e}">${e}</label>`).join(" ")}
        <button type="submit">Add</button></form><p class="small muted">No event ticked: every event. The URL is sealed and shown masked from now on.</p></section>
    <section class="card" id="deliveries"><h2>Deliveries</h2>
      <p class="small">${["", "queued", "sending", "sent", "failed"].map((s) => `<a href="/channels${s ? "?state=" + s : ""}" data-go>${s || "all"}</a>`).join(" · ")} (${page.total})</p>
      <table class="list"><thead><tr><th>state</th><th>channel</th><th>notice</th><th>attempts</th><th>last error</th><th>queued</th><th></th></tr></thead>
      <tbody>${page.items.map((d) => deliveryRow(d, names)).join("") || `<tr><td colspan="7" class="muted">none</td></tr>`}</tbody></table></section>`;
  bindGo();
  bindRetry(app, channelsPage);
  for (const b of app.querySelectorAll("button[data-test]")) b.addEventListener("click", async () => {
    try { await api(`/api/channels/${encodeURIComponent(b.dataset.test)}/test`, { method: "POST" }); } catch (e) { alert(e.message); }
    channelsPage();
  });
  for (const b of app.querySelectorAll("button[data-delete]")) b.addEventListener("click", async () => {
    if (!confirm("Delete this channel? Its deliveries stay listed.")) return;
    try { await api(`/api/channels/${encodeURIComponent(b.dataset.delete)}`, { method: "DELETE" }); } catch (e) { alert(e.message); }
    channelsPage();
  });
  document.getElementById("new-channel").addEventListener("submit", async (ev) => {
    ev.preventDefault();
    const f = new FormData(ev.target);
    const kind = f.get("kind"), target = String(f.get("target")).trim();
    const body = { name: f.get("name"), kind, events: f.getAll("events") };
    if (kind === "slack") body.webhook_url = target;
    else if (kind === "webhook") { body.url = target; if (f.get("secret")) body.secret = f.get("secret"); }
    else body.to = target.split(",").map((a) => a.trim()).filter(Boolean);
    try { await api("/api/channels", jsonPost("POST", body)); } catch (e) { alert(e.message); return; }
    channelsPage();
  });
}

// The incident page's notifications: what was sent to whom, and a retry for a failed one.
async function incidentNotifications(id) {
  const el = document.getElementById("notifications");
  if (!el) return;
  let page, channels;
  try {
    [page, channels] = await Promise.all([api(`/api/notifications?incident=${encodeURIComponent(id)}`), api("/api/channels")]);
  } catch (e) { el.innerHTML = `<h2>Notifications</h2><div class="error small">${esc(e.message)}</div>`; return; }
  const names = Object.fromEntries(channels.map((c) => [c.channel_id, c.name]));
  el.innerHTML = `<h2>Notifications</h2>${page.items.length
    ? `<ul class="evidence">${page.items.map((d) => `<li><span class="badge ${esc(d.state)}">${esc(d.state)}</span> ${esc(d.event)} to ${esc(names[d.channel_id] || "a deleted channel")}
        <span class="small muted">${d.attempts} attempt(s)${d.last_error ? ": " + esc(d.last_error) : ""}</span>
        ${d.state === "failed" ? `<button class="link" data-retry="${esc(d.delivery_id)}">retry</button>` : ""}</li>`).join("")}</ul>`
    : `<p class="muted small">none sent</p>`}`;
  bindRetry(el, () => incidentNotifications(id));
}

function go(url) { history.pushState(null, "", url); route(); }
async function route() {
  if (location.pathname === "/login") { loginPage(); return; }
  if (!me && !(await loadMe())) { go("/login"); return; }
  const m = location.pathname.match(/^\/incidents\/([^/]+)$/);
  const rb = location.pathname.match(/^\/runbooks\/([^/]+)$/);
  const tk = location.pathname.match(/^\/tickets\/([^/]+)$/);
  if (m) incidentPage(decodeURIComponent(m[1]));
  else if (tk) ticketPage(decodeURIComponent(tk[1]));
  else if (location.pathname === "/tickets") ticketsPage();
  else if (rb) runbookPage(decodeURIComponent(rb[1]));
  else if (location.pathname === "/runbooks") runbooksPage();
  else if (location.pathname === "/slos") slosPage();
  else if (location.pathname === "/oncall") oncallPage();
  else if (location.pathname === "/channels") channelsPage();
  else if (location.pathname === "/audit") auditPage();
  else if (location.pathname === "/changes") changesPage();
  else listPage();
}
window.addEventListener("popstate", route);
route();
