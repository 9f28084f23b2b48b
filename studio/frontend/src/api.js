// The REST API as the Studio uses it: the Django session (cookie) authenticates, the CSRF
// token goes with every unsafe request, X-Weft-Tenant names the chosen tenant.
export class ApiError extends Error {
  constructor(status, body) {
    const error = (body && body.error) || {};
    super(error.message || `HTTP ${status}`);
    this.status = status;
    this.code = error.code || String(status);
    this.details = error.details || {};
    this.body = body;
  }
}

export class Api {
  constructor({ base, csrf }) {
    this.base = base;
    this.csrf = csrf;
    this.tenant = null;
  }

  async request(method, path, { body, headers = {}, query } = {}) {
    const url = new URL(this.base + path, window.location.origin);
    for (const [key, value] of Object.entries(query || {})) {
      if (value !== undefined && value !== null && value !== "") url.searchParams.set(key, value);
    }
    const sent = { Accept: "application/json", ...headers };
    if (this.tenant) sent["X-Weft-Tenant"] = this.tenant;
    if (body !== undefined) sent["Content-Type"] = "application/json";
    if (method !== "GET") sent["X-CSRFToken"] = this.csrf;
    const response = await fetch(url, {
      method, headers: sent, credentials: "same-origin",
      body: body === undefined ? undefined : JSON.stringify(body),
    });
    const text = await response.text();
    let data = null;
    if (text) {
      try { data = JSON.parse(text); } catch { data = { raw: text }; }
    }
    if (!response.ok) throw new ApiError(response.status, data);
    return { data, headers: response.headers, status: response.status };
  }

  async get(path, query) { return (await this.request("GET", path, { query })).data; }
  async post(path, body) { return (await this.request("POST", path, { body: body || {} })).data; }
  async del(path) { return (await this.request("DELETE", path)).data; }

  // Every page of a paginated list (bounded: the monitor never needs more than `max`),
  // following each page's `next` (a cursor or an offset: whatever the list pages by).
  async all(path, query = {}, max = 5000) {
    const results = [];
    let next = { ...query, limit: 500 };
    while (next && results.length < max) {
      const page = await this.get(path, next);
      results.push(...page.results);
      next = page.next ? Object.fromEntries(new URL(page.next, window.location.href).searchParams) : null;
    }
    return results;
  }
}
