"use strict";
// Log in with JSON (the API refuses form posts) and go where the user was heading: the
// page's data-next, which the server has checked, and which is checked here once more.
function sameSitePath(next) {
  // Browsers drop tabs and newlines and read "\\" as "/": refuse them and anything not "/path".
  if (!next || !/^\/(?![\/\\])[^\\\s\x00-\x1f\x7f]*$/.test(next)) return "/agent";
  const url = new URL(next, location.origin);
  return url.origin === location.origin ? url.pathname + url.search + url.hash : "/agent";
}
document.getElementById("login").addEventListener("submit", async (event) => {
  event.preventDefault();
  const form = event.target;
  const error = document.getElementById("login-error");
  error.textContent = "";
  const response = await fetch("/api/login", {
    method: "POST",
    headers: { "Content-Type": "application/json" },
    body: JSON.stringify({ username: form.username.value, password: form.password.value }),
  });
  if (!response.ok) {
    const body = await response.json().catch(() => ({}));
    // The server's reasons, in the page's language.
    const reasons = { "invalid username or password": t("invalid username or password"),
      "too many failed logins; try again later": t("too many failed logins; try again later") };
    error.textContent = body.error ? reasons[body.error] || body.error : t("Login failed ({status})", { status: response.status });
    return;
  }
  location.assign(sameSitePath(form.dataset.next));
});
