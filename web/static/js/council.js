// Progressive enhancement for the council inbox: a "select all" box and the count on the
// "approve selected" button. Without JS the page works the same, one checkbox at a time.
(function () {
  "use strict";
  function init() {
    var form = document.getElementById("bulk-form");
    if (!form) { return; }
    var boxes = Array.prototype.slice.call(form.querySelectorAll('input[type=checkbox][name=sign_off]'));
    var button = document.getElementById("approve-selected");
    var head = form.querySelector("thead th");
    if (!boxes.length || !button || !head) { return; }
    var label = button.textContent;
    var all = document.createElement("input");
    all.type = "checkbox";
    all.id = "pick-all";
    all.setAttribute("aria-label", head.textContent.trim());
    head.appendChild(all);
    function refresh() {
      var n = boxes.filter(function (b) { return b.checked; }).length;
      button.textContent = n ? label + " (" + n + ")" : label;
      button.disabled = n === 0;
      all.checked = n === boxes.length;
      all.indeterminate = n > 0 && n < boxes.length;
    }
    all.addEventListener("change", function () {
      boxes.forEach(function (b) { b.checked = all.checked; });
      refresh();
    });
    boxes.forEach(function (b) { b.addEventListener("change", refresh); });
    refresh();
  }
  if (document.readyState === "loading") {
    document.addEventListener("DOMContentLoaded", init);
  } else {
    init();
  }
})();
