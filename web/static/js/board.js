// Case board: a changed campaign, stage or "overdue only" applies at once (the Show button does the same
// without JavaScript). The "more" links work as plain links; htmx, when present, loads them in place.
document.addEventListener("change", (event) => {
  const field = event.target;
  if (field instanceof HTMLElement && field.hasAttribute("data-autosubmit") && field.form) {
    field.form.requestSubmit();
  }
});
