// Typesets the math that pymdownx.arithmatex (generic mode) leaves in .arithmatex elements: \( \) inline,
// \[ \] displayed. KaTeX ships with the site (docs/vendor/katex), so pages read offline. A formula KaTeX
// cannot parse is shown as its source in red (class katex-error), which the browser test reports.
function typesetMath(root) {
  for (const el of root.querySelectorAll(".arithmatex")) {
    if (el.querySelector(".katex, .katex-error")) continue;
    const tex = el.textContent.trim();
    const display = tex.startsWith("\\[");
    katex.render(tex.slice(2, -2), el, {displayMode: display, throwOnError: false});
  }
}
document$.subscribe(({ body }) => typesetMath(body));
