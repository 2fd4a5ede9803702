// The review page: plain JavaScript, no framework, no CDN. Labels stay in the page until saved.
"use strict";

const S = {
  items: [], visible: [], idx: 0, characters: [], pending: new Map(), versions: {},
  neighbour: 0, editing: null, refresh: { enabled: false }, polling: null, lowTextConfidence: 0,
};
const $ = (sel) => document.querySelector(sel);
const keyOf = (item) => `${item.episode}/${item.line_id}`;
const player = $("#player");

function message(text, kind = "") {
  const m = $("#message");
  m.textContent = text;
  m.className = kind;
}

function statuses() {
  return new Set([...document.querySelectorAll("#status-filter input:checked")].map((i) => i.value));
}

async function load(keepPosition = true) {
  const current = S.visible[S.idx] ? keyOf(S.visible[S.idx]) : null;
  const episode = $("#episode").value;
  const res = await fetch("/api/lines" + (episode ? `?episode=${encodeURIComponent(episode)}` : ""));
  const data = await res.json();
  if (!res.ok) { message(data.error || res.statusText, "error"); return; }
  S.items = data.items;
  S.versions = data.versions;
  S.refresh = data.refresh;
  S.lowTextConfidence = data.low_text_confidence;
  const known = new Set(S.characters);
  S.characters = data.characters.concat(S.characters.filter((c) => !data.characters.includes(c) && known.has(c)));
  fillEpisodes(data.episodes, data.episode);
  renderCounts(data.counts);
  renderRefresh();
  filter();
  if (keepPosition && current) {
    const at = S.visible.findIndex((i) => keyOf(i) === current);
    if (at >= 0) S.idx = at;
  }
  render();
}

function fillEpisodes(episodes, chosen) {
  const sel = $("#episode");
  sel.replaceChildren(new Option("all episodes", ""), ...episodes.map((ep) => new Option(ep, ep)));
  sel.value = chosen;
}

function filter() {
  const wanted = statuses();
  S.visible = S.items.filter((i) => wanted.has(i.status) || S.pending.has(keyOf(i)));
  S.idx = Math.min(S.idx, Math.max(0, S.visible.length - 1));
}

function cell(tr, text, cls) {
  const td = tr.insertCell();
  if (cls) td.className = cls;
  if (text !== undefined && text !== null) td.textContent = text;
  return td;
}

function render() {
  const body = $("#rows tbody");
  body.replaceChildren();
  S.visible.forEach((item, n) => {
    const tr = body.insertRow();
    tr.className = "row" + (n === S.idx ? " current" : "");
    tr.dataset.episode = item.episode;
    tr.dataset.lineId = item.line_id;
    tr.dataset.status = item.status;
    cell(tr, n + 1, "num");
    const play = document.createElement("button");
    play.type = "button"; play.className = "play"; play.textContent = "▶"; play.title = "Space";
    play.dataset.src = item.clip;
    play.addEventListener("click", () => { S.idx = n; render(); playSrc(item.clip); });
    cell(tr).append(play);
    cell(tr, item.episode);
    cell(tr, `${item.start.toFixed(2)}–${item.end.toFixed(2)}`, "num");
    renderText(cell(tr, null, "text"), item);
    const num = S.characters.indexOf(item.predicted);
    cell(tr, item.predicted ? `${item.predicted}${num >= 0 && num < 9 ? ` (${num + 1})` : ""}` : "—");
    const badge = document.createElement("span");
    badge.className = `badge ${item.status}`; badge.textContent = item.status;
    cell(tr).append(badge);
    cell(tr, item.distance === null ? "" : item.distance.toFixed(3), "num");
    const nb = cell(tr);
    item.neighbours.slice(0, 3).forEach((x) => {
      const b = document.createElement("button");
      b.type = "button"; b.className = "neighbour"; b.dataset.src = x.clip;
      b.textContent = `${x.character} ${x.distance.toFixed(2)}`;
      b.addEventListener("click", () => playSrc(x.clip));
      nb.append(b);
    });
    const labelCell = cell(tr, null, "label");
    const p = S.pending.get(keyOf(item));
    const span = document.createElement("span");
    if (p) { span.className = "pending"; span.textContent = p.character || "(removed)"; }
    else span.textContent = item.label;
    labelCell.append(span);
  });
  $("#empty").hidden = S.visible.length > 0;
  $("#pending-count").textContent = S.pending.size;
  $("#save").classList.toggle("dirty", S.pending.size > 0);
  renderCharacters();
  const cur = body.rows[S.idx];
  if (cur) cur.scrollIntoView({ block: "nearest" });
}

function renderText(td, item) {
  const p = S.pending.get(keyOf(item));
  const text = p && p.text !== undefined ? p.text : item.human_text || item.text;
  if (S.editing === keyOf(item)) {
    const input = document.createElement("input");
    input.value = text;
    input.addEventListener("keydown", (ev) => {
      ev.stopPropagation();
      if (ev.key === "Enter") { S.editing = null; fixText(item, input.value); }
      if (ev.key === "Escape") { S.editing = null; render(); }
    });
    td.append(input);
    input.focus();  // the row is in the document already: typing goes to the text at once
    input.setSelectionRange(input.value.length, input.value.length);
    return;
  }
  td.textContent = text;
  if (item.text_confidence !== null && item.text_confidence !== undefined) {
    const c = document.createElement("small");
    c.className = item.text_confidence < S.lowTextConfidence ? "conf-low" : "";
    c.textContent = ` (text ${Math.round(item.text_confidence * 100)} %)`;
    td.append(c);
  }
}

function renderCharacters() {
  const ol = $("#characters");
  ol.replaceChildren();
  const cur = S.visible[S.idx];
  S.characters.forEach((c, n) => {
    const li = document.createElement("li");
    if (n < 9) { const k = document.createElement("kbd"); k.textContent = n + 1; li.append(k); }
    li.append(c);
    li.dataset.character = c;
    if (cur && cur.predicted === c) li.className = "current";
    ol.append(li);
  });
}

function renderCounts(counts) {
  const div = $("#counts");
  div.replaceChildren();
  for (const [status, n] of Object.entries(counts.status)) {
    const s = document.createElement("span");
    s.dataset.status = status; s.textContent = `${status} ${n}`;
    div.append(s);
  }
  const by = document.createElement("div");
  by.textContent = "predicted: " + Object.entries(counts.predicted).map(([c, n]) => `${c} ${n}`).join(", ");
  div.append(by);
}

function renderRefresh() {
  const r = S.refresh, div = $("#refresh");
  if (!r.enabled) { div.textContent = "Predictions refresh through the Dagster sensors after a save."; return; }
  const parts = [];
  if (r.running) parts.push(`refreshing ${r.running}…`);
  if (r.pending.length) parts.push(`waiting: ${r.pending.join(", ")}`);
  if (r.last) parts.push(`last refresh: ${r.last.episode} ${r.last.ok ? "ok" : "failed"} (${r.last.seconds} s)${r.last.message ? ": " + r.last.message : ""}`);
  div.textContent = parts.join(" · ");
}

function playSrc(src) {
  player.src = src;
  player.play().catch(() => {});
}

function current() { return S.visible[S.idx]; }

function move(step, autoplay = false) {
  if (!S.visible.length) return;
  S.idx = Math.max(0, Math.min(S.visible.length - 1, S.idx + step));
  S.neighbour = 0;
  render();
  if (autoplay && $("#autoplay").checked) playSrc(current().clip);
}

function setLabel(item, character, extra = {}) {
  const k = keyOf(item);
  const prev = S.pending.get(k) || {};
  const change = { episode: item.episode, line_id: item.line_id, character, seen: item.label, ...extra };
  if (prev.text !== undefined && change.text === undefined) change.text = prev.text;
  if (character === item.label && change.text === undefined && !change.confirmed) S.pending.delete(k);
  else S.pending.set(k, change);
  if (character && !S.characters.includes(character)) S.characters.push(character);
}

function label(character) {
  const item = current();
  if (!item || !character) return;
  setLabel(item, character);
  message(`${item.episode} line ${item.line_id} → ${character} (not saved yet)`);
  if (S.idx < S.visible.length - 1) move(1, true); else render();
}

function fixText(item, text) {
  const p = S.pending.get(keyOf(item));
  const character = (p && p.character) || item.label || item.predicted;
  if (!character) { message("pick a character for this line first (1–9 or n), then fix its text", "error"); render(); return; }
  setLabel(item, character, { text });
  render();
}

function bulkAccept() {
  const item = current();
  if (!item || !item.predicted) return;
  const lines = S.visible.filter((i) => i.status === "certain" && i.predicted === item.predicted && !i.label && !S.pending.has(keyOf(i)));
  if (!lines.length) { message(`no unlabelled certain line of ${item.predicted} here`); return; }
  if (!confirm(`Accept ${lines.length} certain line(s) of ${item.predicted}?`)) return;
  lines.forEach((i) => setLabel(i, i.predicted, { confirmed: true }));
  message(`accepted ${lines.length} certain line(s) of ${item.predicted} (not saved yet)`);
  render();
}

async function save() {
  if (!S.pending.size) { message("nothing to save"); return; }
  const byEpisode = new Map();
  for (const c of S.pending.values()) {
    if (!byEpisode.has(c.episode)) byEpisode.set(c.episode, []);
    const { episode, ...change } = c;
    byEpisode.get(c.episode).push(change);
  }
  const saved = [];
  for (const [episode, changes] of byEpisode) {
    const res = await fetch("/api/save", {
      method: "POST", headers: { "Content-Type": "application/json" }, body: JSON.stringify({ episode, changes }),
    });
    const data = await res.json();
    if (!res.ok) { message(`${episode}: not saved: ${data.error}`, "error"); break; }
    for (const c of changes) S.pending.delete(`${episode}/${c.line_id}`);
    saved.push(`${data.changed} line(s) to ${data.path}`);
    S.refresh = data.refresh;
  }
  if (saved.length) {
    message(`saved ${saved.join("; ")}`, "ok");
    await load();
    poll();
  }
}

function poll() {
  if (S.polling) return;
  S.polling = setInterval(async () => {
    const res = await fetch("/api/state");
    if (!res.ok) return;
    const data = await res.json();
    S.refresh = data.refresh;
    renderRefresh();
    const changed = Object.keys(S.versions).filter((ep) => data.versions[ep] && data.versions[ep] !== S.versions[ep]);
    if (changed.length) {
      await load();
      message(`predictions refreshed for ${changed.join(", ")} at ${new Date().toLocaleTimeString()}`, "ok");
    }
    const busy = S.refresh.enabled && (S.refresh.running || S.refresh.pending.length);
    if (!busy && !changed.length && S.refresh.enabled) { clearInterval(S.polling); S.polling = null; }
  }, 2000);
}

document.addEventListener("keydown", (ev) => {
  if (S.editing || ev.target.tagName === "INPUT" && ev.target.type !== "checkbox" || ev.target.tagName === "SELECT") return;
  if (ev.ctrlKey && ev.key === "s") { ev.preventDefault(); save(); return; }
  if (ev.ctrlKey || ev.metaKey || ev.altKey) return;
  const item = current();
  switch (ev.key) {
    case " ": case "p": if (item) playSrc(item.clip); break;
    case "a": case "Enter": if (item && item.predicted) label(item.predicted); break;
    case "j": case "ArrowDown": move(1, true); break;
    case "k": case "ArrowUp": move(-1, true); break;
    case "x": move(1, true); break;
    case "n": {
      const name = (prompt("New character's name") || "").trim();
      if (name) label(name);
      break;
    }
    case "c":
      if (item && item.neighbours.length) {
        const nb = item.neighbours[S.neighbour % item.neighbours.length];
        S.neighbour += 1;
        message(`neighbour: ${nb.character} at ${nb.distance.toFixed(3)}`);
        playSrc(nb.clip);
      }
      break;
    case "e": if (item) { S.editing = keyOf(item); render(); } break;
    case "u":
      if (item) { S.pending.delete(keyOf(item)); render(); }
      break;
    case "b": bulkAccept(); break;
    case "s": save(); break;
    default:
      if (/^[1-9]$/.test(ev.key) && S.characters[Number(ev.key) - 1]) label(S.characters[Number(ev.key) - 1]);
      else return;
  }
  ev.preventDefault();
});

$("#episode").addEventListener("change", () => { S.idx = 0; load(false); });
document.querySelectorAll("#status-filter input").forEach((i) => i.addEventListener("change", () => { filter(); render(); }));
$("#save").addEventListener("click", save);
window.addEventListener("beforeunload", (ev) => { if (S.pending.size) { ev.preventDefault(); ev.returnValue = ""; } });

const params = new URLSearchParams(location.search);
if (params.get("episode")) {
  const sel = $("#episode");
  sel.add(new Option(params.get("episode"), params.get("episode")));
  sel.value = params.get("episode");
}
load(false);
