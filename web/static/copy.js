// The copy button of a new app password. The page works without it: the
// password is selectable text.
"use strict";
document.addEventListener("DOMContentLoaded", function () {
  var button = document.getElementById("copy");
  if (!button || !navigator.clipboard) {
    return;
  }
  var source = document.getElementById(button.dataset.copy);
  button.hidden = false;
  button.addEventListener("click", function () {
    navigator.clipboard.writeText(source.textContent.trim()).then(function () {
      button.textContent = "Copied";
    }, function () {
      button.textContent = "Copy failed: select the text";
    });
  });
});
