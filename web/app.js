// segserve's page: upload an image, follow the job, inspect the segments, complete a partial
// map by inpainting. Plain JavaScript over the public API (openapi.yaml); nothing else loaded.
"use strict";

const $ = (id) => document.getElementById(id);
const TERMINAL = new Set(["succeeded", "failed", "canceled"]);
const POLL_MS = 300;  // when the event stream is not available

// What the page holds: the photo and the segment map being shown or edited.
const S = {
  file: null,          // the chosen image file (needed again for inpainting)
  width: 0, height: 0,
  photo: null,         // Uint8ClampedArray RGBA of the base picture
  ids: null,           // Uint32Array segment id per pixel (0 void) of the result shown
  segments: new Map(), // id -> {id, area, bbox, score} from segments.json
  uncertainty: null,   // Uint8Array per pixel, 255 where the model is least sure (uncertainty.png)
  index: null,         // Uint16Array: pixel -> segment slot (0 void), into `colours`
  slotOf: new Map(),   // id -> slot
  colours: [[0, 0, 0]],
  hover: 0, isolated: 0,
  editIds: null, known: null, picked: 0,
  defaults: null,
  painting: false,
};

// ---------------------------------------------------------------- API

function authHeaders() {
  const key = localStorage.getItem("segserve-api-key");
  return key ? { Authorization: `Bearer ${key}` } : {};
}

async function api(path, init = {}) {
  const response = await fetch(path, { ...init, headers: { ...authHeaders(), ...(init.headers || {}) } });
  if (!response.ok) {
    let detail = response.statusText;
    try {
      const problem = await response.json();
      detail = problem.detail || problem.title || detail;
    } catch (_) { /* not problem+json */ }
    throw new Error(`${response.status} ${detail}`);
  }
  return response;
}

// Follows the job's event stream (fetch, so an API key can go with it); polls if that fails.
async function waitForJob(id, onUpdate) {
  try {
    return await followEvents(id, onUpdate);
  } catch (_) {
    return pollJob(id, onUpdate);
  }
}

async function followEvents(id, onUpdate) {
  const response = await api(`/v1/jobs/${id}/events`);
  if (response.status === 204) return pollJob(id, onUpdate);
  const reader = response.body.getReader();
  const decoder = new TextDecoder();
  let buffer = "";
  for (;;) {
    const { value, done } = await reader.read();
    if (done) throw new Error("the event stream ended before the job");
    buffer += decoder.decode(value, { stream: true });
    for (let end = buffer.indexOf("\n\n"); end >= 0; end = buffer.indexOf("\n\n")) {
      const block = buffer.slice(0, end);
      buffer = buffer.slice(end + 2);
      let event = "message", data = "";
      for (const line of block.split("\n")) {
        if (line.startsWith("event: ")) event = line.slice(7);
        else if (line.startsWith("data: ")) data += line.slice(6);
      }
      if (!data) continue;  // retry hints and keep-alive comments
      const payload = JSON.parse(data);
      if (event === "queued") onUpdate({ state: "queued", queue_position: payload.position, progress: { step: 0, steps: 1 } });
      else if (event === "progress") onUpdate({ state: "running", progress: payload });
      else if (event === "done") {
        reader.cancel();
        onUpdate(payload);
        return payload;
      }
    }
  }
}

async function pollJob(id, onUpdate) {
  for (;;) {
    const job = await (await api(`/v1/jobs/${id}`)).json();
    onUpdate(job);
    if (TERMINAL.has(job.state)) return job;
    await new Promise((resolve) => setTimeout(resolve, POLL_MS));
  }
}

function showStatus(text, isError = false) {
  const status = $("job-status");
  status.textContent = text;
  status.classList.toggle("error", isError);
}

function showProgress(job) {
  const bar = $("progress");
  bar.hidden = TERMINAL.has(job.state);
  const { step, steps } = job.progress;
  bar.max = Math.max(1, steps);
  bar.value = step;
  bar.textContent = `${Math.round((100 * step) / Math.max(1, steps))}%`;
  if (job.state === "queued") {
    showStatus(job.queue_position ? `Queued: ${job.queue_position} job(s) ahead` : "Queued: next");
  } else if (job.state === "running") {
    showStatus(`Running: step ${step} of ${steps}`);
  } else if (job.state === "succeeded") {
    showStatus(`Done in ${seconds(job.started_at, job.finished_at)} s`);
  } else {
    showStatus(`${job.state}: ${job.error ? job.error.detail : ""}`, true);
  }
}

function seconds(from, to) {
  return ((Date.parse(to) - Date.parse(from)) / 1000).toFixed(1);
}

// ---------------------------------------------------------------- images

function loadImage(src) {
  return new Promise((resolve, reject) => {
    const image = new Image();
    image.onload = () => resolve(image);
    image.onerror = () => reject(new Error(`cannot load ${src}`));
    image.src = src;
  });
}

function pixelsOf(image) {
  const canvas = document.createElement("canvas");
  canvas.width = image.naturalWidth;
  canvas.height = image.naturalHeight;
  const ctx = canvas.getContext("2d", { willReadFrequently: true });
  ctx.drawImage(image, 0, 0);
  return ctx.getImageData(0, 0, canvas.width, canvas.height).data;
}

// COCO panoptic PNG pixels: id = R + 256 G + 256^2 B.
function idsOfPixels(rgba) {
  const ids = new Uint32Array(rgba.length / 4);
  for (let i = 0; i < ids.length; i++) ids[i] = rgba[4 * i] | (rgba[4 * i + 1] << 8) | (rgba[4 * i + 2] << 16);
  return ids;
}

async function pixelsFrom(url) {
  const blob = await (await api(url)).blob();
  const objectURL = URL.createObjectURL(blob);
  try {
    return pixelsOf(await loadImage(objectURL));
  } finally {
    URL.revokeObjectURL(objectURL);
  }
}

async function idsFrom(url) {
  return idsOfPixels(await pixelsFrom(url));
}

// The grey of unknown pixels: diagonal stripes 8 px wide.
function hatch(i, value) {
  const grey = (((i % S.width) + ((i / S.width) | 0)) >> 3) & 1 ? 170 : 120;
  return (value + grey * 2) / 3;
}

function pngOf(width, height, fill) {
  const canvas = document.createElement("canvas");
  canvas.width = width;
  canvas.height = height;
  const ctx = canvas.getContext("2d");
  const data = ctx.createImageData(width, height);
  fill(data.data);
  ctx.putImageData(data, 0, 0);
  return new Promise((resolve) => canvas.toBlob(resolve, "image/png"));
}

// A distinct, stable colour per segment id (golden-angle hues).
function colourOf(id) {
  const hue = (id * 137.508) % 360, s = 0.65, l = 0.55;
  const k = (n) => (n + hue / 30) % 12;
  const a = s * Math.min(l, 1 - l);
  const f = (n) => l - a * Math.max(-1, Math.min(k(n) - 3, Math.min(9 - k(n), 1)));
  return [Math.round(255 * f(0)), Math.round(255 * f(8)), Math.round(255 * f(4))];
}

function indexSegments(ids) {
  S.slotOf = new Map();
  S.colours = [[0, 0, 0]];
  S.index = new Uint16Array(ids.length);
  for (let i = 0; i < ids.length; i++) {
    const id = ids[i];
    if (id === 0) continue;
    let slot = S.slotOf.get(id);
    if (slot === undefined) {
      slot = S.colours.length;
      S.slotOf.set(id, slot);
      S.colours.push(colourOf(id));
    }
    S.index[i] = slot;
  }
}

// ---------------------------------------------------------------- drawing

function editing() {
  return S.editIds !== null && document.querySelector("input[name=tool]:checked").value !== "inspect";
}

function draw() {
  if (!S.ids) return;
  const canvas = $("view");
  const ctx = canvas.getContext("2d");
  const frame = ctx.createImageData(S.width, S.height);
  const out = frame.data, photo = S.photo;
  const opacity = Number($("opacity").value);
  const edit = editing();
  const unsure = $("show-uncertainty").checked && !edit ? S.uncertainty : null;
  const hoverSlot = S.slotOf.get(S.hover) || -1, isolatedSlot = S.slotOf.get(S.isolated) || -1;
  for (let i = 0, n = S.width * S.height; i < n; i++) {
    const o = 4 * i;
    let r = photo[o], g = photo[o + 1], b = photo[o + 2];
    const slot = S.index[i];
    if (edit && !S.known[i]) {
      r = g = b = hatch(i, r);
    } else if (isolatedSlot > 0 && slot !== isolatedSlot) {
      r *= 0.3; g *= 0.3; b *= 0.3;
    } else if (slot > 0) {
      const alpha = slot === hoverSlot ? Math.min(1, opacity + 0.35) : opacity;
      const c = S.colours[slot];
      r += (c[0] - r) * alpha; g += (c[1] - g) * alpha; b += (c[2] - b) * alpha;
    }
    if (unsure) {  // the unsure pixels turn magenta, the sure ones keep their colour
      const u = unsure[i] / 255;
      r += (255 - r) * u; g -= g * u; b += (255 - b) * u;
    }
    out[o] = r; out[o + 1] = g; out[o + 2] = b; out[o + 3] = 255;
  }
  ctx.putImageData(frame, 0, 0);
}

let drawQueued = false;
function redraw() {
  if (drawQueued) return;
  drawQueued = true;
  requestAnimationFrame(() => { drawQueued = false; draw(); });
}

function describe(id) {
  const info = $("segment-info");
  if (!id) {
    info.textContent = S.isolated ? `Segment ${S.isolated} isolated; Escape or click it again shows all.`
      : "Hover a segment to see it; click to isolate it.";
    return;
  }
  const s = S.segments.get(id);
  const area = s ? s.area : "?", bbox = s ? s.bbox.join(", ") : "?";
  const score = s && s.score !== undefined ? `, score ${s.score.toFixed(2)}` : "";
  info.textContent = `Segment ${id}: area ${area} px, bbox [${bbox}]${score}${S.isolated === id ? " (isolated)" : ""}`;
  info.dataset.segment = String(id);
}

function pixelAt(event) {
  const canvas = $("view");
  const rect = canvas.getBoundingClientRect();
  const x = Math.floor(((event.clientX - rect.left) * S.width) / rect.width);
  const y = Math.floor(((event.clientY - rect.top) * S.height) / rect.height);
  return x >= 0 && y >= 0 && x < S.width && y < S.height ? { x, y, i: y * S.width + x } : null;
}

// ---------------------------------------------------------------- results

// The segments by score, lowest first: a reviewer checks those first. Each isolates its segment.
function listForReview(annotation) {
  const list = $("review-list");
  list.replaceChildren();
  const scored = annotation.segments_info.filter((s) => s.score !== undefined).sort((a, b) => a.score - b.score || a.id - b.id);
  const basis = annotation.scores;
  $("review-basis").textContent = !basis ? "This result has no scores."
    : `Scores from ${basis.runs === 1 ? "a single run (the model's confidence only)" : `${basis.runs} runs (confidence and agreement between runs)`}`
      + `${basis.calibrated ? ", calibrated on training images" : ""}.`;
  for (const s of scored) {
    const item = document.createElement("li");
    const button = document.createElement("button");
    button.type = "button";
    button.textContent = `Segment ${s.id}: score ${s.score.toFixed(2)}, ${s.area} px`;
    button.dataset.segment = String(s.id);
    button.addEventListener("click", () => {
      S.isolated = S.isolated === s.id ? 0 : s.id;
      describe(s.id);
      redraw();
    });
    item.append(button);
    list.append(item);
  }
}

// uncertainty.png's grey per pixel.
async function uncertaintyFrom(url) {
  if (!url) return null;
  const pixels = await pixelsFrom(url);
  const u = new Uint8Array(pixels.length / 4);
  for (let i = 0; i < u.length; i++) u[i] = pixels[4 * i];
  return u;
}

async function showResult(job, photo) {
  const [ids, annotation, uncertainty] = await Promise.all([idsFrom(job.links.panoptic), (await api(job.links.segments)).json(),
    uncertaintyFrom(job.links.uncertainty).catch(() => null)]);
  S.uncertainty = uncertainty && uncertainty.length === ids.length ? uncertainty : null;
  S.width = annotation.width;
  S.height = annotation.height;
  S.photo = photo;
  S.ids = ids;
  S.segments = new Map(annotation.segments_info.map((s) => [s.id, s]));
  S.hover = 0;
  S.isolated = 0;
  S.editIds = Uint32Array.from(ids);
  S.known = new Uint8Array(ids.length);
  for (let i = 0; i < ids.length; i++) S.known[i] = ids[i] !== 0 ? 1 : 0;
  indexSegments(ids);
  const canvas = $("view");
  canvas.width = S.width;
  canvas.height = S.height;
  $("download-png").href = job.links.panoptic;
  $("download-json").href = job.links.segments;
  $("download-uncertainty").href = job.links.uncertainty || "";
  $("download-uncertainty").hidden = !S.uncertainty;
  $("show-uncertainty").disabled = !S.uncertainty;
  listForReview(annotation);
  $("result-section").hidden = false;
  $("inpaint").disabled = !S.file;
  $("inpaint").title = S.file ? "" : "Inpainting needs the original image: upload it above";
  document.querySelector("input[name=tool][value=inspect]").checked = true;
  describe(0);
  draw();
  $("view").dataset.segments = String(S.segments.size);
  $("view").dataset.job = job.id;
}

async function photoFromFile(file) {
  const url = URL.createObjectURL(file);
  try {
    return pixelsOf(await loadImage(url));
  } finally {
    URL.revokeObjectURL(url);
  }
}

function optionsFromForm() {
  const form = $("options");
  const options = {};
  for (const input of form.querySelectorAll("input")) {
    if (input.type === "checkbox") options[input.name] = input.checked;
    else if (input.value !== "") options[input.name] = Number(input.value);
  }
  for (const select of form.querySelectorAll("select")) options[select.name] = select.value;
  return options;
}

async function segment(event) {
  event.preventDefault();
  if (!S.file) return;
  $("segment").disabled = true;
  try {
    const body = new FormData();
    body.append("image", S.file, S.file.name);
    body.append("options", new Blob([JSON.stringify(optionsFromForm())], { type: "application/json" }));
    showStatus("Uploading…");
    const job = await (await api("/v1/segmentations", { method: "POST", body })).json();
    const [done, photo] = await Promise.all([waitForJob(job.id, showProgress), photoFromFile(S.file)]);
    if (done.state === "succeeded") await showResult(done, photo);
  } catch (error) {
    showStatus(error.message, true);
  } finally {
    $("segment").disabled = false;
    refreshJobs();
  }
}

// ---------------------------------------------------------------- editing

// COCO segments_info (id, area, bbox [x, y, w, h]) of an id map.
function describeSegments(ids, width) {
  const boxes = new Map();
  for (let i = 0; i < ids.length; i++) {
    const id = ids[i];
    if (!id) continue;
    const x = i % width, y = (i / width) | 0;
    const b = boxes.get(id);
    if (b) { b.area++; b.x0 = Math.min(b.x0, x); b.x1 = Math.max(b.x1, x); b.y1 = y; }
    else boxes.set(id, { area: 1, x0: x, x1: x, y0: y, y1: y });
  }
  return new Map([...boxes].map(([id, b]) => [id, { id, area: b.area, bbox: [b.x0, b.y0, b.x1 - b.x0 + 1, b.y1 - b.y0 + 1] }]));
}

// A partial map from a file replaces the segments being edited: its ids are kept, 0 is unknown.
async function loadPartial(file) {
  if (!file || !S.photo) return;
  const url = URL.createObjectURL(file);
  try {
    const image = await loadImage(url);
    if (image.naturalWidth !== S.width || image.naturalHeight !== S.height) {
      showStatus(`${file.name} is ${image.naturalWidth}x${image.naturalHeight}; the image is ${S.width}x${S.height}`, true);
      return;
    }
    S.editIds = idsOfPixels(pixelsOf(image));
    for (let i = 0; i < S.editIds.length; i++) S.known[i] = S.editIds[i] !== 0 ? 1 : 0;
    S.ids = Uint32Array.from(S.editIds);
    S.segments = describeSegments(S.ids, S.width);
    S.isolated = 0;
    indexSegments(S.ids);
    document.querySelector("input[name=tool][value=toggle]").checked = true;
    showStatus(`Partial map ${file.name} loaded: ${S.slotOf.size} segments known`);
    redraw();
  } finally {
    URL.revokeObjectURL(url);
  }
}

function toggleSegment(id) {
  if (!id) return;
  S.picked = id;
  let allKnown = true;
  for (let i = 0; i < S.editIds.length; i++) if (S.editIds[i] === id && !S.known[i]) { allKnown = false; break; }
  for (let i = 0; i < S.editIds.length; i++) if (S.editIds[i] === id) S.known[i] = allKnown ? 0 : 1;
  $("segment-info").textContent = `Segment ${id} ${allKnown ? "dropped: the model will fill it" : "kept"}; it is the paint colour now.`;
}

function brush(at, tool) {
  const r = Number($("brush").value) / 2;
  for (let y = Math.max(0, Math.floor(at.y - r)); y <= Math.min(S.height - 1, at.y + r); y++) {
    for (let x = Math.max(0, Math.floor(at.x - r)); x <= Math.min(S.width - 1, at.x + r); x++) {
      if ((x - at.x) ** 2 + (y - at.y) ** 2 > r * r) continue;
      const i = y * S.width + x;
      if (tool === "erase") {
        S.known[i] = 0;
      } else if (S.picked) {
        S.editIds[i] = S.picked;
        S.known[i] = 1;
        S.index[i] = S.slotOf.get(S.picked);
      }
    }
  }
}

function setAll(value) {
  for (let i = 0; i < S.known.length; i++) S.known[i] = value && S.editIds[i] !== 0 ? 1 : 0;
  document.querySelector("input[name=tool][value=toggle]").checked = true;
  redraw();
}

async function inpaint() {
  if (!S.file) return;
  const { width, height, editIds, known } = S;
  $("inpaint").disabled = true;
  try {
    const mask = await pngOf(width, height, (px) => {
      for (let i = 0; i < editIds.length; i++) {
        const id = known[i] ? editIds[i] : 0;
        px[4 * i] = id & 255; px[4 * i + 1] = (id >> 8) & 255; px[4 * i + 2] = (id >> 16) & 255; px[4 * i + 3] = 255;
      }
    });
    const knownPNG = await pngOf(width, height, (px) => {
      for (let i = 0; i < known.length; i++) {
        const v = known[i] ? 255 : 0;
        px[4 * i] = v; px[4 * i + 1] = v; px[4 * i + 2] = v; px[4 * i + 3] = 255;
      }
    });
    const body = new FormData();
    body.append("image", S.file, S.file.name);
    body.append("mask", mask, "mask.png");
    body.append("known", knownPNG, "known.png");
    const options = optionsFromForm();
    const { steps, sampler, deep_cache, token_merging, seed, resolution } = options;
    body.append("options", new Blob([JSON.stringify({ steps, sampler, deep_cache, token_merging, seed, resolution })],
                                     { type: "application/json" }));
    showStatus("Uploading the partial map…");
    const job = await (await api("/v1/inpaintings", { method: "POST", body })).json();
    const done = await waitForJob(job.id, showProgress);
    if (done.state !== "succeeded") return;
    const completed = await idsFrom(done.links.panoptic);
    paintMap($("inpaint-input"), (i) => (known[i] ? editIds[i] : 0), true);
    paintMap($("inpaint-output"), (i) => completed[i], false);
    $("inpaint-output").dataset.job = done.id;
    $("inpaint-section").hidden = false;
    $("inpaint-section").scrollIntoView({ behavior: "smooth", block: "nearest" });
  } catch (error) {
    showStatus(error.message, true);
  } finally {
    $("inpaint").disabled = false;
    refreshJobs();
  }
}

// The photo with each pixel's segment colour (unknown pixels hatched when `hatchUnknown`).
function paintMap(canvas, idAt, hatchUnknown) {
  canvas.width = S.width;
  canvas.height = S.height;
  const ctx = canvas.getContext("2d");
  const frame = ctx.createImageData(S.width, S.height);
  const out = frame.data;
  const colours = new Map();
  for (let i = 0, n = S.width * S.height; i < n; i++) {
    const o = 4 * i, id = idAt(i);
    let r = S.photo[o], g = S.photo[o + 1], b = S.photo[o + 2];
    if (id) {
      let c = colours.get(id);
      if (!c) { c = colourOf(id); colours.set(id, c); }
      r += (c[0] - r) * 0.6; g += (c[1] - g) * 0.6; b += (c[2] - b) * 0.6;
    } else if (hatchUnknown) {
      r = g = b = hatch(i, r);
    }
    out[o] = r; out[o + 1] = g; out[o + 2] = b; out[o + 3] = 255;
  }
  ctx.putImageData(frame, 0, 0);
}

// ---------------------------------------------------------------- jobs list

async function refreshJobs() {
  const list = $("job-list");
  try {
    const { jobs } = await (await api("/v1/jobs?limit=15")).json();
    list.replaceChildren(...jobs.map(jobItem));
    if (jobs.length === 0) list.replaceChildren(Object.assign(document.createElement("li"), { textContent: "No jobs yet." }));
  } catch (error) {
    list.replaceChildren(Object.assign(document.createElement("li"), { textContent: `Cannot list jobs: ${error.message}` }));
  }
}

function jobItem(job) {
  const li = document.createElement("li");
  const state = Object.assign(document.createElement("span"), { className: `state ${job.state}`, textContent: job.state });
  const what = document.createElement("span");
  what.textContent = `${job.kind}, ${new Date(job.created_at).toLocaleTimeString()}` +
    (job.state === "running" ? `, step ${job.progress.step}/${job.progress.steps}` : "");
  const id = Object.assign(document.createElement("code"), { textContent: job.id.slice(0, 8) });
  li.append(state, what, id);
  if (job.state === "queued" || job.state === "running") {
    const cancel = Object.assign(document.createElement("button"), { type: "button", textContent: "Cancel" });
    cancel.setAttribute("aria-label", `Cancel job ${job.id.slice(0, 8)}`);
    cancel.addEventListener("click", async () => {
      try { await api(`/v1/jobs/${job.id}`, { method: "DELETE" }); } catch (error) { showStatus(error.message, true); }
      refreshJobs();
    });
    li.append(cancel);
  } else if (job.state === "succeeded") {
    const show = Object.assign(document.createElement("button"), { type: "button", textContent: "Show" });
    show.setAttribute("aria-label", `Show the result of job ${job.id.slice(0, 8)}`);
    show.addEventListener("click", async () => {
      try {
        // Without the original image at hand, the server's overlay is the picture.
        S.file = null;
        const blob = await (await api(job.links.overlay)).blob();
        const url = URL.createObjectURL(blob);
        const photo = pixelsOf(await loadImage(url));
        URL.revokeObjectURL(url);
        await showResult(job, photo);
        $("result-section").scrollIntoView({ behavior: "smooth", block: "nearest" });
      } catch (error) {
        showStatus(error.message, true);
      }
    });
    li.append(show);
  }
  return li;
}

// ---------------------------------------------------------------- wiring

function chooseFile(file) {
  if (!file) return;
  if (!/^image\/(png|jpeg)$/.test(file.type)) {
    showStatus(`${file.name}: not a PNG or JPEG`, true);
    return;
  }
  S.file = file;
  const drop = $("drop");
  const preview = document.createElement("img");
  preview.alt = `Preview of ${file.name}`;
  preview.src = URL.createObjectURL(file);
  preview.onload = () => URL.revokeObjectURL(preview.src);
  drop.replaceChildren(preview, Object.assign(document.createElement("span"), { textContent: file.name }));
  $("segment").disabled = false;
  showStatus("");
}

// The server's range of an option (GET /v1/models `limits`, JSON Schema's words) as the
// input's min, max and step, so the form never offers what the server refuses. An exclusive
// bound is one step inside.
function applyRange(input, range) {
  if (!range) return;
  const step = range.multipleOf ?? (input.step && input.step !== "any" ? Number(input.step) : 1);
  if (range.multipleOf) input.step = range.multipleOf;
  const min = range.minimum ?? (range.exclusiveMinimum === undefined ? undefined : range.exclusiveMinimum + step);
  const max = range.maximum ?? (range.exclusiveMaximum === undefined ? undefined : range.exclusiveMaximum - step);
  if (min !== undefined) input.min = min;
  if (max !== undefined) input.max = max;
}

async function loadModel() {
  try {
    const { models } = await (await api("/v1/models")).json();
    const model = models[0];
    S.defaults = model.defaults;
    $("model-info").textContent = `Model ${model.name} (${model.image_encoder} image encoder)`;
    for (const input of $("options").querySelectorAll("input")) {
      applyRange(input, (model.limits || {})[input.name]);
      const value = model.defaults[input.name];
      if (value === undefined) continue;
      if (input.type === "checkbox") input.checked = Boolean(value);
      else input.value = value;
    }
    for (const select of $("options").querySelectorAll("select")) {
      if (model.defaults[select.name] !== undefined) select.value = model.defaults[select.name];
    }
  } catch (error) {
    $("model-info").textContent = `Cannot read the model: ${error.message}`;
  }
}

function init() {
  const key = $("api-key");
  key.value = localStorage.getItem("segserve-api-key") || "";
  key.addEventListener("change", () => {
    localStorage.setItem("segserve-api-key", key.value.trim());
    loadModel();
    refreshJobs();
  });

  const drop = $("drop"), file = $("file");
  drop.addEventListener("click", () => file.click());
  drop.addEventListener("keydown", (e) => {
    if (e.key === "Enter" || e.key === " ") { e.preventDefault(); file.click(); }
  });
  drop.addEventListener("dragover", (e) => { e.preventDefault(); drop.classList.add("over"); });
  drop.addEventListener("dragleave", () => drop.classList.remove("over"));
  drop.addEventListener("drop", (e) => {
    e.preventDefault();
    drop.classList.remove("over");
    chooseFile(e.dataTransfer.files[0]);
  });
  file.addEventListener("change", () => chooseFile(file.files[0]));
  $("options").addEventListener("submit", segment);
  $("opacity").addEventListener("input", redraw);
  $("show-uncertainty").addEventListener("change", redraw);

  const view = $("view");
  view.addEventListener("pointermove", (e) => {
    const at = pixelAt(e);
    if (!at) return;
    if (S.painting) { brush(at, document.querySelector("input[name=tool]:checked").value); redraw(); return; }
    const id = S.editIds && editing() ? S.editIds[at.i] : S.ids[at.i];
    if (id !== S.hover) { S.hover = id; describe(id); redraw(); }
  });
  view.addEventListener("pointerleave", () => { S.hover = 0; S.painting = false; describe(0); redraw(); });
  view.addEventListener("pointerdown", (e) => {
    const at = pixelAt(e);
    if (!at) return;
    const tool = document.querySelector("input[name=tool]:checked").value;
    if (tool === "inspect") {
      const id = S.ids[at.i];
      S.isolated = S.isolated === id || !id ? 0 : id;
      describe(id);
    } else if (tool === "toggle") {
      toggleSegment(S.editIds[at.i]);
    } else {
      S.painting = true;
      view.setPointerCapture(e.pointerId);
      brush(at, tool);
    }
    redraw();
  });
  view.addEventListener("pointerup", () => { S.painting = false; });
  view.addEventListener("keydown", (e) => {
    const ids = [...S.segments.keys()];
    if (ids.length === 0) return;
    const at = ids.indexOf(S.hover);
    if (e.key === "ArrowRight" || e.key === "ArrowDown") S.hover = ids[(at + 1) % ids.length];
    else if (e.key === "ArrowLeft" || e.key === "ArrowUp") S.hover = ids[(at - 1 + ids.length) % ids.length];
    else if (e.key === "Enter" && S.hover) S.isolated = S.isolated === S.hover ? 0 : S.hover;
    else if (e.key === "Escape") S.isolated = 0;
    else return;
    e.preventDefault();
    describe(S.hover);
    redraw();
  });
  for (const radio of document.querySelectorAll("input[name=tool]")) radio.addEventListener("change", redraw);
  $("keep-all").addEventListener("click", () => setAll(1));
  $("drop-all").addEventListener("click", () => setAll(0));
  $("inpaint").addEventListener("click", inpaint);
  $("partial").addEventListener("change", (e) => loadPartial(e.target.files[0]));
  $("refresh").addEventListener("click", refreshJobs);

  loadModel();
  refreshJobs();
}

document.addEventListener("DOMContentLoaded", init);
