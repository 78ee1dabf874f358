// envgym play --web: the page.  Everything from the env or the player is put into the DOM as text
// (textContent, input values, option labels) — never as HTML.  The token comes from the URL
// fragment (#token=…), which the browser never sends to a server, and goes out in a header.
"use strict";

const TOKEN = new URLSearchParams(location.hash.slice(1)).get("token") || "";
const $ = (id) => document.getElementById(id);
const TEXT_ROLES = new Set(["textbox", "searchbox", "spinbutton"]);
let version = -1;
let current = null;
let hintAction = null;

function el(tag, props, ...children) {
  const node = document.createElement(tag);
  Object.assign(node, props || {});
  for (const child of children) node.append(child instanceof Node ? child : String(child));
  return node;
}

async function api(path, body) {
  const options = { headers: { "X-Envgym-Token": TOKEN } };
  if (body !== undefined) {
    options.method = "POST";
    options.headers["Content-Type"] = "application/json";
    options.body = JSON.stringify(body);
  }
  const reply = await fetch(path, options);
  const data = await reply.json().catch(() => ({ error: `HTTP ${reply.status}` }));
  if (!reply.ok) throw new Error(data.error || `HTTP ${reply.status}`);
  return data;
}

function say(text, isError) {
  const box = $("message");
  box.textContent = text || "";
  box.className = isError ? "error" : "";
}

async function send(action) {
  say("");
  $("hint").hidden = true;
  try {
    await api("/api/act", { action });
  } catch (error) {
    say(error.message, true);
  }
}

const quote = (value) => JSON.stringify(String(value));

// ---------------------------------------------------------------------------- rendering
function render(view) {
  current = view;
  document.title = `envgym play · ${view.env_id}`;
  $("title").textContent = `envgym play · ${view.env_id}`;
  const outcome = view.success === null ? "" : view.success ? " · SUCCESS" : " · failed";
  $("status").textContent = `${view.status} · task ${view.task_id ?? "?"} · turn ${view.turn} · ` +
    `return ${Number(view.total_return).toFixed(2)}${outcome}` + (view.out ? ` · recording to ${view.out}` : "");
  if (view.message) say(view.message, view.status === "error");
  const obs = view.observation || {};
  $("obs-text").textContent = obs.text || "";
  const error = $("action-error");
  error.hidden = !obs.last_action_error;
  error.textContent = obs.last_action_error ? `last action failed: ${obs.last_action_error}` : "";
  renderScreen(obs, view.mode);
  renderChoices(obs.admissible_actions || []);
  renderTools(obs.tools || []);
  renderElements(view.mode === "element" ? obs.axtree || "" : "");
  $("pixel-tools").hidden = view.mode !== "pixel";
  renderHistory(view.history || []);
  const acting = view.status === "your-turn";
  for (const node of document.querySelectorAll("#controls button, #free-send")) node.disabled = !acting;
  $("hint-button").disabled = !acting;
}

function renderScreen(obs, mode) {
  const figure = $("screen");
  const img = $("screenshot");
  figure.hidden = !obs.image;
  if (!obs.image) return;
  img.src = obs.image;
  img.classList.toggle("clickable", mode === "pixel");
  const size = obs.screen_size ? `${obs.screen_size[0]}×${obs.screen_size[1]}` : "";
  $("screen-caption").textContent = mode === "pixel"
    ? `Click the screenshot to click there (double-click: double_click). Screen ${size}.`
    : `Screen ${size}. Act through the page elements or the action box.`;
}

function renderChoices(actions) {
  const list = $("admissible-list");
  list.replaceChildren(...actions.map((action) => {
    const button = el("button", { type: "button" }, action);
    button.dataset.action = action;
    button.addEventListener("click", () => send(action));
    return button;
  }));
  $("admissible").hidden = actions.length === 0;
}

function renderTools(tools) {
  $("tool-forms").replaceChildren(...tools.map(toolForm));
  $("tools").hidden = tools.length === 0;
}

function toolForm(tool) {
  const params = (tool.parameters && tool.parameters.properties) || {};
  const form = el("form", { className: "tool" }, el("strong", {}, tool.name));
  form.dataset.tool = tool.name;
  if (tool.description) form.append(el("div", { className: "desc" }, tool.description));
  const inputs = {};
  for (const [name, schema] of Object.entries(params)) {
    const kind = schema.type;
    const input = kind === "boolean" ? el("input", { type: "checkbox" })
      : kind === "integer" || kind === "number" ? el("input", { type: "number", step: "any" })
      : el("textarea", { rows: 2 });
    input.name = name;
    inputs[name] = [input, kind];
    form.append(el("label", {}, name + (schema.description ? ` — ${schema.description}` : "")), input);
  }
  form.append(el("button", { type: "submit" }, `Call ${tool.name}`));
  form.addEventListener("submit", (event) => {
    event.preventDefault();
    const args = {};
    try {
      for (const [name, [input, kind]] of Object.entries(inputs)) {
        if (kind === "boolean") args[name] = input.checked;
        else if (input.value === "") continue;
        else if (kind === "integer" || kind === "number") args[name] = Number(input.value);
        else if (kind === "object" || kind === "array") args[name] = JSON.parse(input.value);
        else args[name] = input.value;
      }
    } catch (error) {
      say(`not valid JSON: ${error.message}`, true);
      return;
    }
    send({ name: tool.name, arguments: args });
  });
  return form;
}

function parseValue(rest) {
  const match = rest.match(/value=(?:'((?:[^'\\]|\\.)*)'|"((?:[^"\\]|\\.)*)")/);
  return match ? (match[1] ?? match[2]).replace(/\\(.)/g, "$1") : "";
}

function parseOptions(rest) {
  const match = rest.match(/options=\[(.*)\]/);
  if (!match) return null;
  const found = [];
  for (const item of match[1].matchAll(/'((?:[^'\\]|\\.)*)'|"((?:[^"\\]|\\.)*)"/g)) {
    found.push((item[1] ?? item[2]).replace(/\\(.)/g, "$1"));
  }
  return found;
}

function control(op, bid, label, onClick) {
  const button = el("button", { type: "button" }, label);
  button.dataset.op = op;
  button.dataset.bid = bid;
  button.addEventListener("click", onClick);
  return button;
}

function elementRow(line) {
  const match = line.match(/^(\s*)\[([^\]]+)\]\s+(\S+)(.*)$/);
  if (!match) return el("div", { className: "el" }, el("span", { className: "ctl" }), el("span", {}, line));
  const [, indent, bid, role, rest] = match;
  const controls = el("span", { className: "ctl" });
  const options = parseOptions(rest);
  if (options && options.length) {
    const select = el("select", {}, ...options.map((option) => el("option", { value: option }, option)));
    select.value = parseValue(rest) || options[0];
    select.dataset.bid = bid;
    controls.append(select, control("select", bid, "select", () => send(`select(${quote(bid)}, ${quote(select.value)})`)));
  } else if (TEXT_ROLES.has(role)) {
    const input = el("input", { placeholder: "text", value: parseValue(rest) });
    input.dataset.bid = bid;
    controls.append(input, control("fill", bid, "fill", () => send(`fill(${quote(bid)}, ${quote(input.value)})`)));
  }
  controls.prepend(control("click", bid, "click", () => send(`click(${quote(bid)})`)));
  return el("div", { className: "el" }, controls, el("span", {}, `${indent}[${bid}] ${role}${rest}`));
}

function renderElements(axtree) {
  const lines = axtree ? axtree.split("\n") : [];
  $("element-list").replaceChildren(...lines.map(elementRow));
  $("elements").hidden = lines.length === 0;
}

function renderHistory(history) {
  const body = $("history").tBodies[0];
  body.replaceChildren(...history.map((entry) => el("tr", {},
    el("td", {}, entry.turn),
    el("td", { className: "action" }, entry.action),
    el("td", {}, Number(entry.reward).toFixed(2)),
    el("td", { className: "error" }, entry.error || ""))));
}

// ---------------------------------------------------------------------------- input
function screenPoint(event) {
  const img = $("screenshot");
  const box = img.getBoundingClientRect();
  const x = Math.round((event.clientX - box.left) * img.naturalWidth / box.width);
  const y = Math.round((event.clientY - box.top) * img.naturalHeight / box.height);
  return [Math.max(0, Math.min(img.naturalWidth - 1, x)), Math.max(0, Math.min(img.naturalHeight - 1, y))];
}

let clickTimer = null;
function onScreenClick(event) {
  if (!current || current.mode !== "pixel" || current.status !== "your-turn") return;
  const [x, y] = screenPoint(event);
  if (event.detail === 2) {
    clearTimeout(clickTimer);
    send(`double_click(${x}, ${y})`);
  } else if (event.detail === 1) {
    clickTimer = setTimeout(() => send(`click(${x}, ${y})`), 250);
  }
}

function freeAction() {
  const text = $("free-action").value.trim();
  if (!text) return;
  if (text.startsWith("{")) {
    try {
      send(JSON.parse(text));
    } catch (error) {
      say(`not valid JSON: ${error.message}`, true);
      return;
    }
  } else {
    send(text);
  }
  $("free-action").value = "";
}

async function showHint() {
  try {
    const hint = await api("/api/hint", {});
    hintAction = hint.action;
    $("hint-text").textContent = hint.action ? `hint: ${hint.action} — ${hint.note}` : hint.note;
    $("use-hint").hidden = !hint.action;
    $("hint").hidden = false;
  } catch (error) {
    say(error.message, true);
  }
}

function wire() {
  $("screenshot").addEventListener("click", onScreenClick);
  $("free-form").addEventListener("submit", (event) => { event.preventDefault(); freeAction(); });
  $("type-send").addEventListener("click", () => send(`type(${quote($("type-text").value)})`));
  $("key-send").addEventListener("click", () => send(`key(${quote($("key-text").value)})`));
  $("scroll-up").addEventListener("click", () => send("scroll(0, -400)"));
  $("scroll-down").addEventListener("click", () => send("scroll(0, 400)"));
  $("hint-button").addEventListener("click", showHint);
  $("use-hint").addEventListener("click", () => hintAction && send(hintAction));
  $("new-button").addEventListener("click", () => api("/api/new", {}).catch((e) => say(e.message, true)));
  $("stop-button").addEventListener("click", () => api("/api/stop", {}).catch((e) => say(e.message, true)));
}

async function poll() {
  for (;;) {
    try {
      const view = await api(`/api/state?after=${version}`);
      if (view.version !== version) {
        version = view.version;
        render(view);
      }
      if (view.status === "closed") {
        say("session closed: you can close this tab");
        return;
      }
    } catch (error) {
      say(`lost the play server: ${error.message}`, true);
      await new Promise((resolve) => setTimeout(resolve, 1000));
    }
  }
}

wire();
if (!TOKEN) say("this page needs the URL printed by `envgym play --web` (with #token=…)", true);
else poll();
