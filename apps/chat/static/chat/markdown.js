// A small, safe Markdown renderer for chat replies: everything is escaped first, then a few
// constructs are turned into HTML (code blocks with light highlighting, inline code, emphasis,
// headings, lists, links to http(s) only). No dependency, no build.
"use strict";
(function () {
  const KEYWORDS = new Set(("def class return if elif else for while in import from as with try except finally raise " +
    "function const let var new async await yield lambda pass break continue true false null None True False " +
    "public private static void int str bool fn impl struct enum match use mod pub SELECT FROM WHERE JOIN").split(" "));

  function escape(text) {
    return text.replace(/&/g, "&amp;").replace(/</g, "&lt;").replace(/>/g, "&gt;").replace(/"/g, "&quot;");
  }

  function highlight(code) {
    // Tokens: comments, strings, numbers, words; everything already escaped.
    return code.replace(/(#[^\n]*|\/\/[^\n]*)|(&quot;.*?&quot;|'[^'\n]*')|\b(\d+(?:\.\d+)?)\b|\b([A-Za-z_]\w*)\b/g,
      (match, comment, string, number, word) => {
        if (comment) return `<span class="tok-comment">${comment}</span>`;
        if (string) return `<span class="tok-string">${string}</span>`;
        if (number) return `<span class="tok-number">${number}</span>`;
        if (word && KEYWORDS.has(word)) return `<span class="tok-keyword">${word}</span>`;
        return match;
      });
  }

  function inline(text) {
    return text
      .replace(/`([^`]+)`/g, "<code>$1</code>")
      .replace(/\*\*([^*]+)\*\*/g, "<strong>$1</strong>")
      .replace(/(^|[^*])\*([^*\n]+)\*/g, "$1<em>$2</em>")
      .replace(/\[([^\]]+)\]\((https?:\/\/[^\s)]+)\)/g, '<a href="$2" target="_blank" rel="noopener noreferrer">$1</a>')
      .replace(/\[(\d+)\]/g, '<sup class="citation">[$1]</sup>');
  }

  function render(source) {
    const blocks = [];
    // Fenced code first, so nothing inside it is touched (an unclosed fence still renders while streaming).
    const withoutCode = escape(source).replace(/```(\w*)\n([\s\S]*?)(```|$)/g, (_m, lang, code) => {
      blocks.push(`<div class="code-block"><div class="code-head"><span>${lang || "code"}</span>` +
        `<button type="button" class="btn-copy-code">Copy</button></div><pre><code>${highlight(code)}</code></pre></div>`);
      return `\u0000${blocks.length - 1}\u0000`;
    });
    const html = [];
    let list = null;
    for (const line of withoutCode.split("\n")) {
      const placeholder = line.match(/^\u0000(\d+)\u0000$/);
      const heading = line.match(/^(#{1,4})\s+(.*)$/);
      const bullet = line.match(/^\s*[-*]\s+(.*)$/);
      const numbered = line.match(/^\s*\d+[.)]\s+(.*)$/);
      if ((bullet || numbered) && !placeholder) {
        const kind = bullet ? "ul" : "ol";
        if (list !== kind) { if (list) html.push(`</${list}>`); html.push(`<${kind}>`); list = kind; }
        html.push(`<li>${inline((bullet || numbered)[1])}</li>`);
        continue;
      }
      if (list) { html.push(`</${list}>`); list = null; }
      if (placeholder) html.push(blocks[Number(placeholder[1])]);
      else if (heading) html.push(`<h${heading[1].length + 2}>${inline(heading[2])}</h${heading[1].length + 2}>`);
      else if (line.trim()) html.push(`<p>${inline(line)}</p>`);
    }
    if (list) html.push(`</${list}>`);
    return html.join("").replace(/\u0000(\d+)\u0000/g, (_m, index) => blocks[Number(index)]);
  }

  window.NexusMarkdown = { render, escape };
})();
