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

  // A whole incoming-webhook address pasted as the address fills the user id and code (the
  // server does the same for a form sent without this script: checks/portal_file/schema.py).
  var address = document.getElementById("id_url");
  var WEBHOOK = /^((?:https?:\/\/)?[^\/]+(?:\/[^\/]+)*?)\/rest\/(\d+)\/([^\/]+)(?:\/[^\/]*)?\/?$/;
  address.addEventListener("change", function () {
    var match = WEBHOOK.exec(address.value.trim());
    if (!match) return;
    address.value = match[1];
    var userId = document.getElementById("id_webhook_user_id");
    var code = document.getElementById("id_webhook_code");
    if (!userId.value) userId.value = match[2];
    if (!code.value) code.value = match[3];
    document.getElementById("id_auth_type_0").checked = true;
    sync();
  });

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
