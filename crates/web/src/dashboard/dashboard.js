// The dashboard's only script: puts the server's (escaped) markup in place, lists journal
// events as text, and posts the operator's approvals and rollbacks with the start's token.
(() => {
  "use strict";
  const token = new URLSearchParams(location.search).get("token") || "";
  const $ = (id) => document.getElementById(id);
  const say = (text) => { $("said").textContent = text; };
  const events = new EventSource("/events?token=" + encodeURIComponent(token));
  events.addEventListener("view", (e) => {
    const v = JSON.parse(e.data);
    $("live").innerHTML = v.html;
    $("seq").textContent = v.seq;
    $("conn").textContent = "live";
    const gate = $("gate");
    gate.hidden = !v.gate;
    if (v.gate) {
      $("gate-id").textContent = v.gate.id;
      $("gate-reason").textContent = v.gate.reason;
      $("approve").dataset.gate = v.gate.id;
    }
  });
  events.addEventListener("journal", (e) => {
    const r = JSON.parse(e.data);
    const li = document.createElement("li");
    li.textContent = `${r.at}  ${r.event}  ${r.step || ""}  ${r.detail}`;
    li.dataset.seq = r.seq;
    const log = $("log");
    log.prepend(li);
    while (log.children.length > 200) log.lastChild.remove();
    window.cutoverLastEvent = { seq: r.seq, receivedAt: Date.now() };
  });
  events.onerror = () => { $("conn").textContent = "reconnecting…"; };
  const operator = () => {
    const by = $("by").value.trim();
    if (!by) say("Enter your name first: approvals and rollbacks are journaled with it.");
    return by;
  };
  const post = async (path, body) => {
    try {
      const r = await fetch(path, {
        method: "POST",
        headers: { "Content-Type": "application/json", "X-Cutover-Token": token },
        body: JSON.stringify(body),
      });
      say(await r.text());
    } catch (err) {
      say(`could not reach the dashboard: ${err}`);
    }
  };
  $("approve").addEventListener("submit", (e) => {
    e.preventDefault();
    const by = operator();
    if (by) post("/approve", { gate: $("approve").dataset.gate, by, comment: $("comment").value || null });
  });
  $("rollback").addEventListener("click", () => {
    const by = operator();
    if (by && confirm("Roll back every applied step of this run, newest first?")) {
      post("/rollback", { by, reason: $("comment").value || null });
    }
  });
})();
