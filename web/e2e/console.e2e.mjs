// @ts-check
// End-to-end test of the console against a running Slipway, in Debian's
// Chromium driven by playwright-core (no downloaded browser):
//
//   SLIPWAY_URL=https://localhost:8443 SLIPWAY_ADMIN_PASSWORD=… [SLIPWAY_CA=ca.crt] npm run e2e
//
// It logs in (by keyboard, after a refused password), creates a project
// with the form and sees it, sees a project created through the API appear
// live, filters, opens the login-command page, deletes the project after
// confirming, switches theme and logs out. Screenshots of each page go to
// test/artifacts/console/ at the repository's root (SLIPWAY_ARTIFACTS).
//
// With SLIPWAY_CA the server's certificate is checked against that CA and
// only that certificate is trusted by the browser; without it, certificate
// errors are ignored.

import { mkdirSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { createHash } from 'node:crypto';
import { tmpdir } from 'node:os';
import { dirname, join, resolve } from 'node:path';
import { request as httpRequest } from 'node:http';
import { request as httpsRequest } from 'node:https';
import { connect } from 'node:tls';
import { fileURLToPath } from 'node:url';
import { chromium } from 'playwright-core';

const here = dirname(fileURLToPath(import.meta.url));
const baseURL = required('SLIPWAY_URL').replace(/\/+$/, '');
const adminUser = process.env.SLIPWAY_ADMIN_USER || 'admin';
const adminPassword = required('SLIPWAY_ADMIN_PASSWORD');
const artifacts = resolve(process.env.SLIPWAY_ARTIFACTS || join(here, '../../test/artifacts/console'));
const executablePath = process.env.CHROMIUM || '/usr/bin/chromium';
const timeout = 30_000;

/** @param {string} name */
function required(name) {
  const value = process.env[name];
  if (!value) {
    console.error(`e2e: set ${name} (see the comment at the top of ${fileURLToPath(import.meta.url)})`);
    process.exit(2);
  }
  return value;
}

/**
 * spkiOfServer connects to the server, verifies its certificate against the
 * CA file, and returns the base64 SHA-256 of its public key, which Chromium
 * accepts as the one certificate to trust.
 * @param {string} url
 * @param {string} caFile
 * @returns {Promise<string>}
 */
function spkiOfServer(url, caFile) {
  const { hostname, port } = new URL(url);
  return new Promise((resolvePin, reject) => {
    const socket = connect({ host: hostname, port: Number(port || 443), servername: hostname, ca: readFileSync(caFile) }, () => {
      const cert = socket.getPeerX509Certificate();
      socket.end();
      if (!cert) return reject(new Error('the server sent no certificate'));
      const der = cert.publicKey.export({ type: 'spki', format: 'der' });
      resolvePin(createHash('sha256').update(der).digest('base64'));
    });
    socket.on('error', reject);
  });
}

/** @param {boolean} condition @param {string} message */
function check(condition, message) {
  if (!condition) throw new Error(`check failed: ${message}`);
}

const steps = /** @type {string[]} */ ([]);
/** @param {string} name @param {() => Promise<void>} fn */
async function step(name, fn) {
  const started = Date.now();
  await fn();
  steps.push(name);
  console.log(`ok   ${name} (${Date.now() - started} ms)`);
}

/**
 * launch starts Chromium with a fresh profile. With SLIPWAY_CA only the
 * API's certificate is trusted, unless anyCertificate (routers serve
 * their own default certificate).
 * @param {{ anyCertificate?: boolean }} [options]
 */
async function launch(options = {}) {
  mkdirSync(artifacts, { recursive: true });
  const args = [
    '--headless',
    '--no-sandbox',
    '--disable-gpu',
    '--disable-quic',
    '--no-first-run',
    '--disable-background-networking',
    '--disable-component-update',
    '--disable-sync',
  ];
  const ca = process.env.SLIPWAY_CA;
  if (ca && baseURL.startsWith('https:')) args.push(`--ignore-certificate-errors-spki-list=${await spkiOfServer(baseURL, ca)}`);

  const profile = mkdtempSync(join(tmpdir(), 'slipway-e2e-'));
  const context = await chromium.launchPersistentContext(profile, {
    executablePath,
    args,
    headless: true,
    ignoreHTTPSErrors: !ca || Boolean(options.anyCertificate),
    viewport: { width: 1280, height: 800 },
    colorScheme: 'light',
    baseURL,
  });
  return { context, profile };
}

/**
 * observe records what the page reports going wrong: script errors,
 * console errors other than refused requests, and requests that failed at
 * the network level (printed when a step fails).
 * @param {import('playwright-core').Page} page @param {string[]} problems @param {string[]} network
 */
function observe(page, problems, network) {
  page.on('pageerror', (error) => problems.push(`page error: ${error.message}`));
  page.on('console', (message) => {
    // Refused requests (the wrong password, the revoked token) are logged
    // by the browser itself; anything else logged as an error is a bug.
    if (message.type() === 'error' && !message.text().startsWith('Failed to load resource')) {
      problems.push(`console error: ${message.text()}`);
    }
  });
  page.on('requestfailed', (request) => {
    network.push(`${new Date().toISOString()} ${request.method()} ${request.url()}: ${request.failure()?.errorText}`);
  });
}

async function main() {
  const { context, profile } = await launch();
  const problems = /** @type {string[]} */ ([]);
  const network = /** @type {string[]} */ ([]);
  try {
    await context.grantPermissions(['clipboard-read', 'clipboard-write'], { origin: new URL(baseURL).origin });
    const page = context.pages()[0] ?? (await context.newPage());
    page.setDefaultTimeout(timeout);
    observe(page, problems, network);
    /** @param {string} name */
    const shot = (name) => page.screenshot({ path: join(artifacts, `${name}.png`) });

    const suffix = Date.now().toString(36);
    const project = `e2e-${suffix}`;
    const live = `e2e-live-${suffix}`;
    let token = '';

    /**
     * api calls the API from the page, as the console does.
     * @param {string} method @param {string} path @param {unknown} [body] @param {string} [bearer] @param {string} [contentType]
     * @returns {Promise<{status: number, body: string}>}
     */
    const api = (method, path, body, bearer = token, contentType = 'application/json') =>
      page.evaluate(
        async ({ method, path, body, bearer, contentType }) => {
          const response = await fetch(path, {
            method,
            headers: { Authorization: `Bearer ${bearer}`, 'Content-Type': contentType },
            body: body === undefined ? undefined : JSON.stringify(body),
          });
          return { status: response.status, body: await response.text() };
        },
        { method, path, body, bearer, contentType },
      );

    await step('an anonymous visit lands on the login page', async () => {
      await page.goto('/projects');
      await page.getByRole('heading', { name: 'Log in to Slipway' }).waitFor();
      check(new URL(page.url()).pathname === '/login', `at ${page.url()}`);
      await page.getByLabel('User name', { exact: true }).waitFor();
      await shot('01-login');
    });

    await step('a wrong password shows the server’s message (keyboard only)', async () => {
      await page.getByRole('heading', { name: 'Log in to Slipway' }).focus();
      await page.keyboard.press('Tab');
      check(await page.getByLabel('User name', { exact: true }).evaluate((el) => el === document.activeElement), 'Tab reaches the user name');
      await page.keyboard.type(adminUser);
      await page.keyboard.press('Tab');
      await page.keyboard.type(`${adminPassword}-wrong`);
      await page.keyboard.press('Enter');
      const alert = page.getByRole('form', { name: 'Log in with a password' }).getByRole('alert');
      await alert.waitFor();
      const said = (await alert.innerText()).trim();
      check(said !== '' && !said.startsWith('Cannot reach the server'), `the alert carries the server’s message, got “${said}”`);
      await shot('02-login-refused');
    });

    await step('the right password logs in to the projects page', async () => {
      // The failed attempt left the focus in the emptied password field.
      check(await page.getByLabel('Password', { exact: true }).evaluate((el) => el === document.activeElement), 'focus is in the password field');
      await page.keyboard.type(adminPassword);
      await page.keyboard.press('Enter');
      await page.getByRole('heading', { name: 'Projects', level: 1 }).waitFor();
      await page.getByRole('button', { name: 'Log out' }).waitFor();
      await page.getByText('Live', { exact: true }).waitFor();
      token = await page.evaluate(() => sessionStorage.getItem('slipway.token') ?? '');
      check(token !== '', 'the token is kept in sessionStorage');
      await shot('03-projects');
    });

    await step('the create form refuses an invalid name before submitting', async () => {
      await page.getByRole('button', { name: 'Create project' }).first().click();
      const dialog = page.getByRole('dialog', { name: 'Create a project' });
      await dialog.waitFor();
      await dialog.getByLabel('Name', { exact: true }).fill('Not_Valid');
      await dialog.getByRole('button', { name: 'Create' }).click();
      await dialog.getByText('Use lower-case letters only.').waitFor();
      await shot('04-create-invalid');
    });

    await step('a project created with the form appears in the list', async () => {
      const dialog = page.getByRole('dialog', { name: 'Create a project' });
      await dialog.getByLabel('Display name').fill(`End-to-end ${suffix}`);
      await dialog.getByLabel('Name', { exact: true }).fill(project);
      await dialog.getByLabel('Description').fill('Created by the console e2e test.');
      await shot('05-create-dialog');
      await dialog.getByRole('button', { name: 'Create' }).click();
      await dialog.waitFor({ state: 'hidden' });
      const row = page.locator(`tr[data-project="${project}"]`);
      await row.waitFor();
      await row.getByText('Active').waitFor();
      await shot('06-project-created');
    });

    const app = 'hello';
    const viewer = `viewer-${suffix}`;
    const viewerPassword = `viewer-${suffix}-password`;
    const appURL = `/projects/${project}/apps/${app}`;

    await step('the project page shows an app created through the API, live', async () => {
      await page.locator(`tr[data-project="${project}"]`).getByRole('link').click();
      await page.getByRole('heading', { name: project, level: 1 }).waitFor();
      await page.getByText('No apps yet').waitFor();
      await page.getByText('Live', { exact: true }).waitFor();
      const labels = { app };
      const d = await api('POST', `/api/v1/projects/${project}/deployments`, {
        kind: 'Deployment',
        apiVersion: 'v1',
        metadata: { name: app },
        spec: {
          replicas: 1,
          selector: { matchLabels: labels },
          template: { metadata: { labels }, spec: { containers: [{ name: 'web', image: 'registry.invalid/hello:1', ports: [{ containerPort: 8080 }] }] } },
        },
      });
      check(d.status === 201, `create deployment answered ${d.status}: ${d.body}`);
      const svc = await api('POST', `/api/v1/projects/${project}/services`, {
        kind: 'Service',
        apiVersion: 'v1',
        metadata: { name: app },
        spec: { selector: labels, ports: [{ port: 8080, targetPort: 8080 }] },
      });
      check(svc.status === 201, `create service answered ${svc.status}: ${svc.body}`);
      const row = page.locator(`[data-row="${app}"]`);
      await row.waitFor();
      await row.getByLabel('0 of 1 pods ready').waitFor();
      await shot('07a-project-overview');
    });

    await step('scale to 3 from the app page', async () => {
      await page.locator(`[data-row="${app}"]`).getByRole('link', { name: app }).click();
      await page.getByRole('heading', { name: app, level: 1 }).waitFor();
      const scale = page.getByRole('form', { name: 'Scale' });
      await scale.getByLabel('Desired pods').fill('three');
      await scale.getByRole('button', { name: 'Scale', exact: true }).click();
      await scale.getByRole('alert').getByText('Enter a whole number of pods.').waitFor();
      await scale.getByLabel('Desired pods').fill('3');
      await scale.getByRole('button', { name: 'Scale', exact: true }).click();
      await scale.getByText('0 of 3 ready').waitFor();
      await page.locator('tr[data-pod]').nth(2).waitFor();
      check((await page.locator('tr[data-pod]').count()) === 3, 'three pods are listed');
      await shot('07b-app-pods');
    });

    await step('an environment change makes a revision; one click rolls it back', async () => {
      await page.getByRole('navigation', { name: 'App sections' }).getByRole('link', { name: 'Environment' }).click();
      const form = page.getByRole('form', { name: 'Environment variables' });
      await form.getByRole('button', { name: 'Add variable' }).click();
      await form.getByLabel('Name of variable 1').fill('GREETING');
      await form.getByLabel('Value of variable 1').fill('hello from the console');
      await form.getByRole('button', { name: 'Save' }).click();
      await form.getByText('Saved: the app rolls out with the new environment.').waitFor();
      await shot('07c-app-environment');
      await page.getByRole('navigation', { name: 'App sections' }).getByRole('link', { name: 'Rollouts' }).click();
      const revision2 = page.locator('tr[data-revision="2"]');
      await revision2.getByText('Current').waitFor();
      await shot('07d-app-rollouts');
      await page.getByRole('button', { name: 'Roll back to revision 1' }).click();
      await page.getByText(/Rolling back to revision 1/).waitFor();
      await revision2.getByRole('button', { name: 'Roll back to revision 2' }).waitFor();
      const after = JSON.parse((await api('GET', `/api/v1/projects/${project}/deployments/${app}`)).body);
      const env = after.spec.template.spec.containers[0].env ?? [];
      check(!env.some((/** @type {{name: string}} */ e) => e.name === 'GREETING'), `the rollback removed GREETING: ${JSON.stringify(env)}`);
      await shot('07e-app-rolled-back');
    });

    await step('the app page by keyboard alone, and in the dark theme', async () => {
      await page.goto(appURL);
      await page.getByRole('heading', { name: app, level: 1 }).waitFor();
      // Tab from the heading to the "one pod fewer" button and use it: 3 → 2.
      await page.getByRole('form', { name: 'Scale' }).getByRole('button', { name: 'One pod fewer' }).focus();
      await page.keyboard.press('Enter');
      await page.getByText('0 of 2 ready').waitFor();
      // The button keeps the focus while the request runs: Tab goes on to
      // the field, then to “one pod more”.
      await page.keyboard.press('Tab');
      await page.keyboard.press('Tab');
      check(await page.getByRole('form', { name: 'Scale' }).getByRole('button', { name: 'One pod more' }).evaluate((el) => el === document.activeElement), 'Tab reaches “one pod more”');
      await page.keyboard.press('Enter');
      await page.getByText('0 of 3 ready').waitFor();
      const tabs = page.getByRole('navigation', { name: 'App sections' });
      await tabs.getByRole('link', { name: 'Rollouts' }).focus();
      await page.keyboard.press('Enter');
      await page.getByRole('table', { name: 'Revisions' }).waitFor();
      await page.getByRole('button', { name: 'Switch to dark theme' }).click();
      await shot('07e2-app-rollouts-dark');
      await page.getByRole('button', { name: 'Switch to light theme' }).click();
      await tabs.getByRole('link', { name: 'Routes' }).click();
    });

    await step('a route created with the form is listed with its admission', async () => {
      await page.getByRole('navigation', { name: 'App sections' }).getByRole('link', { name: 'Routes' }).click();
      const form = page.getByRole('form', { name: 'Create a route' });
      await form.getByLabel('Host').fill('Not A Host');
      await form.getByRole('button', { name: 'Create route' }).click();
      await form.getByText(/Enter a host name/).waitFor();
      await form.getByLabel('Host').fill(`${app}-${suffix}.apps.test`);
      await form.getByRole('button', { name: 'Create route' }).click();
      await form.getByText(`Route ${app} created; routers admit it in a moment.`).waitFor();
      await page.locator(`tr[data-route="${app}"]`).waitFor();
      await shot('07f-app-routes');
    });

    const site = 'static-site';
    await step('import from Git creates the build configuration, deployment, service and route, and follows the build', async () => {
      await page.getByRole('link', { name: project, exact: true }).click();
      await page.getByRole('link', { name: 'Import from Git' }).first().click();
      const form = page.getByRole('form', { name: 'Import from Git' });
      await form.getByLabel('Git repository URL').fill('ftp://example.test/site');
      await form.getByRole('button', { name: 'Create', exact: true }).click();
      await form.getByText(/not ftp:\/\//).waitFor();
      await form.getByLabel('Git repository URL').fill(`https://git.invalid/samples/${site}.git`);
      check((await form.getByLabel('Name', { exact: true }).inputValue()) === site, 'the name comes from the URL');
      check((await form.getByLabel('Builder').inputValue()) === 'static', 'the static builder is guessed');
      await form.getByLabel('Environment variables').fill('GREETING=hello');
      await shot('07g1-import-form');
      await form.getByRole('button', { name: 'Create', exact: true }).click();
      for (const kind of ['Deployment', 'Service', 'Route', 'BuildConfig']) {
        await page.locator(`[data-step="${kind}"].steps__step--done`).waitFor();
      }
      await page.getByText(new RegExp(`Build ${site}-1: `)).waitFor();
      // No node runs builds here: the first build waits, and says so.
      await page.getByText(new RegExp(`Build ${site}-1 is (waiting to be scheduled|starting)`)).waitFor();
      await shot('07g2-import-progress');
      const bc = JSON.parse((await api('GET', `/api/v1/projects/${project}/buildconfigs/${site}`)).body);
      check(bc.spec.strategy.sourceStrategy.from.name === 's2i-static:latest', `the builder image: ${JSON.stringify(bc.spec.strategy)}`);
      await page.getByRole('link', { name: project, exact: true }).click();
      await page.locator(`[data-row="${site}"]`).getByRole('link', { name: new RegExp(`${site}-1`) }).waitFor();
    });

    await step('the builds tab: webhook URL copied, a delivery logged, the build cancelled', async () => {
      await page.goto(`/projects/${project}/apps/${site}/builds`);
      const hook = page.locator('[data-webhook="Generic"]');
      await hook.waitFor();
      const url = (await hook.innerText()).trim();
      await page.getByRole('button', { name: 'Copy the Generic webhook URL' }).click();
      check((await page.evaluate(() => navigator.clipboard.readText())) === url, 'the clipboard holds the webhook URL');
      const delivered = await page.evaluate(async (u) => {
        const r = await fetch(u, { method: 'POST', headers: { 'Content-Type': 'application/json', 'X-Delivery-Id': 'e2e-1' }, body: JSON.stringify({ git: { ref: 'refs/heads/elsewhere', commit: 'abc1234' } }) });
        return { status: r.status, body: await r.text() };
      }, url);
      check(delivered.status === 200, `the webhook answered ${delivered.status}: ${delivered.body}`);
      const deliveries = page.getByRole('table', { name: 'Webhook deliveries' });
      await deliveries.locator('tbody tr').filter({ hasText: 'Generic' }).waitFor();
      await page.getByRole('button', { name: `Cancel build ${site}-1` }).click();
      await page.locator(`tr[data-build="${site}-1"]`).getByText('Cancelled', { exact: true }).waitFor();
      await shot('07g3-app-builds');
    });

    await step('the logs tab says in plain words why a pod has no log', async () => {
      await page.goto(`${appURL}/logs`);
      await page.getByRole('toolbar', { name: 'Log controls' }).waitFor();
      // Without a node no pod runs: the server's refusal is shown.
      const stopped = page.getByRole('alert').filter({ hasText: 'The log stopped' });
      await stopped.waitFor();
      const said = (await stopped.innerText()).trim();
      check(!said.includes('Cannot reach the server'), `the alert carries the server’s message, got “${said}”`);
      await shot('07g-app-logs');
    });

    await step('a 100 MB log streams without freezing the page', async () => {
      // No node runs pods here: the page's fetch is handed a generated log,
      // streamed in 64 KiB chunks as a server would send it.
      const totalBytes = 100 * 1024 * 1024;
      await page.addInitScript((total) => {
        const real = window.fetch.bind(window);
        window.fetch = (input, init) => {
          const url = typeof input === 'string' ? input : input instanceof URL ? input.href : input.url;
          if (!/\/pods\/[^/]+\/log\?/.test(url)) return real(input, init);
          const encoder = new TextEncoder();
          let sent = 0;
          let i = 0;
          const body = new ReadableStream({
            pull(controller) {
              if (sent >= total) return controller.close();
              let chunk = '';
              while (chunk.length < 65_536) {
                chunk += `2026-01-01T00:00:00.000Z INFO request ${String(i).padStart(7, '0')} served in 12 ms by worker 3 ${i % 10_000 === 0 ? 'ERROR upstream timeout' : 'ok'}\n`;
                i++;
              }
              sent += chunk.length;
              controller.enqueue(encoder.encode(chunk));
            },
          });
          return Promise.resolve(new Response(body, { status: 200, headers: { 'Content-Type': 'text/plain' } }));
        };
      }, totalBytes);
      await page.addInitScript(() => {
        const w = /** @type {any} */ (window);
        w.__gaps = [];
        w.__longest = 0;
        let last = performance.now();
        const tick = (/** @type {number} */ t) => {
          w.__gaps.push(t - last);
          last = t;
          if (!w.__stop) requestAnimationFrame(tick);
        };
        requestAnimationFrame(tick);
        new PerformanceObserver((list) => {
          for (const e of list.getEntries()) w.__longest = Math.max(w.__longest, e.duration);
        }).observe({ type: 'longtask', buffered: true });
      });
      const started = Date.now();
      await page.goto(`${appURL}/logs`);
      await page.getByTestId('log-status').getByText(/^Ended · /).waitFor({ timeout: 120_000 });
      const took = Date.now() - started;
      const seen = await page.evaluate(() => {
        const w = /** @type {any} */ (window);
        w.__stop = true;
        const gaps = /** @type {number[]} */ (w.__gaps).slice(1).sort((a, b) => a - b);
        return { max: gaps.at(-1) ?? 0, p95: gaps[Math.floor(gaps.length * 0.95)] ?? 0, frames: gaps.length, longest: w.__longest, dom: document.querySelectorAll('.logs__line').length };
      });
      await page.getByLabel('Search the log').fill('ERROR upstream');
      await page.getByTestId('log-status').getByText(/· \d+ match/).waitFor();
      await shot('07g4-app-logs-100mb');
      const status = await page.getByTestId('log-status').innerText();
      console.log(`log: ${totalBytes / 1024 / 1024} MiB streamed in ${took} ms (${status}); frames ${seen.frames}, frame gap p95 ${seen.p95.toFixed(0)} ms, max ${seen.max.toFixed(0)} ms; longest task ${seen.longest.toFixed(0)} ms; ${seen.dom} line elements in the DOM`);
      check(seen.dom < 200, `only a window of lines is in the DOM (${seen.dom})`);
      check(seen.max < 500, `the page kept drawing frames: the longest gap was ${seen.max.toFixed(0)} ms`);
    });

    await step('a member is granted the view role', async () => {
      const user = await api('POST', '/api/v1/users', { kind: 'User', apiVersion: 'v1', metadata: { name: viewer }, spec: { displayName: 'Viewer', identities: [`local:${viewer}`] } });
      check(user.status === 201, `create user answered ${user.status}: ${user.body}`);
      const pw = await api('PUT', `/api/v1/users/${viewer}/password`, { password: viewerPassword });
      check(pw.status === 200, `set password answered ${pw.status}: ${pw.body}`);
      await page.getByRole('link', { name: project, exact: true }).click();
      await page.getByRole('navigation', { name: 'Project sections' }).getByRole('link', { name: 'Members' }).click();
      const form = page.getByRole('form', { name: 'Grant a role' });
      await form.getByLabel('User name').fill('Not Valid');
      await form.getByRole('button', { name: 'Grant' }).click();
      await form.getByText(/Not a valid user name/).waitFor();
      await form.getByLabel('User name').fill(viewer);
      await form.getByLabel('Role').selectOption('view');
      await form.getByRole('button', { name: 'Grant' }).click();
      await page.locator(`tr[data-member="User:${viewer}:view"]`).waitFor();
      await shot('07h-project-members');
    });

    await step('a view member sees the app but cannot change it or see the members', async () => {
      const other = await context.newPage();
      other.setDefaultTimeout(timeout);
      other.on('pageerror', (error) => problems.push(`viewer page error: ${error.message}`));
      try {
        await other.goto('/login');
        await other.getByLabel('User name', { exact: true }).fill(viewer);
        await other.getByLabel('Password', { exact: true }).fill(viewerPassword);
        await other.getByLabel('Password', { exact: true }).press('Enter');
        await other.getByRole('heading', { name: 'Projects', level: 1 }).waitFor();
        await other.goto(appURL);
        await other.getByRole('heading', { name: app, level: 1 }).waitFor();
        await other.locator('tr[data-pod]').first().waitFor();
        const scale = other.getByRole('form', { name: 'Scale' });
        await scale.getByRole('button', { name: 'One pod more' }).click();
        const refusal = scale.getByRole('alert');
        await refusal.waitFor();
        const said = (await refusal.innerText()).trim();
        check(/cannot|forbidden|may not|not allowed/i.test(said), `the refusal is shown, got “${said}”`);
        await other.screenshot({ path: join(artifacts, '07i-viewer-refused.png') });
        await other.goto(`/projects/${project}/members`);
        await other.getByText('Only the project’s admins can see and change its members.').waitFor();
        const secrets = await other.evaluate(async (p) => {
          const t = sessionStorage.getItem('slipway.token') ?? '';
          return (await fetch(`/api/v1/projects/${p}/secrets`, { headers: { Authorization: `Bearer ${t}` } })).status;
        }, project);
        check(secrets === 403, `a view member listing secrets gets ${secrets}, want 403`);
        const scaled = JSON.parse((await api('GET', `/api/v1/projects/${project}/deployments/${app}`)).body);
        check(scaled.spec.replicas === 3, `the viewer did not scale (replicas ${scaled.spec.replicas})`);
      } catch (error) {
        await other.screenshot({ path: join(artifacts, 'failure-viewer.png') }).catch(() => undefined);
        throw error;
      } finally {
        await other.close();
      }
    });

    await step('the nodes page', async () => {
      await page.getByRole('navigation', { name: 'Main' }).getByRole('link', { name: 'Nodes' }).click();
      await page.getByRole('heading', { name: 'Nodes', level: 1 }).waitFor();
      await page.getByRole('table', { name: 'Nodes' }).or(page.getByText('No node has joined the cluster.')).waitFor();
      await shot('07j-nodes');
      await page.getByRole('navigation', { name: 'Main' }).getByRole('link', { name: 'Projects' }).click();
    });

    await step('the overview of 200 apps renders and updates within budget', async () => {
      // Not named after the suffix: the filter step below counts the projects that are.
      const perf = `perf-${Math.random().toString(36).slice(2, 8)}`;
      const created = await api('POST', '/api/v1/projects', { metadata: { name: perf }, spec: {} });
      check(created.status === 201, `create project answered ${created.status}: ${created.body}`);
      const failures = await page.evaluate(
        async ({ perf, token }) => {
          const names = Array.from({ length: 200 }, (_, i) => `app-${String(i).padStart(3, '0')}`);
          const bad = [];
          for (let i = 0; i < names.length; i += 20) {
            const answers = await Promise.all(
              names.slice(i, i + 20).map((name) =>
                fetch(`/api/v1/projects/${perf}/deployments`, {
                  method: 'POST',
                  headers: { Authorization: `Bearer ${token}`, 'Content-Type': 'application/json' },
                  body: JSON.stringify({
                    kind: 'Deployment',
                    metadata: { name },
                    spec: { replicas: 0, selector: { matchLabels: { app: name } }, template: { metadata: { labels: { app: name } }, spec: { containers: [{ name: 'web', image: `registry.invalid/${name}:1` }] } } },
                  }),
                }),
              ),
            );
            for (const a of answers) if (a.status !== 201) bad.push(`${a.status} ${await a.text()}`);
          }
          return bad;
        },
        { perf, token },
      );
      check(failures.length === 0, `creating 200 deployments: ${failures.slice(0, 3).join('; ')}`);
      await page.goto(`/projects/${perf}`);
      await page.getByText('200 apps', { exact: true }).waitFor();
      await page.getByText('Live', { exact: true }).waitFor();
      const mounted = await page.locator('[data-row]').count();
      check(mounted < 60, `only the rows in view are mounted (${mounted})`);
      const firstRender = await page.evaluate(() => {
        const get = (/** @type {string} */ n) => performance.getEntriesByName(n).at(-1)?.duration ?? -1;
        return { fromOpen: get('slipway:overview:first-render'), listToRows: get('slipway:overview:list-to-render') };
      });
      await page.evaluate(() => performance.clearMeasures('slipway:overview:update'));
      const scaled = await api('PATCH', `/api/v1/projects/${perf}/deployments/app-005/scale`, { spec: { replicas: 1 } }, token, 'application/merge-patch+json');
      check(scaled.status === 200, `scale answered ${scaled.status}: ${scaled.body}`);
      await page.locator('[data-row="app-005"]').getByLabel('0 of 1 pods ready').waitFor();
      const updates = await page.evaluate(() => performance.getEntriesByName('slipway:overview:update').map((e) => e.duration));
      check(updates.length > 0, 'the update was measured');
      const update = Math.max(...updates);
      console.log(`perf: 200 apps: open→rows ${firstRender.fromOpen.toFixed(1)} ms (includes 3 lists over HTTPS), list→rows ${firstRender.listToRows.toFixed(1)} ms; watch event→row committed: max ${update.toFixed(1)} ms over ${updates.length} events`);
      check(firstRender.listToRows >= 0 && firstRender.listToRows < 1000, `list→rows ${firstRender.listToRows} ms within 1000 ms`);
      check(firstRender.fromOpen >= 0 && firstRender.fromOpen < 5000, `open→rows ${firstRender.fromOpen} ms within 5000 ms`);
      check(update < 100, `event→row ${update} ms within 100 ms`);
      await shot('07k-overview-200-apps');
      await api('DELETE', `/api/v1/projects/${perf}`);
      await page.goto('/projects');
      await page.getByRole('heading', { name: 'Projects', level: 1 }).waitFor();
    });

    await step('a project created elsewhere appears live, and goes when deleted', async () => {
      const created = await api('POST', '/api/v1/projects', { metadata: { name: live }, spec: { displayName: 'Made through the API' } });
      check(created.status === 201 || created.status === 200, `create answered ${created.status}: ${created.body}`);
      await page.locator(`tr[data-project="${live}"]`).waitFor();
      const deleted = await api('DELETE', `/api/v1/projects/${live}`);
      check(deleted.status === 202 || deleted.status === 200, `delete answered ${deleted.status}: ${deleted.body}`);
      await page.locator(`tr[data-project="${live}"]`).waitFor({ state: 'detached', timeout: 60_000 });
    });

    await step('the filter narrows the list', async () => {
      await page.getByLabel('Filter projects by name').fill(suffix);
      await page.getByText(/1 project match/).waitFor();
      check((await page.locator('tbody tr').count()) === 1, 'one row matches');
      await shot('07-projects-filtered');
      await page.getByLabel('Filter projects by name').fill('');
    });

    await step('the login-command page shows a fresh token on request, and copies the command', async () => {
      await page.getByRole('navigation', { name: 'Main' }).getByRole('link', { name: 'Login command' }).click();
      await page.getByRole('heading', { name: 'Login command', level: 1 }).waitFor();
      const command = page.getByTestId('login-command');
      await command.waitFor();
      const origin = new URL(baseURL).origin;
      check((await command.innerText()).startsWith(`slip login ${origin} --token •`), 'the token is hidden at first');
      await page.getByRole('button', { name: 'Show token' }).click();
      const shownCommand = await command.innerText();
      const fresh = shownCommand.split(' --token ')[1] ?? '';
      check(fresh.startsWith('slw_') && fresh !== token, 'the command carries a fresh token, not the session\'s');
      await page.getByRole('button', { name: 'Copy command' }).click();
      await page.getByRole('button', { name: 'Copied' }).waitFor();
      const copied = await page.evaluate(() => navigator.clipboard.readText());
      check(copied === `slip login ${origin} --token ${fresh}`, `the clipboard holds the command, got ${copied.slice(0, 40)}…`);
      const status = await page.evaluate(
        async (t) => (await fetch('/api/v1/users/~', { headers: { Authorization: `Bearer ${t}` } })).status,
        fresh,
      );
      check(status === 200, `the fresh token works against the API (got ${status})`);
      await page.getByRole('button', { name: 'Hide token' }).click();
      await shot('08-login-command');
    });

    await step('a project is deleted after confirming its name', async () => {
      await page.getByRole('navigation', { name: 'Main' }).getByRole('link', { name: 'Projects' }).click();
      await page.getByRole('button', { name: `Delete project ${project}` }).click();
      const dialog = page.getByRole('dialog', { name: 'Delete project?' });
      await dialog.waitFor();
      const confirm = dialog.getByRole('button', { name: 'Delete', exact: true });
      check(await confirm.isDisabled(), 'Delete waits for the name');
      await dialog.getByLabel(`Type ${project} to confirm`).fill(project);
      await shot('09-delete-dialog');
      await confirm.click();
      await dialog.waitFor({ state: 'hidden' });
      await page.locator(`tr[data-project="${project}"]`).waitFor({ state: 'detached', timeout: 60_000 });
    });

    await step('the dark theme', async () => {
      await page.getByRole('button', { name: 'Switch to dark theme' }).click();
      check((await page.evaluate(() => document.documentElement.dataset.theme)) === 'dark', 'html[data-theme=dark]');
      await shot('10-projects-dark');
      await page.getByRole('button', { name: 'Switch to light theme' }).click();
    });

    await step('log out ends the session and revokes the token', async () => {
      await page.getByRole('button', { name: 'Log out' }).click();
      await page.getByText('You have logged out.').waitFor();
      check((await page.evaluate(() => sessionStorage.getItem('slipway.token'))) === null, 'the token is forgotten');
      const after = await api('GET', '/api/v1/users/~');
      check(after.status === 401, `the old token answers ${after.status}, want 401`);
      await shot('11-logged-out');
    });

    check(problems.length === 0, `the page logged errors:\n  ${problems.join('\n  ')}`);
    console.log(`${steps.length} passed, 0 failed`);
    console.log(`screenshots in ${artifacts}`);
  } catch (error) {
    const page = context.pages()[0];
    if (page) await page.screenshot({ path: join(artifacts, 'failure.png') }).catch(() => undefined);
    console.error(`FAIL after ${steps.length} steps: ${error instanceof Error ? error.message : String(error)}`);
    if (problems.length) console.error(`page errors:\n  ${problems.join('\n  ')}`);
    if (network.length) console.error(`failed requests:\n  ${network.join('\n  ')}`);
    console.log(`${steps.length} passed, 1 failed`);
    process.exitCode = 1;
  } finally {
    await context.close();
    rmSync(profile, { recursive: true, force: true });
  }
}

/**
 * importMain is the whole path of a developer who never opens a terminal,
 * against a `slipway up` with a node, its builder images and a router:
 * import a static site from Git (SLIPWAY_GIT_URL), watch its build log,
 * and open the route URL (served on the router's SLIPWAY_ROUTER_HTTPS
 * port) to see the site (SLIPWAY_EXPECT in its page).
 */
async function importMain() {
  const gitURL = required('SLIPWAY_GIT_URL');
  const routerHTTPS = required('SLIPWAY_ROUTER_HTTPS');
  const expect = required('SLIPWAY_EXPECT');
  const { context, profile } = await launch({ anyCertificate: true });
  const problems = /** @type {string[]} */ ([]);
  const network = /** @type {string[]} */ ([]);
  try {
    const page = context.pages()[0] ?? (await context.newPage());
    page.setDefaultTimeout(timeout);
    observe(page, problems, network);
    /** @param {string} name */
    const shot = (name) => page.screenshot({ path: join(artifacts, `${name}.png`), fullPage: true });
    const project = `import-${Date.now().toString(36)}`;
    const name = 'site';

    await step('log in and create a project', async () => {
      await page.goto('/login');
      await page.getByLabel('User name', { exact: true }).fill(adminUser);
      await page.getByLabel('Password', { exact: true }).fill(adminPassword);
      await page.getByLabel('Password', { exact: true }).press('Enter');
      await page.getByRole('heading', { name: 'Projects', level: 1 }).waitFor();
      await page.getByRole('button', { name: 'Create project' }).first().click();
      const dialog = page.getByRole('dialog', { name: 'Create a project' });
      await dialog.getByLabel('Name', { exact: true }).fill(project);
      await dialog.getByRole('button', { name: 'Create' }).click();
      await page.locator(`tr[data-project="${project}"]`).getByRole('link').click();
      await page.getByRole('heading', { name: project, level: 1 }).waitFor();
    });

    await step('import the static site from Git', async () => {
      await page.getByRole('link', { name: 'Import from Git' }).first().click();
      const form = page.getByRole('form', { name: 'Import from Git' });
      await form.getByLabel('Git repository URL').fill(gitURL);
      await form.getByLabel('Name', { exact: true }).fill(name);
      // The server looked inside the repository and chose the builder.
      await form.getByTestId('builder-detection').getByText('Detected from index.html in the repository.').waitFor();
      const builder = await form.getByLabel('Builder').inputValue();
      check(builder === 'static', `the detected builder is ${builder}`);
      await form.getByRole('button', { name: 'Create', exact: true }).click();
      await page.locator('[data-step="BuildConfig"].steps__step--done').waitFor();
      await shot('20-import-created');
    });

    await step('the first build’s log streams live to the push', async () => {
      const log = page.getByRole('log', { name: `Log of ${name}-1` });
      await log.waitFor({ timeout: 180_000 });
      await page.getByText(`Build ${name}-1: Complete`).waitFor({ timeout: 240_000 });
      await shot('21-import-build-log');
      const text = await log.innerText();
      check(text.trim() !== '', 'the build log shows lines');
    });

    let url = '';
    await step('the page ends with the app’s URL once a pod is ready', async () => {
      const link = page.getByTestId('app-url');
      await link.waitFor({ timeout: 180_000 });
      url = (await link.getAttribute('href')) ?? '';
      check(url.startsWith('https://'), `the URL is https: ${url}`);
      await shot('22-import-done');
    });

    await step('the route URL serves the site', async () => {
      // The router listens on a test port: same host, that port.
      const u = new URL(url);
      u.port = routerHTTPS;
      const site = await context.newPage();
      let body = '';
      // The router may take a while to send to the new pod (see the time printed).
      const started = Date.now();
      while (!body.includes(expect) && Date.now() - started < 180_000) {
        const answer = await site.goto(u.href).catch(() => null);
        body = answer ? await site.content() : '';
        if (!body.includes(expect)) await site.waitForTimeout(1000);
      }
      console.log(`route: ${u.href} served the site ${((Date.now() - started) / 1000).toFixed(1)} s after the console showed the URL`);
      await site.screenshot({ path: join(artifacts, '23-import-app.png') });
      if (!body.includes(expect)) {
        const token = await page.evaluate(() => sessionStorage.getItem('slipway.token') ?? '');
        for (const path of [`/api/v1/projects/${project}/routes/${name}`, `/api/v1/projects/${project}/endpoints/${name}`, `/api/v1/projects/${project}/services/${name}`]) {
          const answer = await page.evaluate(async ({ path, token }) => (await fetch(path, { headers: { Authorization: `Bearer ${token}` } })).text(), { path, token });
          console.log(`${path}: ${answer}`);
        }
        const direct = await new Promise((resolve) => {
          const req = httpsRequest({ host: '127.0.0.1', port: Number(routerHTTPS), path: '/', servername: u.hostname, headers: { Host: u.hostname }, rejectUnauthorized: false }, (res) => {
            let text = '';
            res.on('data', (c) => (text += c));
            res.on('end', () => resolve(`${res.statusCode} ${text.slice(0, 120)}`));
          });
          req.on('error', (e) => resolve(String(e)));
          req.end();
        });
        console.log(`direct GET https://${u.hostname} via 127.0.0.1:${routerHTTPS}: ${direct}`);
        /** @param {string} host @param {string} port @param {(o: object, cb: (res: import('node:http').IncomingMessage) => void) => import('node:http').ClientRequest} send */
        const probe = (host, port, send) =>
          new Promise((resolve) => {
            const req = send({ host: '127.0.0.1', port: Number(port), path: '/', servername: host, headers: { Host: host }, rejectUnauthorized: false }, (res) => {
              let text = '';
              res.on('data', (c) => (text += c));
              res.on('end', () => resolve(`${res.statusCode} ${text.slice(0, 80)}`));
            });
            req.on('error', (e) => resolve(String(e)));
            req.end();
          });
        for (const [rname, tls] of [['later-edge', { termination: 'edge' }], ['later-plain', undefined]]) {
          const created = await page.evaluate(
            async ({ project, token, rname, tls, name }) =>
              (await fetch(`/api/v1/projects/${project}/routes`, { method: 'POST', headers: { Authorization: `Bearer ${token}`, 'Content-Type': 'application/json' }, body: JSON.stringify({ metadata: { name: rname }, spec: { to: { kind: 'Service', name }, ...(tls ? { tls } : {}) } }) })).status,
            { project, token, rname, tls, name },
          );
          await page.waitForTimeout(4000);
          const host = `${rname}-${project}.apps.localhost`;
          console.log(`route ${rname} (${created}): https ${await probe(host, routerHTTPS, httpsRequest)}; http ${await probe(host, process.env.SLIPWAY_ROUTER_HTTP ?? '0', httpRequest)}`);
        }
      }
      check(body.includes(expect), `${u.href} serves the site, got ${body.slice(0, 200)}`);
      await site.close();
    });

    check(problems.length === 0, `the page logged errors:\n  ${problems.join('\n  ')}`);
    console.log(`${steps.length} passed, 0 failed`);
  } catch (error) {
    await context.pages()[0]?.screenshot({ path: join(artifacts, 'failure-import.png') }).catch(() => undefined);
    console.error(`FAIL after ${steps.length} steps: ${error instanceof Error ? error.message : String(error)}`);
    if (problems.length) console.error(`page errors:\n  ${problems.join('\n  ')}`);
    if (network.length) console.error(`failed requests:\n  ${network.join('\n  ')}`);
    console.log(`${steps.length} passed, 1 failed`);
    process.exitCode = 1;
  } finally {
    await context.close();
    rmSync(profile, { recursive: true, force: true });
  }
}

if (process.env.SLIPWAY_GIT_URL) await importMain();
else await main();
