// The voice page: hold the button to talk. The microphone is recorded with MediaRecorder (webm),
// streamed as binary frames over WS /ws/voice/{session}; the reply's text appears as it is
// generated and its speech (one WAV per sentence) plays in order. Speaking again interrupts it.
"use strict";
(() => {
  const talk = document.getElementById("talk");
  const statusBox = document.getElementById("voice-status");
  const errorBox = document.getElementById("voice-error");
  const transcript = document.getElementById("transcript");
  const player = document.getElementById("voice-audio");
  let socket = null;
  let stream = null;
  let recorder = null;
  let reply = null;
  const queue = [];
  let playing = false;

  const setStatus = (text) => { statusBox.textContent = text; };
  const showError = (text) => { errorBox.textContent = text; errorBox.hidden = false; };

  function line(role, text) {
    const item = document.createElement("li");
    item.className = `voice-line voice-${role}`;
    const who = document.createElement("strong");
    who.textContent = role === "user" ? "You: " : "Assistant: ";
    const body = document.createElement("span");
    body.className = "voice-text";
    body.textContent = text;
    item.append(who, body);
    transcript.append(item);
    return body;
  }

  function playNext() {
    if (playing || queue.length === 0) return;
    playing = true;
    const url = queue.shift();
    player.src = url;
    player.play().catch(() => { playing = false; playNext(); });
  }
  player.addEventListener("ended", () => {
    player.dataset.played = String(Number(player.dataset.played || 0) + 1);
    URL.revokeObjectURL(player.src);
    playing = false;
    playNext();
  });

  function stopPlayback() {
    queue.splice(0).forEach((url) => URL.revokeObjectURL(url));
    player.pause();
    playing = false;
  }

  function onMessage(event) {
    const message = JSON.parse(event.data);
    const data = message.data || {};
    switch (message.type) {
      case "connected":
        talk.disabled = false;
        setStatus("Ready: hold the button and speak.");
        break;
      case "transcript":
        line("user", data.text);
        reply = line("assistant", "");
        setStatus("Answering…");
        break;
      case "text-delta":
        if (reply) reply.textContent += data.content;
        break;
      case "audio:response": {
        const bytes = Uint8Array.from(atob(data.data), (c) => c.charCodeAt(0));
        const type = data.format === "mp3" ? "audio/mpeg" : `audio/${data.format}`;
        queue.push(URL.createObjectURL(new Blob([bytes], {type})));
        player.dataset.received = String(Number(player.dataset.received || 0) + 1);
        playNext();
        break;
      }
      case "turn:complete":
        setStatus(`Ready. That turn cost ${Number(message.data.cost).toFixed(4)} credits.`);
        break;
      case "turn:interrupted":
        stopPlayback();
        break;
      case "error":
        showError(data.message || data.code);
        setStatus("Ready: hold the button and speak.");
        break;
      default:
        break;
    }
  }

  async function connect() {
    try {
      const session = await Nexus.api("/api/v1/voice/sessions", {method: "POST", body: "{}"});
      const url = new URL(session.websocket_url, window.location.href);
      url.protocol = window.location.protocol === "https:" ? "wss:" : "ws:";
      url.host = window.location.host;
      socket = new WebSocket(url);
      socket.addEventListener("message", onMessage);
      socket.addEventListener("close", (event) => {
        talk.disabled = true;
        setStatus(`Disconnected (${event.code}). Reload the page for a new session.`);
      });
    } catch (error) {
      showError(error.message);
      setStatus("Voice is not available.");
    }
  }

  async function startTalking(event) {
    event.preventDefault();
    if (talk.disabled || recorder) return;
    errorBox.hidden = true;
    try {
      stream = stream || await navigator.mediaDevices.getUserMedia({audio: true});
    } catch (error) {
      showError(`The microphone is not available: ${error.message}`);
      return;
    }
    stopPlayback();
    const options = MediaRecorder.isTypeSupported("audio/webm") ? {mimeType: "audio/webm"} : {};
    recorder = new MediaRecorder(stream, options);
    socket.send(JSON.stringify({type: "audio:start", data: {format: "webm"}}));
    // Reading a chunk's bytes is asynchronous: chain the sends so the audio and audio:end keep their order.
    let sending = Promise.resolve();
    recorder.addEventListener("dataavailable", (chunk) => {
      if (chunk.data.size > 0) sending = sending.then(async () => socket.send(await chunk.data.arrayBuffer()));
    });
    recorder.addEventListener("stop", () => {
      sending = sending.then(() => socket.send(JSON.stringify({type: "audio:end"})));
    });
    recorder.start(250);
    talk.classList.add("voice-recording");
    talk.textContent = "Listening… release to send";
    setStatus("Listening…");
  }

  function stopTalking(event) {
    event.preventDefault();
    if (!recorder) return;
    recorder.stop();
    recorder = null;
    talk.classList.remove("voice-recording");
    talk.textContent = "Hold to talk";
    setStatus("Thinking…");
  }

  talk.addEventListener("pointerdown", startTalking);
  talk.addEventListener("pointerup", stopTalking);
  talk.addEventListener("pointerleave", stopTalking);
  document.addEventListener("keydown", (event) => { if (event.code === "Space" && !event.repeat && event.target === document.body) startTalking(event); });
  document.addEventListener("keyup", (event) => { if (event.code === "Space" && event.target === document.body) stopTalking(event); });
  connect();
})();
