// page.js MD NODE_MODULES: prints an HTML page that shows MD as GitHub would in a comment:
// GitHub-flavoured markdown (marked, gfm), ```mermaid blocks drawn by Mermaid, GitHub's
// comment typography (approximated: system font 14px, 1.5 line height, bordered tables that
// scroll sideways when too wide, as on github.com).
const fs = require("fs");
const path = require("path");
const [md, modules] = process.argv.slice(2);
const { marked } = require(path.join(modules, "marked"));
const src = fs.readFileSync(md, "utf8");
const renderer = new marked.Renderer();
const code = renderer.code.bind(renderer);
renderer.code = (tok) => tok.lang === "mermaid" ? `<pre class="mermaid">${tok.text.replace(/</g, "&lt;")}</pre>` : code(tok);
const body = marked.parse(src, { gfm: true, renderer });
const mermaid = path.join(modules, "mermaid", "dist", "mermaid.min.js");
process.stdout.write(`<!doctype html><html><head><meta charset="utf-8">
<meta name="viewport" content="width=device-width">
<style>
body { margin: 0; background: #fff; }
.comment { box-sizing: border-box; width: 100%; padding: 16px; border: 1px solid #d0d7de; border-radius: 6px;
  font: 14px/1.5 "DejaVu Sans", sans-serif; color: #1f2328; }
h3 { font-size: 1.25em; margin: 0 0 16px; } h4 { font-size: 1em; margin: 24px 0 16px; }
p, ul, table, details, pre { margin: 0 0 16px; }
code { font: 85% ui-monospace, SFMono-Regular, "DejaVu Sans Mono", monospace; background: rgba(175,184,193,.2); padding: .2em .4em; border-radius: 6px; }
table { display: block; width: max-content; max-width: 100%; overflow: auto; border-spacing: 0; border-collapse: collapse; }
th, td { padding: 6px 13px; border: 1px solid #d0d7de; } th { font-weight: 600; } tr:nth-child(2n) { background: #f6f8fa; }
details summary { cursor: pointer; } sub { font-size: 75%; }
pre.mermaid { background: none; }
</style></head><body><div class="comment">${body}</div>
<script src="file://${mermaid}"></script>
<script>mermaid.initialize({ startOnLoad: true, theme: "default" });</script>
</body></html>`);
