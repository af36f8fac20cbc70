// The portal form: only the credentials of the chosen authentication are shown, and "Add a bot"
// appends the formset's empty form, numbered after the last row.
(function () {
  "use strict";
  function sync() {
    var chosen = document.querySelector("input[name=auth_type]:checked");
    var kind = chosen ? chosen.value : "webhook";
    document.getElementById("auth-webhook").hidden = kind !== "webhook";
    document.getElementById("auth-oauth").hidden = kind !== "oauth";
  }
  document.querySelectorAll("input[name=auth_type]").forEach(function (el) { el.addEventListener("change", sync); });
  sync();

  var total = document.getElementById("id_bots-TOTAL_FORMS");
  var template = document.getElementById("bot-row-template");
  document.getElementById("add-bot-row").addEventListener("click", function () {
    var index = parseInt(total.value, 10);
    var holder = document.createElement("div");
    holder.innerHTML = template.innerHTML.replace(/__prefix__/g, String(index));
    var row = holder.firstElementChild;
    document.getElementById("bot-rows").appendChild(row);
    total.value = String(index + 1);
    row.querySelector("input[type=text]").focus();
  });
})();
