#!/usr/bin/env node
// `make deploy`'s first step, before the minutes of `make test`: is wrangler logged in, and does
// production say who may join? Stops at once when wrangler cannot reach the account; warns, in
// plain words, when production has no ALLOWED_ORIGINS or no AUTH_SECRET (joins open to anyone),
// and goes on (an open deployment can be what you want: say DEPLOY_OPEN=1 to silence it).
import { spawnSync } from "node:child_process";
import { readFileSync } from "node:fs";
import { dirname, join } from "node:path";
import { fileURLToPath } from "node:url";
import { parse } from "smol-toml";

const ROOT = join(dirname(fileURLToPath(import.meta.url)), "..");
const WRANGLER = join(ROOT, "node_modules", ".bin", "wrangler");

/**
 * What production's settings leave open: `vars` are [env.production.vars], `secrets` the names
 * `wrangler secret list --env production` gave. Returns the warnings, one sentence each.
 */
export function openings(vars, secrets) {
  const warnings = [];
  if (!String(vars.ALLOWED_ORIGINS ?? "").trim()) {
    warnings.push("ALLOWED_ORIGINS is empty in [env.production.vars]: pages on any site may open sockets on this deployment (set it to your app's origins).");
  }
  if (!secrets.includes("AUTH_SECRET")) {
    warnings.push("production has no AUTH_SECRET: anyone who knows a room's name can join it (`npx wrangler secret put AUTH_SECRET --env production`, then mint tokens: docs/security.md).");
  }
  return warnings;
}

function wrangler(args) {
  return spawnSync(WRANGLER, args, { cwd: ROOT, encoding: "utf8", env: { ...process.env, WRANGLER_SEND_METRICS: "false" }, timeout: 60_000 });
}

if (process.argv[1] === fileURLToPath(import.meta.url)) {
  const whoami = wrangler(["whoami"]);
  const said = `${whoami.stdout}${whoami.stderr}`;
  if (whoami.status !== 0 || /not authenticated|You are not logged in/i.test(said)) {
    console.error("deploy: wrangler cannot reach your Cloudflare account: run `npx wrangler login` (or set CLOUDFLARE_API_TOKEN), then `make deploy` again.");
    console.error(said.trim().split("\n").slice(-3).join("\n"));
    process.exit(1);
  }
  const toml = parse(readFileSync(join(ROOT, "wrangler.toml"), "utf8"));
  const vars = toml.env?.production?.vars ?? {};
  const listed = wrangler(["secret", "list", "--env", "production", "--format", "json"]);
  let secrets = [];
  try { secrets = JSON.parse(listed.stdout).map((s) => s.name); } catch { /* a new Worker has none */ }
  const warnings = openings(vars, secrets);
  if (warnings.length && process.env.DEPLOY_OPEN !== "1") {
    for (const w of warnings) console.error(`deploy: warning: ${w}`);
    console.error("deploy: going on (DEPLOY_OPEN=1 silences these when an open deployment is what you want).");
  }
}
