"use strict";
// Log in with JSON (the API refuses form posts) and go where the user was heading.
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
    error.textContent = body.error || `Login failed (${response.status})`;
    return;
  }
  const next = new URLSearchParams(location.search).get("next");
  location.assign(next && next.startsWith("/") && !next.startsWith("//") ? next : "/agent");
});
