// @jupyter-widgets/html-manager 1.0.x typesets widget labels with the MathJax 2 API
// (MathJax.Hub.Queue(["Typeset", MathJax.Hub, element])), which throws under the book's MathJax 3.
// Give it a MathJax 2-shaped Hub that forwards to MathJax 3. Widget labels write math as $...$
// (as in JupyterLab); the book's MathJax only knows \(...\), so convert the label text first.
// Loaded just before embed.js, which renders the widgets on window "load"; MathJax 3 (a deferred
// script) has replaced its configuration object by DOMContentLoaded.
document.addEventListener("DOMContentLoaded", function () {
  var mj = window.MathJax;
  if (!mj || mj.Hub || !mj.startup) return;
  mj.Hub = {
    Queue: function (cmd) {
      var el = Array.isArray(cmd) ? cmd[2] : null;
      if (!el || el.textContent.indexOf("$") < 0) return;
      el.textContent = el.textContent
        .replace(/\$\$([^$]+)\$\$/g, "\\[$1\\]")
        .replace(/\$([^$]+)\$/g, "\\($1\\)");
      mj.startup.promise.then(function () { return mj.typesetPromise([el]); });
    },
  };
});
