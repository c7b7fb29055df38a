// ferkit's page: send a photo or webcam frames to this server, draw the boxes, chart the probabilities.
// Plain browser JavaScript with no dependencies, so the page works offline.
"use strict";

const FRAME_INTERVAL_MS = 500; // webcam: at most two frames a second, never two requests at once
const COLORS = ["#e8590c", "#2364aa", "#2b8a3e", "#9c36b5", "#c92a2a", "#0b7285", "#5f3dc4", "#a61e4d"];

const view = document.getElementById("view");
const ctx = view.getContext("2d");
const facesBox = document.getElementById("faces");
const statusLine = document.getElementById("status");
const camera = document.getElementById("camera");
const webcamButton = document.getElementById("webcam-toggle");
let stream = null;

function setStatus(text, isError = false) {
  statusLine.textContent = text;
  statusLine.classList.toggle("error", isError);
}

async function postImage(body, headers = {}) {
  const response = await fetch("/v1/predict", { method: "POST", body, headers });
  const answer = await response.json().catch(() => ({ detail: response.statusText }));
  if (!response.ok) throw new Error(`${response.status}: ${answer.detail}`);
  return answer;
}

function percent(p) { return `${(100 * p).toFixed(1)}%`; }

// the image, then one box and label per face, in the image's own pixels (the server's boxes are in those)
function drawResult(source, width, height, result) {
  view.width = width;
  view.height = height;
  ctx.drawImage(source, 0, 0, width, height);
  const sx = width / result.width, sy = height / result.height;
  const line = Math.max(2, Math.round(width / 300));
  ctx.font = `${Math.max(14, Math.round(width / 40))}px system-ui, sans-serif`;
  ctx.textBaseline = "bottom";
  result.faces.forEach((face, i) => {
    const [x, y, w, h] = face.box;
    const color = COLORS[i % COLORS.length];
    ctx.lineWidth = line;
    ctx.strokeStyle = color;
    ctx.strokeRect(x * sx, y * sy, w * sx, h * sy);
    const text = `${i + 1}: ${face.label} ${percent(face.confidence)}`;
    const textWidth = ctx.measureText(text).width + 8;
    const textHeight = parseInt(ctx.font, 10) + 6;
    const top = Math.max(textHeight, y * sy);
    ctx.fillStyle = color;
    ctx.fillRect(x * sx - line / 2, top - textHeight, textWidth, textHeight);
    ctx.fillStyle = "#fff";
    ctx.fillText(text, x * sx + 4, top - 3);
  });
}

// one card per face: its label and a bar per class, the most probable first
function renderFaces(result) {
  facesBox.replaceChildren();
  if (result.faces.length === 0) {
    const none = document.createElement("p");
    none.className = "muted";
    none.dataset.testid = "no-face";
    none.textContent = "No face found. Try a larger, frontal, well-lit face.";
    facesBox.append(none);
    return;
  }
  result.faces.forEach((face, i) => {
    const card = document.createElement("section");
    card.className = "face";
    card.dataset.testid = "face";
    card.style.setProperty("--face-color", COLORS[i % COLORS.length]);
    const title = document.createElement("h3");
    const index = document.createElement("span");
    index.textContent = `Face ${i + 1}`;
    const label = document.createElement("span");
    label.className = "label";
    label.dataset.testid = "face-label";
    label.textContent = face.label;
    const conf = document.createElement("span");
    conf.className = "conf";
    conf.textContent = percent(face.confidence);
    title.append(index, label, conf);
    card.append(title);
    const ranked = Object.entries(face.probabilities).sort((a, b) => b[1] - a[1]);
    for (const [name, p] of ranked) {
      const row = document.createElement("div");
      row.className = name === face.label ? "bar-row top" : "bar-row";
      const nameCell = document.createElement("span");
      nameCell.className = "name";
      nameCell.textContent = name;
      const bar = document.createElement("div");
      bar.className = "bar";
      const fill = document.createElement("div");
      fill.className = "fill";
      fill.style.width = percent(p);
      bar.append(fill);
      const value = document.createElement("span");
      value.className = "value";
      value.textContent = percent(p);
      row.append(nameCell, bar, value);
      card.append(row);
    }
    facesBox.append(card);
  });
}

async function analyseFile(file) {
  if (!file) return;
  if (stream) await toggleWebcam(); // a chosen photo replaces the webcam
  setStatus(`Analysing ${file.name}…`);
  const form = new FormData();
  form.append("file", file, file.name);
  try {
    const [result, bitmap] = await Promise.all([postImage(form), createImageBitmap(file)]);
    drawResult(bitmap, bitmap.width, bitmap.height, result);
    renderFaces(result);
    const n = result.faces.length;
    setStatus(`${file.name}: ${n} face${n === 1 ? "" : "s"}.`);
  } catch (error) {
    setStatus(`Could not analyse ${file.name}: ${error.message}`, true);
  }
}

async function webcamLoop() {
  const frame = document.createElement("canvas");
  while (stream) {
    const started = performance.now();
    if (camera.videoWidth > 0) {
      frame.width = camera.videoWidth;
      frame.height = camera.videoHeight;
      frame.getContext("2d").drawImage(camera, 0, 0);
      const blob = await new Promise((resolve) => frame.toBlob(resolve, "image/jpeg", 0.85));
      try {
        const result = await postImage(blob, { "Content-Type": "image/jpeg" });
        if (!stream) break;
        drawResult(frame, frame.width, frame.height, result);
        renderFaces(result);
        setStatus(`Webcam: ${result.faces.length} face(s), ${Math.round(performance.now() - started)} ms per frame.`);
      } catch (error) {
        setStatus(`Webcam frame not analysed: ${error.message}`, true);
      }
    }
    const wait = Math.max(0, FRAME_INTERVAL_MS - (performance.now() - started));
    await new Promise((resolve) => setTimeout(resolve, wait));
  }
}

async function toggleWebcam() {
  if (stream) {
    stream.getTracks().forEach((track) => track.stop());
    stream = null;
    camera.srcObject = null;
    webcamButton.textContent = "Start webcam";
    webcamButton.classList.remove("on");
    setStatus("Webcam off.");
    return;
  }
  try {
    stream = await navigator.mediaDevices.getUserMedia({ video: { width: { ideal: 640 }, height: { ideal: 480 } }, audio: false });
  } catch (error) {
    setStatus(`No webcam: ${error.message}`, true);
    return;
  }
  camera.srcObject = stream;
  await camera.play();
  webcamButton.textContent = "Stop webcam";
  webcamButton.classList.add("on");
  setStatus("Webcam on: about two frames a second go to this server.");
  webcamLoop();
}

async function showModel() {
  const info = document.getElementById("model-info");
  try {
    const card = await (await fetch("/v1/model")).json();
    const figure = card.accuracy.find((a) => a.split === "PrivateTest" && a.condition === "clean" && a.tta === card.tta) || card.accuracy[0];
    const accuracy = figure ? `; ${figure.dataset} ${figure.split} accuracy ${percent(figure.accuracy)} (${figure.tta} TTA)` : "";
    info.textContent = `Model ${card.name} (${card.architecture}), ${card.classes.length} expressions: ${card.classes.join(", ")}${accuracy}.`;
  } catch (error) {
    info.textContent = `Model card unavailable: ${error.message}`;
  }
}

const dropzone = document.getElementById("dropzone");
document.getElementById("file-input").addEventListener("change", (event) => {
  const file = event.target.files[0];
  event.target.value = ""; // choosing the same file again analyses it again
  analyseFile(file);
});
dropzone.addEventListener("dragover", (event) => { event.preventDefault(); dropzone.classList.add("over"); });
dropzone.addEventListener("dragleave", () => dropzone.classList.remove("over"));
dropzone.addEventListener("drop", (event) => {
  event.preventDefault();
  dropzone.classList.remove("over");
  analyseFile(event.dataTransfer.files[0]);
});
webcamButton.addEventListener("click", toggleWebcam);
showModel();
