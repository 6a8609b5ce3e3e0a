// End-to-end test of the dashboard in Debian's chromium, driven by playwright-core.
// Env: INQUEST_E2E_URL (server), INQUEST_E2E_CHROMIUM (browser binary),
// INQUEST_E2E_NODE_MODULES (where playwright-core is installed),
// INQUEST_E2E_SCREENSHOTS (output folder), INQUEST_E2E_LOGIN and INQUEST_E2E_PASSWORD
// (a user who owns the demo's project and views the second one), INQUEST_E2E_TOKEN
// (an API token that may post alerts), INQUEST_E2E_SECOND (the second project's id)
// and INQUEST_E2E_SECOND_TEXT (text only the second project's incident list shows).
// Exits non-zero on any failure.
"use strict";
const path = require("path");
const fs = require("fs");
const os = require("os");
const { chromium } = require(path.join(process.env.INQUEST_E2E_NODE_MODULES, "playwright-core"));

const base = process.env.INQUEST_E2E_URL;
const shots = process.env.INQUEST_E2E_SCREENSHOTS;
fs.mkdirSync(shots, { recursive: true });

function check(cond, msg) { if (!cond) throw new Error("check failed: " + msg); }

(async () => {
  const profile = fs.mkdtempSync(path.join(os.tmpdir(), "inquest-e2e-profile-"));
  // A fresh, empty profile (--user-data-dir) for every run.
  const browser = await chromium.launchPersistentContext(profile, {
    executablePath: process.env.INQUEST_E2E_CHROMIUM,
    headless: true,
    viewport: { width: 1440, height: 900 },
    args: ["--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run", "--disable-background-networking",
      "--disable-component-update", "--disable-sync"],
  });
  try {
    const page = await browser.newPage();
    const errors = [];
    page.on("pageerror", (e) => errors.push(String(e)));

    // 0. Signed out, the dashboard asks to sign in; a wrong password is refused.
    await page.goto(base + "/", { waitUntil: "networkidle" });
    await page.waitForSelector("form#login");
    await page.fill("form#login input[name=login]", process.env.INQUEST_E2E_LOGIN);
    await page.fill("form#login input[name=password]", "not the password");
    await page.click("form#login button[type=submit]");
    await page.waitForSelector("#login-error:not([hidden])");
    await page.fill("form#login input[name=password]", process.env.INQUEST_E2E_PASSWORD);
    await page.click("form#login button[type=submit]");

    // 1. The list.
    await page.waitForSelector("#incidents tbody tr[data-id]");
    const rows = await page.locator("#incidents tbody tr[data-id]").count();
    check(rows >= 10, `expected the demo incidents in the list, got ${rows}`);
    await page.screenshot({ path: path.join(shots, "01-incident-list.png"), fullPage: true });

    // 2. Open the config incident on checkout (its top hypothesis is the pool-size change).
    const row = page.locator("#incidents tbody tr", { hasText: "DB_POOL_MAX" }).first();
    await row.locator("a").first().click();
    await page.waitForSelector("#hypotheses .hyp");
    await page.waitForSelector("#metrics svg");
    const url = page.url();
    check(/\/incidents\/[0-9a-f-]{36}$/.test(url), "incident page url " + url);
    check((await page.locator("#report h1, #report h2").count()) > 0, "rendered report");
    check((await page.locator("#metrics .chart").count()) > 0, "metric charts");
    check((await page.locator("#radius li").count()) > 1, "blast radius");
    // The changes in reach, the top hypothesis's culprit (the pool-size change) highlighted.
    await page.waitForSelector("#changes li.change");
    check((await page.locator("#changes li.change.culprit[data-kind=config_change]").count()) === 1, "the culprit change is highlighted");
    await page.screenshot({ path: path.join(shots, "02-incident.png"), fullPage: true });

    // 3. Confirm the top hypothesis in one click.
    const top = page.locator("#hypotheses .hyp").first();
    const hid = await top.getAttribute("data-hypothesis");
    await top.locator("button.confirm").click();
    await page.waitForSelector(`.hyp[data-hypothesis="${hid}"] .verdict.confirmed`);

    // 4. Reload: the confirmation persisted, and the incident is resolved.
    await page.reload({ waitUntil: "networkidle" });
    await page.waitForSelector(`.hyp[data-hypothesis="${hid}"] .verdict.confirmed`);
    check((await page.locator("#status").innerText()).trim() === "resolved", "status resolved after reload");
    check((await page.locator("#resolution").count()) === 1, "resolution shown");
    check((await page.locator(".feedback-list li", { hasText: "hypothesis_confirmed" }).count()) === 1, "feedback listed");
    await page.screenshot({ path: path.join(shots, "03-confirmed-after-reload.png"), fullPage: true });

    // 5. A narrow screen still shows the incident.
    await page.setViewportSize({ width: 420, height: 900 });
    await page.reload({ waitUntil: "networkidle" });
    await page.waitForSelector("#metrics svg");
    await page.screenshot({ path: path.join(shots, "04-narrow.png"), fullPage: false });

    // 6. Two alerts open an incident; acknowledge it on its page; the status persists.
    await page.setViewportSize({ width: 1440, height: 900 });
    // A sender without a session: an API token.
    const res = await fetch(base + "/api/alerts", {
      method: "POST", headers: { "content-type": "application/json", authorization: "Bearer " + process.env.INQUEST_E2E_TOKEN },
      body: JSON.stringify([{ service: "payments", severity: "critical", message: "5xx above 5%" },
        { service: "payments", severity: "high", message: "p99 latency above 2 s" }]),
    });
    check(res.status === 202, "alerts accepted: " + res.status);
    const opened = (await res.json()).results[0].incident_id;
    await page.goto(`${base}/incidents/${opened}`, { waitUntil: "networkidle" });
    await page.waitForSelector("#lifecycle button[data-action=triage]");
    check((await page.locator("#lifecycle li").count()) >= 2, "the two alerts are listed");
    await page.locator("#lifecycle button[data-action=triage]").click();
    await page.waitForSelector("#lifecycle button[data-action=resolve]");
    await page.reload({ waitUntil: "networkidle" });
    await page.waitForSelector("#lifecycle-status");
    check((await page.locator("#lifecycle-status").innerText()).trim() === "triaged", "lifecycle status triaged after reload");
    check((await page.locator("#status").innerText()).trim() === "triaged", "incident row triaged after reload");
    await page.screenshot({ path: path.join(shots, "05-lifecycle.png"), fullPage: true });

    // 7. The audit log lists what was done, the refused sign-in included.
    await page.click("#who a[href='/audit']");
    await page.waitForSelector("table.audit tbody tr.audit-row");
    check((await page.locator("table.audit tr.audit-row", { hasText: "incident.feedback" }).count()) >= 1, "the confirmation is audited");
    check((await page.locator("table.audit tr.audit-row", { hasText: "incident.transition" }).count()) >= 1, "the transition is audited");
    await page.screenshot({ path: path.join(shots, "06-audit.png"), fullPage: true });

    // 7b. The runbook synced from a folder: listed, its steps a checklist whose ticks survive a reload.
    await page.click("#who a[href='/runbooks']");
    await page.waitForSelector("#runbook-list tbody tr[data-runbook]");
    check((await page.locator("#runbook-list tbody tr", { hasText: "Postgres failover" }).count()) === 1, "the synced runbook is listed");
    await page.locator("#runbook-list tbody tr", { hasText: "Postgres failover" }).locator("a").click();
    await page.waitForSelector(".checklist input[type=checkbox]");
    check((await page.locator("#runbook-title").innerText()).trim() === "Postgres failover", "the runbook page shows its title");
    check((await page.locator(".checklist li").count()) === 2, "two steps");
    await page.locator(".checklist input[type=checkbox]").first().check();
    await page.reload({ waitUntil: "networkidle" });
    await page.waitForSelector(".checklist input[type=checkbox]");
    check(await page.locator(".checklist input[type=checkbox]").first().isChecked(), "the ticked step stays ticked");
    await page.screenshot({ path: path.join(shots, "08-runbook.png"), fullPage: true });

    // 8. Switch to the second project: only its incidents are listed.
    await page.selectOption("#project", process.env.INQUEST_E2E_SECOND);
    await page.waitForFunction((text) => document.querySelector("#incidents") && document.body.innerText.includes(text),
      process.env.INQUEST_E2E_SECOND_TEXT);
    const second = await page.locator("#incidents tbody tr[data-id]").count();
    check(second >= 1, "the second project's incidents are listed: " + second);
    check((await page.locator("#incidents tbody tr", { hasText: "DB_POOL_MAX" }).count()) === 0, "no incident of the first project");
    await page.reload({ waitUntil: "networkidle" });
    await page.waitForSelector("#incidents tbody tr[data-id]");
    check((await page.locator("#incidents tbody tr[data-id]").count()) === second, "the project choice survives a reload");
    await page.screenshot({ path: path.join(shots, "07-second-project.png"), fullPage: true });

    check(errors.length === 0, "page errors: " + errors.join("; "));
    console.log("e2e ok: sign-in, list, incident, confirm, reload, alerts and acknowledge, audit, runbook, project switch; screenshots in " + shots);
  } finally {
    await browser.close();
    fs.rmSync(profile, { recursive: true, force: true });
  }
})().catch((e) => { console.error(e); process.exit(1); });
