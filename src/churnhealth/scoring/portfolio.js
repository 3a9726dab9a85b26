// Draws outputs/portfolio.html from the JSON in #data (written by churnhealth.scoring.portfolio).
"use strict";
const D = JSON.parse(document.getElementById("data").textContent);
const $ = (id) => document.getElementById(id);
const esc = (s) => String(s ?? "").replace(/[&<>"']/g, (c) => ({"&": "&amp;", "<": "&lt;", ">": "&gt;", '"': "&quot;", "'": "&#39;"}[c]));
const words = (s) => String(s ?? "").replace(/_/g, " ");
// money in the data's currency, the rule of churnhealth.units.money: $350.3M, €12k, CHF 640
const SYMBOLS = {USD: "$", EUR: "€", GBP: "£", JPY: "¥", CNY: "CN¥", INR: "₹", CAD: "CA$", AUD: "A$", NZD: "NZ$", BRL: "R$", KRW: "₩"};
const CUR = SYMBOLS[D.currency] ?? `${D.currency ?? "USD"} `;
const money = (v) => {
  if (v == null || !isFinite(v)) return "–";
  const a = Math.abs(v), sign = v < 0 ? "−" : "";
  const n = a >= 1e9 ? (a / 1e9).toFixed(1) + "B" : a >= 1e6 ? (a / 1e6).toFixed(1) + "M" : a >= 1e3 ? Math.round(a / 1e3) + "k" : String(Math.round(a));
  return sign + CUR + n;
};
const label = (f) => D.labels[f] ?? words(f);
const pct = (v, d = 1) => v == null ? "–" : (100 * v).toFixed(d) + "%";
const signed = (v, d = 0) => v == null ? "–" : (v > 0 ? "+" : v < 0 ? "−" : "") + Math.abs(v).toFixed(d);
const tier = (t) => `<span class="tier ${esc(t)}">${esc(words(t))}</span>`;
const TIERS = ["healthy", "moderate", "at_risk", "critical"];
const SAVE = {"new": "alerted by this run", "held out": "held out (measuring): chosen by this run and held out at random to measure the play — not to be worked", "under way": "a save play under way (alerted within the cool-down)", "waiting": "waiting: the team's capacity is full, not alerted"};
const WHY = {
  signals: "<b>At risk for its signals</b>: a save play can change them.",
  csm: "<b>At risk by a CSM's override</b>: on the save list on the CSM's word.",
  contract: "<b>At risk for its contract, not its signals</b>: renewal exposure, for whoever owns the commercial terms; no save play changes term or renewal timing.",
};
const COLORS = {healthy: "var(--healthy)", moderate: "var(--moderate)", at_risk: "var(--at_risk)", critical: "var(--critical)"};

function table(head, rows) {
  return `<table><thead><tr>${head.map((h, i) => `<th class="${i ? "" : "l"}">${esc(h)}</th>`).join("")}</tr></thead><tbody>${rows.join("")}</tbody></table>`;
}

function header() {
  $("title").textContent = `Portfolio health as of ${D.as_of}`;
  $("subtitle").textContent = `${D.total.toLocaleString()} active accounts, model v${D.model_version}`;
  const p = D.portfolio;
  const cards = [
    ["accounts", p.accounts.toLocaleString()], ["ARR", money(p.arr)],
    ["at risk + critical", `${(p.tiers.at_risk.accounts + p.tiers.critical.accounts).toLocaleString()} (${money(p.tiers.at_risk.expected_churned_arr + p.tiers.critical.expected_churned_arr)} expected to churn)`],
    ["expected churned ARR, health horizon", money(p.expected_churned_arr_horizon)],
    ["expected churned ARR, 90 days", money(p.expected_churned_arr_90d)],
    ["mean health", p.mean_health.toFixed(1)],
    ["improving / declining", D.compared ? `${p.improving} / ${p.declining}` : "no trend yet"],
    [D.ranked_by_saving ? "at risk for signals (the save list: by ARR a play saves)" : "at risk for signals: the save list's pool", D.at_risk_for.signals ? `${D.at_risk_for.signals.accounts.toLocaleString()} (${money(D.at_risk_for.signals.arr)} ARR)` : "none"],
    ["at risk for the contract alone: renewal exposure", D.at_risk_for.contract ? `${D.at_risk_for.contract.accounts.toLocaleString()} (${money(D.at_risk_for.contract.arr)} ARR)` : "none"],
    ["ready to expand", `${D.expansion_ready.accounts} (${money(D.expansion_ready.arr)})`],
    ["CSM overrides in force", D.overrides_in_force],
    ["alerts: new this run / in cool-down", Object.keys(D.alerts).filter((k) => D.alerts[k] || (D.cooling_down || {})[k]).map((k) => `${words(k)} ${D.alerts[k]} / ${(D.cooling_down || {})[k] || 0}`).join(", ") || "none"],
  ];
  $("cards").innerHTML = cards.map(([k, v]) => `<div class="card"><b>${esc(v)}</b><span>${esc(k)}</span></div>`).join("");
}

function bridge() {
  if (!D.bridge || !D.bridge.length) { $("bridge").hidden = true; return; }
  const share = (s) => `${money(s.arr)} <span class="muted">(${s.accounts.toLocaleString()} accounts)</span>`;
  const rows = D.bridge.map((b) => `<tr><td class="l">next ${esc(b.period)}</td><td>${share(b.renewing)}</td><td>${share(b.flagged)}</td><td>${money(b.expected_loss_flagged)}</td><td>${money(b.expected_loss_renewing)}</td><td>${money(b.expected_loss)}</td></tr>`);
  $("bridge-table").innerHTML = table(["period", "ARR renewing", "of it flagged (at risk, critical)", "expected loss: flagged renewals", "all renewals", "whole book"], rows) +
    "<p class='muted'>Read left to right: the ARR whose next renewal decision falls in the period, the part of it at risk or critical, and the ARR expected to churn within the period (Σ ARR × chance of churning in it) — on the flagged renewals, on every renewal, and on the whole book, which adds accounts that leave between renewals. The forecast's first quarter simulates the same loss with an interval.</p>";
  const t = D.portfolio.tiers;
  $("tier-counts").textContent = "Tiers: " + TIERS.map((k) => `${words(k)} ${t[k].accounts.toLocaleString()}`).join(" · ") + ".";
}

function where() {
  // each section says what data and which date it reads
  const src = D.source || "the configured data";
  const lines = {
    summary: `Scores of ${src} as of ${D.as_of}, model v${D.model_version}.`,
    bridge: `Scores of ${src} as of ${D.as_of}.`,
    checked: `Judged when model v${D.model_version} was trained.`,
    forecast: `Simulated from the scores of ${src} as of ${D.as_of}.`,
    tiers: `Scores of ${src} as of ${D.as_of}.`,
    movers: `Changes over the 30 days to ${D.as_of}, from the history store of ${src}.`,
    book: `Scores of ${src} as of ${D.as_of}.`,
  };
  for (const [id, text] of Object.entries(lines)) {
    const h = document.querySelector(`#${id} > h2`);
    if (h) h.insertAdjacentHTML("afterend", `<p class="where">${esc(text)}</p>`);
  }
}

function checked() {
  const h = D.health_checked;
  if (!h) { $("checked").hidden = true; return; }
  const line = $("checked-line");
  line.textContent = h.text.charAt(0).toUpperCase() + h.text.slice(1) + ".";
  line.className = h.judged === true ? "" : "problem";
  if (!D.judged || !D.judged.length) return;
  const head = Object.keys(D.judged[0]);
  $("checked-table").innerHTML = table(head, D.judged.map((r) => `<tr>${head.map((k, i) => `<td class="${i ? "" : "l"}">${esc(r[k])}</td>`).join("")}</tr>`)) +
    "<p class='muted'>Judged at training on as-of dates none of the models fitted, each followed until the data's end (censoring-aware); intervals resample accounts.</p>";
}

function forecast() {
  const f = D.forecast;
  if (!f) { $("forecast-table").innerHTML = "<p class='muted'>No forecast in this run.</p>"; return; }
  const m = f.portfolio.months, W = 460, H = 170, L = 44, B = 22;
  const lo = Math.min(...m.map((r) => r.grr_lo)), y = (g) => 8 + (H - B - 8) * (1 - (g - lo) / (1 - lo || 1));
  const x = (i) => L + (W - L - 8) * i / m.length;
  const band = m.map((r, i) => `${x(i + 1)},${y(r.grr_hi)}`).concat(m.slice().reverse().map((r, j) => `${x(m.length - j)},${y(r.grr_lo)}`));
  const line = [`${x(0)},${y(1)}`].concat(m.map((r, i) => `${x(i + 1)},${y(r.grr)}`));
  const ticks = [1, (1 + lo) / 2, lo].map((g) => `<text x="2" y="${y(g) + 4}">${pct(g, 0)}</text><line x1="${L}" x2="${W}" y1="${y(g)}" y2="${y(g)}" stroke="#e3e6ea"/>`).join("");
  const months = m.filter((_, i) => i % 3 === 2).map((r) => `<text x="${x(r.month)}" y="${H - 4}" text-anchor="end">${r.end}</text>`).join("");
  $("forecast-chart").innerHTML = `<svg width="${W}" height="${H}" role="img" aria-label="gross revenue retention forecast">${ticks}${months}
    <polygon points="${band.join(" ")}" fill="#b6d4fe" opacity=".7"/><polyline points="${line.join(" ")}" fill="none" stroke="#0550ae" stroke-width="2"/></svg>
    <p class="muted">Gross revenue retention of today's book, month by month, with its ${pct(f.interval, 0)} interval.</p>`;
  const rows = f.portfolio.quarters.map((q) => `<tr><td>Q${q.quarter}</td><td>${q.end}</td><td>${money(q.churned_arr)}</td><td>${money(q.churned_arr_lo)}–${money(q.churned_arr_hi)}</td><td>${pct(q.grr)}</td></tr>`);
  for (const [name, b] of [["year, all", f.portfolio.year], ...Object.entries(f.segments).map(([s, v]) => [`year, ${words(s)}`, v.year])])
    rows.push(`<tr><td>${esc(name)}</td><td>${b.end}</td><td>${money(b.churned_arr)}</td><td>${money(b.churned_arr_lo)}–${money(b.churned_arr_hi)}</td><td>${pct(b.grr)}</td></tr>`);
  $("forecast-table").innerHTML = table(["", "ends", "churned ARR", "interval", "GRR"], rows);
}

function tiers() {
  const rows = Object.entries(D.tiers).map(([seg, t]) => {
    const n = TIERS.reduce((a, k) => a + t[k].accounts, 0) || 1;
    const bar = TIERS.map((k) => `<div title="${words(k)}: ${t[k].accounts}" style="width:${100 * t[k].accounts / n}%;background:${COLORS[k]}"></div>`).join("");
    return `<tr><td>${esc(words(seg))}</td>${TIERS.map((k) => `<td>${t[k].accounts.toLocaleString()}<br><span class="muted">${money(t[k].expected_churned_arr)}</span></td>`).join("")}<td><div class="bar">${bar}</div></td></tr>`;
  });
  $("tiers-table").innerHTML = table(["segment", ...TIERS.map(words), "share of accounts"], rows);
  const groups = {};
  for (const [seg, t] of Object.entries(D.tiered_by)) {
    const key = [t.source, t.healthy, t.at_risk, t.critical].join("/");
    (groups[key] = groups[key] || {t, segs: []}).segs.push(seg);
  }
  const many = Object.keys(groups).length > 1;
  $("tiers-meaning").innerHTML = Object.values(groups).map(({t, segs}) =>
    `<li>${many ? esc(segs.map(words).join(", ")) + " " : ""}(${esc(t.source)}): ${esc(Object.values(t.meanings).join("; "))}</li>`).join("");
}

function movers() {
  for (const dir of ["down", "up"]) {
    const rows = D.movers[dir].map((r) => `<tr data-id="${esc(r.account_id)}"><td>${esc(r.account_id)}</td><td class="l">${esc(words(r.segment))}</td><td>${money(r.arr)}</td><td>${r.health_score}</td><td>${tier(r.tier)}</td><td class="${r.health_change_30d < 0 ? "neg" : "pos"}">${signed(r.health_change_30d)}</td></tr>`);
    $(`movers-${dir}`).innerHTML = rows.length ? table(["account", "segment", "ARR", "health", "tier", "30 d"], rows)
      : `<p class='muted'>${D.compared ? `No account's health ${dir === "down" ? "fell" : "rose"} in 30 days (of ${D.compared.toLocaleString()} with a score 30 days back).` : "No account has a score 30 days back to compare with yet."}</p>`;
  }
  document.querySelectorAll(".movers tbody tr").forEach((tr) => tr.addEventListener("click", () => openAccount(tr.dataset.id)));
}

// ------------------------------------------------------------------ the account table
const state = {key: null, asc: true};
const byId = Object.fromEntries(D.accounts.map((a) => [a.id, a]));

function filters() {
  const opts = (id, values) => { $(id).innerHTML += [...values].sort().map((v) => `<option value="${esc(v)}">${esc(words(v))}</option>`).join(""); };
  opts("f-owner", new Set(D.accounts.map((a) => a.owner).filter(Boolean)));
  if (D.accounts.some((a) => !a.owner)) $("f-owner").innerHTML += `<option value="__none__">no owner</option>`;
  opts("f-segment", new Set(D.accounts.map((a) => a.segment)));
  opts("f-tier", new Set(D.accounts.map((a) => a.tier)));
  opts("f-expansion", new Set(D.accounts.map((a) => a.expansion_tier).filter(Boolean)));
  opts("f-playbook", new Set(D.accounts.flatMap((a) => a.playbooks)));
  for (const id of ["f-text", "f-owner", "f-segment", "f-tier", "f-expansion", "f-playbook"]) $(id).addEventListener("input", draw);
  $("export").addEventListener("click", exportCsv);
  document.querySelectorAll("#accounts th").forEach((th) => th.addEventListener("click", () => {
    state.asc = state.key === th.dataset.key ? !state.asc : th.dataset.key === "id" || th.dataset.key === "segment";
    state.key = th.dataset.key;
    document.querySelectorAll("#accounts th").forEach((h) => h.classList.remove("sorted", "asc"));
    th.classList.add("sorted"); if (state.asc) th.classList.add("asc");
    draw();
  }));
  $("shown-note").textContent = D.shown < D.total
    ? `Showing the ${D.shown.toLocaleString()} accounts with the most ARR at stake (ARR × churn probability) of ${D.total.toLocaleString()}; the scores file holds every account.`
    : `All ${D.total.toLocaleString()} active accounts, most ARR at stake first.`;
}

function visible() {
  const text = $("f-text").value.trim().toLowerCase();
  const [own, seg, t, e, pb] = ["f-owner", "f-segment", "f-tier", "f-expansion", "f-playbook"].map((id) => $(id).value);
  const owned = (a) => !own || (own === "__none__" ? !a.owner : a.owner === own);
  return D.accounts.filter((a) => (!text || a.id.toLowerCase().includes(text) || (a.name || "").toLowerCase().includes(text) || a.segment.toLowerCase().includes(text))
    && owned(a) && (!seg || a.segment === seg) && (!t || a.tier === t) && (!e || a.expansion_tier === e) && (!pb || a.playbooks.includes(pb)));
}

// the filtered table as CSV: what a CSM takes into a sheet or the CRM
const CSV = [["account_id", "id"], ["name", "name"], ["owner", "owner"], ["segment", "segment"], ["arr", "arr"],
  ["health_score", "health"], ["tier", "tier"], ["health_change_30d", "change30"], ["momentum", "momentum"],
  ["renewal_date", "renewal"], ["expansion_score", "expansion"], ["expansion_tier", "expansion_tier"], ["playbooks", "playbooks"], ["crm_url", "crm"]];
function csvCell(v) {
  const s = Array.isArray(v) ? v.join(",") : v == null ? "" : String(v);
  const safe = /^[=+\-@\t\r]/.test(s) ? "'" + s : s;  // a spreadsheet must not run it as a formula
  return /[",\n\r]/.test(safe) ? `"${safe.replace(/"/g, '""')}"` : safe;
}
function csvText(rows) {
  return [CSV.map(([h]) => h).join(","), ...rows.map((a) => CSV.map(([, k]) => csvCell(a[k])).join(","))].join("\r\n") + "\r\n";
}
function exportCsv() {
  const blob = new Blob([csvText(visible())], {type: "text/csv"});
  const link = document.createElement("a");
  link.href = URL.createObjectURL(blob); link.download = `accounts-${D.as_of}.csv`;
  document.body.appendChild(link); link.click(); link.remove();
}

function draw() {
  let rows = visible();
  if (state.key) {
    const k = state.key, s = state.asc ? 1 : -1;
    const v = (a) => k === "playbooks" ? a.playbooks.join(",") : a[k];
    rows = rows.slice().sort((a, b) => { const x = v(a), y = v(b); return x == null ? 1 : y == null ? -1 : (x < y ? -s : x > y ? s : 0); });
  }
  $("accounts").tBodies[0].innerHTML = rows.map((a) => `<tr data-id="${esc(a.id)}"><td class="l">${a.name ? `${esc(a.name)}<br><span class="muted">${esc(a.id)}</span>` : esc(a.id)}</td><td class="l">${a.owner ? esc(a.owner) : '<span class="muted">none</span>'}</td><td class="l">${esc(words(a.segment))}</td><td>${money(a.arr)}</td>
    <td>${a.health}${a.csm_health != null ? ' <span class="muted" title="CSM override">(CSM)</span>' : ""}</td><td class="l">${tier(a.tier)}</td>
    <td class="${a.change30 < 0 ? "neg" : a.change30 > 0 ? "pos" : ""}">${signed(a.change30)}</td><td class="l">${esc(a.momentum)}</td>
    <td class="l">${esc(a.renewal ?? "")}</td><td>${a.expansion ?? "–"} <span class="${a.expansion_tier === "ready" ? "exp" : "muted"}">${esc(words(a.expansion_tier ?? ""))}</span></td>
    <td class="l">${esc(a.playbooks.map(words).join(", "))}</td></tr>`).join("");
  $("count").textContent = `${rows.length.toLocaleString()} of ${D.accounts.length.toLocaleString()} shown`;
}

document.getElementById("accounts").tBodies[0].addEventListener("click", (ev) => {
  const tr = ev.target.closest("tr"); if (tr) openAccount(tr.dataset.id);
});

// ------------------------------------------------------------------ one account
function sparkline(points) {
  if (points.length < 2) return "<p class='muted'>Not enough history for a trend yet.</p>";
  const W = 500, H = 120, P = 24, t = points.map((p) => Date.parse(p[0])), h = points.map((p) => p[1]);
  const t0 = Math.min(...t), t1 = Math.max(...t), lo = Math.max(0, Math.min(...h) - 5), hi = Math.min(100, Math.max(...h) + 5);
  const x = (v) => P + (W - 2 * P) * (v - t0) / (t1 - t0 || 1), y = (v) => 8 + (H - P - 8) * (1 - (v - lo) / (hi - lo || 1));
  const pts = points.map((p, i) => `${x(t[i])},${y(h[i])}`).join(" ");
  return `<svg width="${W}" height="${H}" role="img" aria-label="health trend"><polyline points="${pts}" fill="none" stroke="#0550ae" stroke-width="2"/>
    ${points.map((p, i) => `<circle cx="${x(t[i])}" cy="${y(h[i])}" r="3" fill="#0550ae"><title>${p[0]}: ${p[1]}</title></circle>`).join("")}
    <text x="${P}" y="${H - 4}">${points[0][0]}</text><text x="${W - P - 60}" y="${H - 4}">${points[points.length - 1][0]}</text>
    <text x="0" y="${y(hi) + 4}">${Math.round(hi)}</text><text x="0" y="${y(lo) + 4}">${Math.round(lo)}</text></svg>`;
}

function driverTable(list, unit) {
  return list.length ? table(["signal", "value", unit], list.map(([f, v, e]) => `<tr><td title="${esc(f)}">${esc(label(f))}</td><td>${esc(v)}</td><td class="${e < 0 ? "neg" : "pos"}">${signed(e, 1)}</td></tr>`)) : "<p class='muted'>No signal moves it by 0.05 points or more.</p>";
}

function openAccount(id) {
  const a = byId[id]; const box = $("detail");
  if (!a) { box.innerHTML = `<button class="close" aria-label="close">×</button><p>${esc(id)} is not in this page's table (see the scores file).</p>`; box.classList.add("open"); return; }
  const max = Math.max(1, ...Object.values(a.dimensions).map((v) => Math.abs(v ?? 0)));
  const dims = Object.entries(a.dimensions).map(([d, v]) => `<tr><td>${esc(d)}</td><td><div class="dimbar"><i style="left:${v < 0 ? 50 - 50 * Math.abs(v) / max : 50}%;width:${50 * Math.abs(v ?? 0) / max}%;background:${v < 0 ? "var(--at_risk)" : "var(--healthy)"}"></i></div></td><td>${signed(v, 1)}</td></tr>`);
  const override = a.override ? `<p><b>CSM override:</b> health ${a.csm_health} by ${esc(a.override.by)}${a.override.until ? " until " + esc(a.override.until) : ""} (${esc(a.override.reason)}); the model says ${a.model_health}.</p>` : "";
  const alerts = a.alerts.length ? "<ul>" + a.alerts.map((x) => `<li><b>${esc(words(x.playbook))}</b> (${esc(x.as_of)})${x.held_out ? ' <span class="held">held out (measuring)</span>' : ""} — ${esc(x.reason)}<br><span class="muted">alert <code>${esc(x.id)}</code>: record what was done with <code>churnhealth outcome ${esc(x.id)} --status done</code></span></li>`).join("") + "</ul>" : "";
  box.innerHTML = `<button class="close" aria-label="close">×</button>
    <h3>${a.name ? `<span id="detail-name">${esc(a.name)}</span> · ` : ""}<span id="detail-account">${esc(a.id)}</span></h3>
    <p class="muted">Owner: ${a.owner ? esc(a.owner) : "none"}.${a.crm ? ` <a id="detail-crm" href="${esc(a.crm)}" target="_blank" rel="noopener">Open in the CRM</a>.` : ""} ${esc(words(a.segment))}, ${esc(words(a.stage))}, ARR ${money(a.arr)}, renewal ${esc(a.renewal ?? "–")} (${a.days_to_renewal ?? "–"} days)</p>
    <p>Health <b>${a.health}</b> ${tier(a.tier)} — ${pct(a.p12)} chance of churning within the health horizon, ${pct(a.p90)} within 90 days${a.p_next != null ? ", " + pct(a.p_next) + " by the next renewal decision" : ""}. Momentum ${esc(a.momentum)} (${signed(a.change30)} in 30 days), projected ${a.projected ?? "–"} in 90 days.</p>
    ${override}
    <h4>Trend</h4>${sparkline(a.trend)}
    <h4>Effect of each dimension (health points, from a baseline of ${a.baseline?.toFixed(1)})</h4>${table(["dimension", "", "points"], dims)}
    <p class="muted">Signals a CSM can act on: ${signed(a.signals_effect, 1)} points. Context, not a lever: ${signed(a.context_effect, 1)} points${a.context ? " — " + esc(a.context) : ""}.</p>${a.at_risk_for ? `<p>${WHY[a.at_risk_for] || esc(a.at_risk_for)}</p>` : ""}
    <h4>Pulling health down</h4>${driverTable(a.risk, "points")}
    <h4>Holding health up</h4>${driverTable(a.protective, "points")}
    <h4>Expansion score ${a.expansion ?? "–"} <span class="exp">${esc(words(a.expansion_tier ?? ""))}</span></h4>${a.expansion_tier === "not_yet" ? "<p class='muted'>Not yet worth a growth conversation: drivers are given for accounts ready or on watch.</p>" : driverTable(a.expansion_drivers, "expansion points")}
    <h4>Playbooks</h4><p>${a.playbooks.length ? esc(a.playbooks.map(words).join(", ")) : "none"}</p>${a.play ? `<p id="detail-play"><b>Best play: ${esc(words(a.play.name))}</b>, expected to keep ${money(a.play.saved)} ARR — ${esc(a.play.why)}</p>` : ""}${a.save ? `<p>Save list: ${esc(SAVE[a.save] || a.save)}</p>` : ""}${alerts}`;
  box.classList.add("open");
}

$("detail").addEventListener("click", (ev) => { if (ev.target.classList.contains("close")) $("detail").classList.remove("open"); });
document.addEventListener("keydown", (ev) => { if (ev.key === "Escape") $("detail").classList.remove("open"); });

header(); bridge(); checked(); forecast(); tiers(); movers(); filters(); draw(); where();
