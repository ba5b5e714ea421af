// Reads a Server-Sent Events response from fetch() (EventSource cannot POST or send headers).
"use strict";
window.NexusSSE = {
  // Calls onEvent({id, event, data}) per event; resolves when the stream ends.
  async read(response, onEvent) {
    const reader = response.body.getReader();
    const decoder = new TextDecoder();
    let buffer = "";
    for (;;) {
      const { value, done } = await reader.read();
      if (done) return;
      buffer += decoder.decode(value, { stream: true });
      let cut;
      while ((cut = buffer.indexOf("\n\n")) >= 0) {
        const frame = buffer.slice(0, cut);
        buffer = buffer.slice(cut + 2);
        const event = { id: null, event: null, data: null };
        for (const line of frame.split("\n")) {
          if (line.startsWith(":")) continue;
          const colon = line.indexOf(":");
          const field = line.slice(0, colon);
          const value = line.slice(colon + 1).replace(/^ /, "");
          if (field === "data") event.data = JSON.parse(value);
          else if (field === "id") event.id = value;
          else if (field === "event") event.event = value;
        }
        if (event.data) onEvent(event);
      }
    }
  },
};
