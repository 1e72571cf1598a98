// The mulligan report page: summary, comparison, episode table and turn-by-turn view.
// Data comes packed (gzip + base64) in <script type="text/plain"> elements, or from the
// server of `mulligan view` when the page is live. Every text from a run is inserted as text,
// never as HTML: a model's reply can hold anything.
"use strict";

const LIVE = window.MULLIGAN_LIVE === true;
const PAGE = 50;
let M = null;            // the main payload: runs, rows, figures
let version = null;      // live: the server's data version
const chunks = new Map(); // "run-k-count" -> Promise<details>
let lastList = "#episodes";

// ---- helpers -------------------------------------------------------------------------------
function h(tag, attrs, ...kids) {
  const e = document.createElement(tag);
  for (const [k, v] of Object.entries(attrs || {})) {
    if (v === null || v === undefined || v === false) continue;
    if (k === "class") e.className = v;
    else if (k === "text") e.textContent = v;
    else if (k.startsWith("on")) e.addEventListener(k.slice(2), v);
    else e.setAttribute(k, v === true ? "" : v);
  }
  for (const kid of kids.flat(Infinity)) {
    if (kid === null || kid === undefined || kid === false) continue;
    e.append(kid instanceof Node ? kid : String(kid));
  }
  return e;
}
const svgNS = "http://www.w3.org/2000/svg";
function s(tag, attrs, ...kids) {
  const e = document.createElementNS(svgNS, tag);
  for (const [k, v] of Object.entries(attrs || {})) {
    if (k.startsWith("on")) e.addEventListener(k.slice(2), v); else e.setAttribute(k, v);
  }
  for (const kid of kids.flat()) if (kid !== null && kid !== undefined) e.append(kid instanceof Node ? kid : String(kid));
  return e;
}
const pct = (x) => (x === null || x === undefined ? "-" : (100 * x).toFixed(1) + "%");
const num = (x) => (x === null || x === undefined ? "-" : Number(x).toLocaleString("en-US"));
const secs = (x) => (x === null || x === undefined ? "-" : x < 100 ? x.toFixed(1) + " s" : Math.round(x).toLocaleString("en-US") + " s");
function tag(text, cls) { return h("span", { class: "tag " + cls, text }); }
function outcomeTag(row) {
  if (row.rec) return tag("recovered", "recovered");
  return row.won ? tag("won", "won") : tag("failed", "failed");
}
function query(params) {
  const q = new URLSearchParams();
  for (const [k, v] of Object.entries(params)) if (v !== "" && v !== null && v !== undefined) q.set(k, v);
  const text = q.toString();
  return text ? "?" + text : "";
}
const listLink = (params) => "#episodes" + query(params);
const episodeLink = (r, i) => `#episode/${r}/${i}`;

async function unpack(b64) {
  const bin = atob(b64.trim());
  const bytes = new Uint8Array(bin.length);
  for (let i = 0; i < bin.length; i++) bytes[i] = bin.charCodeAt(i);
  const stream = new Blob([bytes]).stream().pipeThrough(new DecompressionStream("gzip"));
  return JSON.parse(await new Response(stream).text());
}

async function fetchText(url) {
  const res = await fetch(url, { cache: "no-store" });
  if (!res.ok) throw new Error(`${url}: HTTP ${res.status}`);
  return res.text();
}

function chunkOf(r, i) {
  const k = Math.floor(i / M.chunk);
  const n = M.rows.filter((row) => row.r === r && Math.floor(row.i / M.chunk) === k).length;
  const key = `${r}-${k}-${n}`;
  if (!chunks.has(key)) {
    const load = LIVE ? fetchText(`api/chunk${query({ run: r, k })}`)
                      : Promise.resolve(document.getElementById(`chunk-${r}-${k}`).textContent);
    chunks.set(key, load.then(unpack));
  }
  return chunks.get(key).then((list) => list[i - k * M.chunk]);
}

function rowsOf(r) { return M.rows.filter((row) => row.r === r); }

// ---- routing -------------------------------------------------------------------------------
function route() {
  const hash = location.hash || "#summary";
  const [path, q] = hash.slice(1).split("?");
  return { parts: path.split("/"), params: Object.fromEntries(new URLSearchParams(q || "")) };
}

function tabs(current) {
  const items = [["summary", "Summary"]];
  if (M.runs.length > 1) items.push(["compare", "Compare"]);
  items.push(["episodes", "Episodes"]);
  if (M.selftrain.length) items.push(["selftrain", "Self-training"]);
  document.getElementById("tabs").replaceChildren(
    ...items.map(([id, name]) => h("a", { href: "#" + id, class: current === id ? "on" : null, "data-tab": id, text: name })));
}

async function render() {
  const { parts, params } = route();
  const view = parts[0] || "summary";
  const app = document.getElementById("app");
  tabs(view === "episode" ? "episodes" : view);
  let content;
  if (view === "episode") content = await episodeView(Number(parts[1]), Number(parts[2]));
  else if (view === "episodes") { lastList = location.hash || "#episodes"; content = episodesView(params); }
  else if (view === "compare") content = compareView(params);
  else if (view === "selftrain") content = selftrainView();
  else content = summaryView();
  app.replaceChildren(content);
  document.body.dataset.ready = "1";
  document.body.dataset.view = view;
}

// ---- summary -------------------------------------------------------------------------------
function barCell(rate) {
  const w = Math.round(60 * (rate || 0));
  return [h("span", { class: "bar", style: `width:${w}px` }), h("span", { class: "bar rest", style: `width:${60 - w}px` })];
}

function histogram(hist, { title, error, onBar }) {
  const W = 300, H = 110, pad = 18;
  const n = hist.counts.length;
  const max = Math.max(1, ...hist.counts);
  const bw = n ? (W - pad) / n : 0;
  const svg = s("svg", { width: W, height: H + 16, role: "img" });
  hist.counts.forEach((c, j) => {
    const bh = (H - 12) * c / max;
    const lo = hist.lo[j], hi = lo + hist.width - 1;
    const label = hist.width === 1 ? `${lo}` : `${lo}-${hi}`;
    const rect = s("rect", { class: "hb" + (error ? " err" : ""), x: pad + j * bw + 1, y: H - bh, width: Math.max(1, bw - 2), height: bh,
                            onclick: () => onBar && onBar(lo, hi) }, s("title", {}, `${label}: ${c}`));
    svg.append(rect);
    if (n <= 12 || j % Math.ceil(n / 12) === 0) svg.append(s("text", { x: pad + j * bw + bw / 2, y: H + 12, "text-anchor": "middle" }, label));
  });
  svg.append(s("text", { x: 0, y: 10 }, String(max)));
  return h("div", { class: "card" }, h("h3", { text: title }), n ? svg : h("p", { class: "muted", text: "none" }));
}

function summaryView() {
  const runs = M.runs;
  const out = h("div", { "data-testid": "summary" });
  out.append(h("h2", { text: runs.length > 1 ? `${runs.length} runs side by side` : "Run" }));
  const head = h("tr", {}, h("th", { text: "" }), runs.map((run) => h("th", { class: "num", text: run.label })));
  const rows = [
    ["path", (run) => h("span", { class: "muted", text: run.path })],
    ["env", (run) => run.summary.env],
    ["agent", (run) => run.summary.agent],
    ["model", (run) => run.summary.model],
    ["split", (run) => run.summary.split],
    ["status", (run) => (run.summary.finished ? "finished" : "running or interrupted")],
    ["tasks", (run) => num(run.summary.episodes)],
    ["trajectories", (run) => num(run.summary.trajectories)],
    ["success", (run, r) => h("a", { href: listLink({ run: r, outcome: "won" }), text: `${pct(run.summary.success_rate)} (${run.summary.successes})` })],
    ["failed tasks", (run, r) => h("a", { href: listLink({ run: r, outcome: "failed" }), "data-testid": `failed-${r}`, text: num(run.summary.failed) })],
    ["recovered", (run, r) => h("a", { href: listLink({ run: r, outcome: "recovered" }), "data-testid": `recovered-${r}`, text: num(run.summary.recovered) })],
    ["with an error", (run) => num(run.summary.with_error)],
    ["avg steps", (run) => run.summary.avg_steps.toFixed(2)],
    ["invalid actions", (run) => pct(run.summary.invalid_action_rate)],
    ["tokens", (run) => `${num(run.summary.tokens.total)} (${num(run.summary.tokens.prompt)} in, ${num(run.summary.tokens.completion)} out)`],
    ["wall time", (run) => (run.summary.wall_s === null ? `${secs(run.summary.episode_wall_s)} in episodes` : secs(run.summary.wall_s))],
    ["crashed episodes", (run) => num(run.summary.errors)],
    ["end reasons", (run, r) => Object.entries(run.summary.end_reasons).map(([reason, c]) =>
      h("div", {}, h("a", { href: listLink({ run: r, end: reason }), "data-testid": `end-${r}-${reason}`, text: `${reason}: ${c}` })))],
  ];
  const body = rows.map(([name, cell]) => h("tr", {}, h("th", { text: name }), runs.map((run, r) => h("td", { class: "num" }, cell(run, r)))));
  out.append(h("table", { "data-testid": "run-table" }, h("thead", {}, head), h("tbody", {}, body)));

  for (const [key, name, param] of [["by_type", "Success by task type", "type"], ["by_split", "Success by split", "split"]]) {
    const groups = [...new Set(runs.flatMap((run) => Object.keys(run.summary[key])))].sort();
    if (!groups.length) continue;
    out.append(h("h2", { text: name }));
    const trs = groups.map((g) => h("tr", {}, h("th", { text: g }), runs.map((run, r) => {
      const v = run.summary[key][g];
      if (!v) return h("td", { class: "muted", text: "-" });
      const failed = v.tasks - v.won;
      return h("td", {}, barCell(v.rate), `${pct(v.rate)} of ${v.tasks} `,
        failed ? h("a", { href: listLink({ run: r, outcome: "failed", [param]: g }), text: `(${failed} failed)` }) : null);
    })));
    out.append(h("table", {}, h("thead", {}, h("tr", {}, h("th", { text: param === "type" ? "task type" : "split" }), runs.map((run) => h("th", { text: run.label })))), h("tbody", {}, trs)));
  }

  out.append(h("h2", { text: "Steps and first errors" }));
  runs.forEach((run, r) => {
    out.append(h("h3", { text: run.label }), h("div", { class: "grid" },
      histogram(run.summary.steps_hist, { title: "steps per episode", onBar: (lo, hi) => (location.hash = listLink({ run: r, steps: `${lo}-${hi}` })) }),
      histogram(run.summary.first_error_hist, { title: "step of the first error", error: true,
        onBar: (lo, hi) => (location.hash = listLink({ run: r, fe: `${lo}-${hi}` })) })));
  });
  return out;
}

// ---- episodes ------------------------------------------------------------------------------
function inRange(value, spec) {
  if (!spec) return true;
  if (value === null || value === undefined) return false;
  const [lo, hi] = spec.split("-").map(Number);
  return value >= lo && value <= hi;
}

function filtered(p) {
  const q = (p.q || "").toLowerCase();
  return M.rows.filter((row) =>
    (p.run === undefined || p.run === "" || row.r === Number(p.run)) &&
    (!p.outcome || (p.outcome === "won" && row.won) || (p.outcome === "failed" && !row.won) || (p.outcome === "recovered" && row.rec)) &&
    (!p.type || row.type === p.type) && (!p.split || row.split === p.split) && (!p.end || row.end === p.end) &&
    inRange(row.steps, p.steps) && inRange(row.fe, p.fe) && (!q || row.task.toLowerCase().includes(q)));
}

function select(name, label, value, options) {
  return h("label", {}, label, h("select", { name, "data-testid": `filter-${name}`, onchange: (e) => setFilter(name, e.target.value) },
    options.map(([v, text]) => h("option", { value: v, selected: String(value ?? "") === String(v), text }))));
}

function setFilter(name, value) {
  const { params } = route();
  params[name] = value;
  delete params.page;
  location.hash = listLink(params);
}

function episodesView(p) {
  const rows = filtered(p);
  const page = Math.max(1, Number(p.page || 1));
  const pages = Math.max(1, Math.ceil(rows.length / PAGE));
  const uniq = (key) => [...new Set(M.rows.map((row) => row[key]))].sort();
  const search = h("input", { type: "search", name: "q", placeholder: "task id", value: p.q || "", "data-testid": "search",
    onkeydown: (e) => { if (e.key === "Enter") setFilter("q", e.target.value); },
    onchange: (e) => setFilter("q", e.target.value) });
  const bar = h("div", { class: "filters" },
    M.runs.length > 1 ? select("run", "run", p.run, [["", "all"], ...M.runs.map((run, r) => [r, run.label])]) : null,
    select("outcome", "outcome", p.outcome, [["", "all"], ["won", "won"], ["failed", "failed"], ["recovered", "recovered"]]),
    select("type", "task type", p.type, [["", "all"], ...uniq("type").map((t) => [t, t])]),
    select("end", "end reason", p.end, [["", "all"], ...uniq("end").map((t) => [t, t])]),
    h("label", {}, "search by task id", search),
    p.steps ? h("span", { class: "muted", text: `steps ${p.steps}` }) : null,
    p.fe ? h("span", { class: "muted", text: `first error at step ${p.fe}` }) : null,
    p.split ? h("span", { class: "muted", text: `split ${p.split}` }) : null,
    h("a", { href: "#episodes", text: "clear" }));
  const head = h("tr", {}, ["run", "task", "trial", "type", "outcome", "steps", "invalid", "first error", "end reason", "tokens", "wall"].map(
    (c) => h("th", { class: ["steps", "invalid", "first error", "tokens", "wall", "trial"].includes(c) ? "num" : null, text: c })));
  const body = rows.slice((page - 1) * PAGE, page * PAGE).map((row) => h("tr", { class: "click", "data-testid": "episode-row",
    onclick: () => (location.hash = episodeLink(row.r, row.i)) },
    h("td", { text: M.runs[row.r].label }),
    h("td", {}, h("a", { href: episodeLink(row.r, row.i), text: row.task })),
    h("td", { class: "num", text: row.trial }), h("td", { text: row.type }), h("td", {}, outcomeTag(row)),
    h("td", { class: "num", text: row.steps }), h("td", { class: "num", text: row.inv }),
    h("td", { class: "num", text: row.fe === null ? "-" : row.fe }), h("td", { text: row.end }),
    h("td", { class: "num", text: num(row.tok) }), h("td", { class: "num", text: secs(row.wall) })));
  const go = (n) => () => { p.page = n; location.hash = listLink(p); };
  const pager = h("div", { class: "pager" },
    h("button", { disabled: page <= 1, onclick: go(page - 1), "data-testid": "prev" }, "‹ prev"),
    h("span", { "data-testid": "count", text: `${num(rows.length)} episodes · page ${page} of ${pages}` }),
    h("button", { disabled: page >= pages, onclick: go(page + 1), "data-testid": "next" }, "next ›"));
  return h("div", { "data-testid": "episodes" }, h("h2", { text: "Episodes" }), bar, pager,
    h("table", { "data-testid": "episode-table" }, h("thead", {}, head), h("tbody", {}, body)));
}

// ---- one episode ---------------------------------------------------------------------------
function critiqueBox(c, label) {
  return h("div", { class: "critique" }, h("div", {}, tag(c.verdict, c.verdict), " ", label || "", c.critic ? h("span", { class: "muted", text: ` by ${c.critic}` }) : null),
    c.explanation ? h("div", { text: c.explanation }) : null,
    c.suggestion ? h("div", { class: "muted", text: `suggestion: ${c.suggestion}` }) : null);
}

function stepCard(step, j, marks) {
  const errs = marks.errors[j] || [];
  const first = marks.first_error === j, rec = marks.recovery === j;
  const cls = ["card", "step", errs.length ? "error" : "", first ? "first-error" : "", rec ? "recovery" : ""].join(" ");
  const train = marks.train[j];
  const info = Object.fromEntries(Object.entries(step.info || {}).filter(([k]) => !["rejected", "perturbed", "train", "teacher", "proposed"].includes(k)));
  const kv = [
    ["reply", h("pre", { text: step.raw || "" })],
    ["action", step.action !== undefined ? h("span", { class: "action", text: step.action }) : h("span", { class: "muted", text: "none (the reply did not parse)" })],
    step.info && step.info.proposed ? ["proposed", h("span", { class: "muted", text: `${step.info.proposed} (rewritten to an admissible action)` })] : null,
    ["observation", h("pre", { text: step.observation || "" })],
    step.critique ? ["critic", critiqueBox(step.critique, "on the action that ran")] : null,
    ...(step.info && step.info.rejected ? step.info.rejected.map((rej, n) => [`rejected ${n + 1}`,
      h("div", {}, h("pre", { text: rej.raw || rej.action || "" }), rej.critique ? critiqueBox(rej.critique, "revision asked") : null)]) : []),
    Object.keys(info).length ? ["info", h("pre", { text: JSON.stringify(info) })] : null,
  ].filter(Boolean);
  return h("div", { class: cls, id: `step-${j}`, "data-testid": "step" },
    h("div", { class: "head" }, h("strong", { text: `Step ${j}` }),
      first ? h("span", { class: "marker first", "data-testid": "first-error", text: "⚠ first error" }) : null,
      rec ? h("span", { class: "marker rec", "data-testid": "recovery", text: "↺ recovery" }) : null,
      errs.map((e) => tag(e, "bad")),
      train === true ? tag("train", "good") : train === false ? tag("no train", "plain") : null,
      step.reward ? h("span", { class: "muted", text: `reward ${step.reward}` }) : null,
      step.info && step.info.teacher ? tag(`teacher: ${step.info.teacher}`, "uncertain") : null,
      h("span", { class: "muted", text: `${step.latency_s ? step.latency_s.toFixed(2) + " s" : ""}` })),
    h("div", { class: "kv" }, kv.map(([k, v]) => [h("div", { text: k }), h("div", {}, v)])));
}

function contextCard(t) {
  const parts = [];
  if (t.reflections && t.reflections.length) {
    parts.push(h("h3", { text: "Lessons in the prompt" }), t.reflections.map((r) => h("div", { class: "card", "data-testid": "lesson" },
      h("div", { class: "muted", text: `${r.reflector || "reflector"}${r.traj_id ? " · after " + r.traj_id : ""}` }), h("pre", { text: r.text }))));
  }
  const memory = (t.messages || []).filter((m) => m.kind === "memory");
  if (memory.length || (t.retrieved && t.retrieved.length)) {
    parts.push(h("h3", { text: "Memory in the prompt, as the model saw it" }));
    if (t.retrieved && t.retrieved.length) {
      parts.push(h("table", { "data-testid": "retrieved" }, h("thead", {}, h("tr", {}, ["entry", "kind", "score", "dense rank", "bm25 rank"].map((c) => h("th", { text: c })))),
        h("tbody", {}, t.retrieved.map((x) => h("tr", {}, h("td", { text: x.id }), h("td", { text: x.kind }), h("td", { class: "num", text: (x.score || 0).toFixed(4) }),
          h("td", { class: "num", text: x.dense_rank ?? "-" }), h("td", { class: "num", text: x.bm25_rank ?? "-" }))))));
    }
    parts.push(memory.map((m) => h("div", { class: "card", "data-testid": "memory" }, h("pre", { text: m.content }))));
  }
  return parts.length ? h("div", {}, parts) : null;
}

function trialLinks(r, row) {
  const trials = rowsOf(r).filter((x) => x.task === row.task);
  if (trials.length < 2) return null;
  return h("div", {}, "trials: ", trials.map((x) => [x.i === row.i ? h("strong", { text: `#${x.trial}` })
    : h("a", { href: episodeLink(r, x.i), text: `#${x.trial}` }), " ", x.won ? tag("won", "won") : tag("failed", "failed"), "  "]));
}

async function episodeView(r, i) {
  const row = M.rows.find((x) => x.r === r && x.i === i);
  if (!row) return h("p", { text: `No episode ${r}/${i} in this report.` });
  const t = await chunkOf(r, i);
  const marks = t.marks;
  const timeline = h("div", { class: "timeline", "data-testid": "timeline" }, (t.steps || []).map((step, j) => {
    const cls = [marks.errors[j].length ? "error" : "", marks.first_error === j ? "first" : "", marks.recovery === j ? "recovery" : ""].join(" ");
    return h("button", { class: cls, title: (marks.errors[j].join(", ") || "ok") + (step.action ? ` · ${step.action}` : ""),
      onclick: () => document.getElementById(`step-${j}`).scrollIntoView({ behavior: "smooth", block: "center" }) }, String(j));
  }));
  const transcript = h("details", { "data-testid": "transcript" }, h("summary", { text: `Transcript the policy saw (${(t.messages || []).length} messages)` }),
    (t.messages || []).map((m) => h("div", { class: "msg " + m.role }, h("div", { class: "who" }, `${m.role}${m.kind ? " · " + m.kind : ""}`,
      m.role === "assistant" ? h("div", {}, m.train === false ? tag("no train", "plain") : tag("train", "good")) : null), h("pre", { text: m.content || "" }))));
  return h("div", { "data-testid": "episode", "data-won": String(row.won), "data-recovered": String(row.rec) },
    h("p", {}, h("a", { href: lastList, "data-testid": "back", text: "‹ episodes" })),
    h("h2", {}, `${t.task_id} `, outcomeTag(row), " ", h("span", { class: "muted", text: M.runs[r].label })),
    h("div", { class: "card kv" },
      h("div", { text: "goal" }), h("div", { text: t.goal || "-" }),
      h("div", { text: "agent" }), h("div", { text: `${t.agent || "-"} · ${t.model || "-"} · source ${t.source}` }),
      h("div", { text: "end" }), h("div", { text: `${t.end_reason || "-"} after ${(t.steps || []).length} steps, reward ${t.reward}` }),
      h("div", { text: "tokens" }), h("div", { text: `${num((t.usage || {}).prompt_tokens)} in, ${num((t.usage || {}).completion_tokens)} out · ${secs(t.wall_s)}` }),
      h("div", { text: "trial" }), h("div", {}, `${t.trial}${t.task_type ? " · " + t.task_type : ""}`, trialLinks(r, row))),
    t.error ? h("div", { class: "card" }, h("h3", { text: "Error" }), h("pre", { text: t.error })) : null,
    h("h3", { text: "Timeline" }), timeline,
    h("div", { class: "legend" }, h("span", { class: "marker first", text: "⚠ first error" }),
      marks.first_error === undefined || marks.first_error === null ? " none" : ` at step ${marks.first_error}`, " · ",
      h("span", { class: "marker rec", text: "↺ recovery" }),
      marks.recovery === undefined || marks.recovery === null ? (marks.recovered ? " as a retry after a lesson" : " none") : ` at step ${marks.recovery}`),
    contextCard(t),
    h("h3", { text: "Turns" }), (t.steps || []).map((step, j) => stepCard(step, j, marks)),
    transcript);
}

// ---- comparison ----------------------------------------------------------------------------
function compareView(p) {
  const c = M.compare;
  const onlyDiff = p.all !== "1";
  const q = (p.q || "").toLowerCase();
  const idx = c.tasks.map((_, j) => j).filter((j) => (!q || c.tasks[j].toLowerCase().includes(q)) &&
    (!onlyDiff || new Set(c.cells.map((row) => row[j]).filter(Boolean).map((cell) => cell[0])).size > 1));
  const page = Math.max(1, Number(p.page || 1));
  const pages = Math.max(1, Math.ceil(idx.length / PAGE));
  const change = c.changes.map((ch, n) => h("li", { text: `${M.runs[n + 1].label} vs ${M.runs[n].label}: ${ch.gained} tasks gained, ${ch.lost} lost (of ${ch.common} in both)` }));
  const link = (params) => "#compare" + query({ ...p, ...params });
  const table = h("table", { "data-testid": "compare-table" }, h("thead", {}, h("tr", {}, h("th", { text: "task" }), M.runs.map((run) => h("th", { text: run.label })))),
    h("tbody", {}, idx.slice((page - 1) * PAGE, page * PAGE).map((j) => h("tr", {}, h("td", { text: c.tasks[j] }),
      c.cells.map((row, r) => h("td", {}, row[j] ? h("a", { href: episodeLink(r, row[j][1]) }, row[j][0] ? tag("won", "won") : tag("failed", "failed")) : h("span", { class: "muted", text: "-" })))))));
  return h("div", { "data-testid": "compare" }, h("h2", { text: "Task by task" }), h("ul", {}, change),
    h("p", {}, `${num(c.differ)} of ${num(c.tasks.length)} tasks differ between runs. `,
      h("a", { href: link({ all: onlyDiff ? "1" : "", page: "" }), text: onlyDiff ? "show all tasks" : "show only tasks that differ" })),
    h("div", { class: "filters" }, h("label", {}, "search by task id", h("input", { type: "search", value: p.q || "",
      onchange: (e) => (location.hash = link({ q: e.target.value, page: "" })) }))),
    h("div", { class: "pager" }, h("button", { disabled: page <= 1, onclick: () => (location.hash = link({ page: page - 1 })) }, "‹ prev"),
      h("span", { text: `${num(idx.length)} tasks · page ${page} of ${pages}` }),
      h("button", { disabled: page >= pages, onclick: () => (location.hash = link({ page: page + 1 })) }, "next ›")),
    table);
}

// ---- self-training -------------------------------------------------------------------------
function lineChart(records, key, title) {
  const W = 300, H = 150, pad = 28;
  const methods = [...new Set(records.map((x) => x.method))];
  const its = records.map((x) => x.iteration);
  const xmax = Math.max(1, ...its);
  const vals = records.map((x) => x[key]).filter((v) => v !== null && v !== undefined);
  const ymax = key === "diversity" ? Math.max(1e-9, ...vals) : Math.max(0.05, ...vals);
  const X = (it) => pad + (W - pad - 8) * it / xmax, Y = (v) => H - 16 - (H - 26) * v / ymax;
  const svg = s("svg", { width: W, height: H, role: "img" },
    s("line", { x1: pad, y1: H - 16, x2: W - 8, y2: H - 16, stroke: "#d0d7de" }),
    s("text", { x: 0, y: 12 }, key === "diversity" ? ymax.toFixed(2) : pct(ymax)),
    s("text", { x: 0, y: H - 16 }, key === "diversity" ? "0" : "0%"),
    its.filter((v, n, a) => a.indexOf(v) === n).map((it) => s("text", { x: X(it), y: H - 3, "text-anchor": "middle" }, String(it))));
  const colours = ["#0969da", "#cf222e", "#1a7f37", "#9a6700", "#8250df"];
  methods.forEach((m, n) => {
    const pts = records.filter((x) => x.method === m && x[key] !== null && x[key] !== undefined).map((x) => [X(x.iteration), Y(x[key]), x]);
    if (!pts.length) return;
    svg.append(s("polyline", { points: pts.map(([x, y]) => `${x},${y}`).join(" "), fill: "none", stroke: colours[n % 5], "stroke-width": 2 }));
    pts.forEach(([x, y, rec]) => svg.append(s("circle", { cx: x, cy: y, r: 3, fill: colours[n % 5] }, s("title", {}, `${m} iteration ${rec.iteration}: ${rec[key]}`))));
  });
  return h("div", { class: "card" }, h("h3", { text: title }), svg, h("div", { class: "legend" }, methods.map((m, n) => h("span", { style: `color:${colours[n % 5]}`, text: `■ ${m} ` }))));
}

function selftrainView() {
  const recs = M.selftrain;
  const cols = [["method", "method"], ["iteration", "it"], ["success", "unseen"], ["recovery", "recovery"], ["pass@1", "p@1"], ["pass@k", "p@k"],
                ["diversity", "div"], ["rows", "rows"], ["loss", "loss"], ["wall_s", "wall"]];
  const fmt = (k, v) => (v === null || v === undefined ? "-" : ["method", "iteration", "rows"].includes(k) ? String(v)
    : k === "wall_s" ? secs(v) : k === "loss" ? Number(v).toFixed(4) : k === "diversity" ? Number(v).toFixed(2) : pct(v));
  return h("div", { "data-testid": "selftrain" }, h("h2", { text: "Self-training, iteration by iteration" }),
    h("p", { class: "muted", text: "unseen and recovery: the iteration's checkpoint on the evaluation tasks; p@1, p@k and div: its collection (made by the previous checkpoint)." }),
    h("table", {}, h("thead", {}, h("tr", {}, cols.map(([, name]) => h("th", { text: name })))),
      h("tbody", {}, recs.map((x) => h("tr", {}, cols.map(([k]) => h("td", { class: k === "method" ? null : "num", text: fmt(k, x[k]) })))))),
    h("div", { class: "grid" }, lineChart(recs, "success", "unseen success"), lineChart(recs, "recovery", "recovery"),
      lineChart(recs, "pass@k", "pass@k (train)"), lineChart(recs, "diversity", "diversity (train)")));
}

// ---- start, problems, live -----------------------------------------------------------------
function problems() {
  const banner = document.getElementById("banner");
  const list = M.problems || [];
  banner.hidden = !list.length;
  if (list.length) banner.replaceChildren(h("strong", { text: `${list.length} line(s) left out:` }), h("ul", {}, list.slice(0, 20).map((x) => h("li", { text: x }))));
}

function liveStatus() {
  if (!LIVE) return;
  const running = M.runs.filter((run) => !run.summary.finished).length;
  document.getElementById("live").textContent = `live · ${num(M.rows.length)} episodes · ${running ? running + " running" : "all finished"} · ${new Date().toLocaleTimeString()}`;
}

async function poll() {
  try {
    const v = JSON.parse(await fetchText("api/version")).version;
    if (v !== version) {
      M = await unpack(await fetchText("api/main"));
      version = M.version;
      problems();
      const typing = document.activeElement && document.activeElement.tagName === "INPUT";
      if (route().parts[0] !== "episode" && !typing) await render();  // an open episode or a search being typed stays
    }
    liveStatus();
  } catch (e) {
    document.getElementById("live").textContent = `live · disconnected (${e.message})`;
  }
  setTimeout(poll, 1000);
}

async function start() {
  M = await unpack(document.getElementById("mulligan-main").textContent);
  problems();
  window.addEventListener("hashchange", () => render().catch(fail));
  await render();
  if (LIVE) {
    version = M.version;
    liveStatus();
    setTimeout(poll, 1000);
  }
}

function fail(e) {
  document.getElementById("app").replaceChildren(h("pre", { text: `The report could not be shown: ${e && e.stack ? e.stack : e}` }));
  throw e;
}

start().catch(fail);
