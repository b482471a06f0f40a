// End-to-end scenarios for the web UI, driven by tests/e2e/test_web_ui.py against a real
// `giru run`: `node web/e2e/ui.mjs <scenario>` prints one JSON line with what it saw.
// Debian's Chromium through playwright-core (never `playwright install`), a fresh profile each run.
// Environment: GIRU_URL (http://127.0.0.1:port), GIRU_ADMIN_TOKEN, GIRU_SHOTS (screenshots dir).
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { chromium } from 'playwright-core';

const URL_BASE = process.env.GIRU_URL ?? '';
const TOKEN = process.env.GIRU_ADMIN_TOKEN ?? '';
const CHROMIUM = process.env.GIRU_CHROMIUM ?? '/usr/bin/chromium';
const ARGS = [
	'--headless',
	'--no-sandbox',
	'--disable-gpu',
	'--disable-background-networking',
	'--disable-component-update',
	'--disable-sync'
];
const DESKTOP = { width: 1280, height: 800 };
const PHONE = { width: 390, height: 844 };

async function withBrowser(run) {
	const profile = mkdtempSync(join(tmpdir(), 'giru-ui-e2e-'));
	const context = await chromium.launchPersistentContext(profile, {
		executablePath: CHROMIUM,
		headless: true,
		args: ARGS,
		viewport: DESKTOP
	});
	try {
		const page = context.pages()[0] ?? (await context.newPage());
		// Generous for a loaded CI machine: every wait is for a condition, not a fixed time.
		page.setDefaultTimeout(30000);
		return await run(page, context);
	} finally {
		await context.close();
		rmSync(profile, { recursive: true, force: true });
	}
}

async function signIn(page, token = TOKEN) {
	await page.getByLabel('Admin token').fill(token);
	await page.getByRole('button', { name: 'Sign in' }).click();
	await page.getByTestId('whoami').waitFor();
}

async function openSignedIn(page, path) {
	await page.goto(`${URL_BASE}${path}`);
	await page.waitForURL(/\/ui\/signin/);
	await signIn(page);
	await page.waitForURL((url) => url.pathname + url.search === path);
}

// Poll `condition` (async) until it holds; fail naming `what` after `timeoutMs`.
async function until(condition, what, timeoutMs = 30000) {
	const deadline = Date.now() + timeoutMs;
	while (Date.now() < deadline) {
		if (await condition()) return;
		await new Promise((resolve) => setTimeout(resolve, 100));
	}
	throw new Error(`not within ${timeoutMs} ms: ${what}`);
}

// A 2026-07-28 `tools/call` straight to the gateway's /mcp, as a client with `key` would make it.
async function mcpCall(key, name, args) {
	const meta = { 'io.modelcontextprotocol/protocolVersion': '2026-07-28', 'io.modelcontextprotocol/clientCapabilities': {} };
	const response = await fetch(`${URL_BASE}/mcp`, {
		method: 'POST',
		headers: {
			authorization: `Bearer ${key}`,
			'content-type': 'application/json',
			accept: 'application/json, text/event-stream',
			'mcp-protocol-version': '2026-07-28',
			'mcp-method': 'tools/call',
			'mcp-name': name
		},
		body: JSON.stringify({ jsonrpc: '2.0', id: 1, method: 'tools/call', params: { name, arguments: args, _meta: meta } })
	});
	return { status: response.status, text: await response.text() };
}

// The IdP's sign-in form as GIRU_LOGIN, then Giru's consent page (`beforeAllow` runs there),
// answered with GIRU_DECISION (Allow unless it says Deny).
async function idpAndConsent(page, beforeAllow = async () => {}) {
	await page.getByLabel('Login', { exact: true }).waitFor();
	const idp = new URL(page.url()).origin;
	await page.getByLabel('Login', { exact: true }).fill(process.env.GIRU_LOGIN ?? '');
	await page.getByLabel('Password', { exact: true }).fill(process.env.GIRU_PASSWORD ?? '');
	await page.getByRole('button', { name: 'Sign in' }).click();
	await page.waitForURL((url) => `${url.origin}${url.pathname}` === `${URL_BASE}/oauth/consent`);
	const consent = ((await page.locator('h1').textContent()) ?? '').trim();
	await beforeAllow();
	await page.getByRole('button', { name: process.env.GIRU_DECISION ?? 'Allow', exact: true }).click();
	return { idp, consent };
}

// Where the console keeps what it knows: this origin's storage and cookies.
async function kept(page, context) {
	const storage = await page.evaluate(() => ({
		session: Object.keys(sessionStorage).sort(),
		local: Object.keys(window.localStorage).sort(), // read only: to show it holds nothing
		url: location.href
	}));
	const cookies = (await context.cookies(URL_BASE)).map((cookie) => cookie.name).sort();
	return { sessionKeys: storage.session, localKeys: storage.local, cookies, at: storage.url };
}

// Every signed-in page of the quickstart: [name, path, test id that shows it has loaded]. The
// screenshot run photographs them; the accessibility check runs axe-core over them (plus People).
const PAGES = [
	['overview', '/ui', 'overview-cards'],
	['servers', '/ui/servers', 'servers'],
	['server', '/ui/servers/everything', 'tools'],
	['clients', '/ui/clients', 'clients'],
	['client', '/ui/clients/demo', 'keys'],
	['subscriptions', '/ui/subscriptions', 'subscriptions'],
	['connections', '/ui/connections', 'no-oauth-servers'],
	['tool-reviews', '/ui/tool-reviews', 'tool-reviews'],
	['policies', '/ui/policies', 'policies'],
	['usage', '/ui/usage', 'usage'],
	['audit', '/ui/audit', 'audit']
];

// WCAG 2.0 and 2.1, levels A and AA: the rules axe-core runs.
const WCAG_AA = ['wcag2a', 'wcag2aa', 'wcag21a', 'wcag21aa'];
const AXE_SOURCE = readFileSync(createRequire(import.meta.url).resolve('axe-core/axe.min.js'), 'utf8');

// axe-core's violations on the page as it is now, one entry per failing element. The pages' CSP
// (script-src 'self' plus a hash) would refuse an injected <script>, so axe's source is evaluated
// through the DevTools protocol (page.evaluate → Runtime.evaluate), which CSP does not govern;
// the page's own CSP stays in force (no bypassCSP).
async function axeViolations(page, where) {
	await page.evaluate(AXE_SOURCE);
	const violations = await page.evaluate(
		(tags) => window.axe.run(document, { runOnly: { type: 'tag', values: tags }, resultTypes: ['violations'] }).then((r) => r.violations),
		WCAG_AA
	);
	return violations.flatMap((violation) =>
		violation.nodes.map((node) => ({
			where,
			rule: violation.id,
			impact: violation.impact,
			target: node.target.join(' '),
			summary: (node.failureSummary ?? violation.help).replace(/\s+/g, ' ').slice(0, 300)
		}))
	);
}

// Whether the focused element shows it: a visible outline or a box shadow.
async function focusShown(page) {
	return page.evaluate(() => {
		const element = document.activeElement;
		if (!element || element === document.body) return { shown: false, what: 'body' };
		const style = getComputedStyle(element);
		const outline = style.outlineStyle !== 'none' && parseFloat(style.outlineWidth) > 0;
		const shadow = style.boxShadow !== 'none';
		const name = (element.getAttribute('aria-label') ?? element.textContent ?? '').trim().slice(0, 40);
		const label = element.closest('label')?.textContent?.trim().split(/\s/)[0] ?? '';
		const how = `outline ${style.outlineStyle} ${style.outlineWidth}, box-shadow ${style.boxShadow}`;
		return { shown: outline || shadow, what: `${element.tagName.toLowerCase()} ${name || label}`.trim(), how };
	});
}

/** `look(size, scheme)` once per look of the console: the light and dark themes, each at desktop
 * and phone width, set on `page` before each call. */
async function eachLook(page, look) {
	for (const scheme of ['light', 'dark']) {
		await page.emulateMedia({ colorScheme: scheme });
		for (const [size, viewport] of [
			['desktop', DESKTOP],
			['phone', PHONE]
		]) {
			await page.setViewportSize(viewport);
			await look(size, scheme);
		}
	}
}

/** Page `path` loaded and settled: its `ready` test id shown and the network quiet. */
async function settled(page, path, ready) {
	await page.goto(`${URL_BASE}${path}`);
	await page.getByTestId(ready).waitFor();
	await page.waitForLoadState('networkidle');
}

/**
 * Every page of `pages` ([name, path, ready test id]) and then the sign-in page, in each look
 * (eachLook), each loaded and settled before `visit` gets its view
 * ("<name> <desktop|phone> <light|dark>"); signed in again after each sign-in page.
 */
async function everyView(page, pages, visit) {
	await eachLook(page, async (size, scheme) => {
		for (const [name, path, ready] of pages) {
			await settled(page, path, ready);
			await visit(`${name} ${size} ${scheme}`);
		}
		await page.goto(`${URL_BASE}/ui/signin`);
		await page.getByLabel('Admin token').waitFor();
		await visit(`signin ${size} ${scheme}`);
		await signIn(page);
	});
}

const scenarios = {
	// Create a client in the UI: its key is shown once, then never again.
	async 'key-once'(page) {
		const name = `ui-${Date.now().toString(36)}`;
		await openSignedIn(page, '/ui/clients');
		await page.getByRole('button', { name: 'New client' }).click();
		await page.getByLabel('Name').fill(name);
		await page.getByRole('button', { name: 'Create client' }).click();
		const key = (await page.getByTestId('api-key').textContent()) ?? '';
		await page.getByRole('button', { name: 'I have saved it' }).click();
		const afterDismiss = await page.content();
		await page.reload();
		await page.getByTestId('clients').waitFor();
		const afterReload = await page.content();
		await page.goto(`${URL_BASE}/ui/clients/${name}`);
		await page.getByTestId('keys').waitFor();
		const detail = await page.content();
		return {
			name,
			key,
			listed: afterReload.includes(name),
			seenAgain: [afterDismiss, afterReload, detail].some((html) => key !== '' && html.includes(key))
		};
	},

	// Markup in a stored value renders as text: no script runs, no element is created.
	async xss(page) {
		const client = process.env.GIRU_XSS_CLIENT ?? '';
		let dialogs = 0;
		page.on('dialog', (dialog) => {
			dialogs += 1;
			void dialog.dismiss();
		});
		await openSignedIn(page, `/ui/clients/${client}`);
		const claims = page.getByTestId('claims');
		await claims.waitFor();
		return {
			text: await claims.textContent(),
			images: await claims.locator('img').count(),
			scripts: await claims.locator('script').count(),
			pwned: await page.evaluate(() => window.__pwned ?? null),
			dialogs
		};
	},

	// An upstream that went away: the overview shows its breaker open (the server down) and,
	// once the test brought it back and a call passed, closed again without a reload.
	// GIRU_MARK: a file written when the open breaker is on screen (the test then brings the
	// upstream back); GIRU_SERVER: the server.
	async breaker(page) {
		const server = process.env.GIRU_SERVER ?? '';
		await openSignedIn(page, '/ui/');
		const alert = page.getByTestId('breakers');
		await alert.waitFor({ timeout: 30000 });
		const row = page.getByTestId('upstreams').getByRole('row').filter({ hasText: server });
		const open = {
			alert: ((await alert.textContent()) ?? '').replace(/\s+/g, ' ').trim(),
			badge: ((await row.locator('.badge').textContent()) ?? '').trim(),
			line: ((await row.getByTestId('breaker').textContent()) ?? '').trim(),
			card: ((await page.getByTestId('overview-cards').locator('.card').first().textContent()) ?? '')
				.replace(/\s+/g, ' ')
				.trim()
		};
		const url = page.url();
		writeFileSync(process.env.GIRU_MARK ?? '', 'open');
		await alert.waitFor({ state: 'detached', timeout: 60000 });
		return {
			open,
			closedBadge: ((await row.locator('.badge').textContent()) ?? '').trim(),
			breakerLines: await row.getByTestId('breaker').count(),
			reloaded: page.url() !== url
		};
	},

	// Quotas near their limit: the overview's panel lists the subscription's daily quota with
	// its use, and its link opens the subscription on the subscriptions page.
	async quotas(page) {
		await openSignedIn(page, '/ui/');
		const table = page.getByTestId('quotas-near');
		await table.waitFor();
		const rows = await table
			.locator('tbody tr')
			.evaluateAll((trs) => trs.map((tr) => [...tr.querySelectorAll('td')].map((td) => td.textContent.trim())));
		await table.getByRole('link').first().click();
		await page.getByTestId('subscriptions').waitFor();
		return {
			rows,
			url: page.url(),
			targetRow: (await page.locator('tr[id="subscription-alice-kit"]').count()) === 1
		};
	},

	// Another page cannot frame the UI.
	async framing(page) {
		const blocked = [];
		page.on('console', (message) => blocked.push(message.text()));
		const response = await page.goto(`${URL_BASE}/ui/`);
		const headers = response?.headers() ?? {};
		await page.setContent(`<iframe id="f" src="${URL_BASE}/ui/" width="600" height="400"></iframe>`);
		const frame = page.frames().find((f) => f !== page.mainFrame());
		let app = null;
		try {
			await frame?.waitForLoadState('load', { timeout: 5000 });
			app = await frame?.evaluate(() => document.querySelector('#giru') !== null);
		} catch {
			app = null; // a blocked frame is an error page we cannot script
		}
		return {
			csp: headers['content-security-policy'] ?? '',
			xfo: headers['x-frame-options'] ?? '',
			frameUrl: frame?.url() ?? '',
			appInFrame: app === true,
			refusals: blocked.filter((text) => text.includes('frame-ancestors')).length
		};
	},

	// The what-if panel shows the decision policy makes for an edited input document.
	async 'what-if'(page) {
		await openSignedIn(page, '/ui/policies');
		await page.getByTestId('policy-status').waitFor();
		await page.getByRole('button', { name: 'Evaluate' }).click();
		const decision = page.getByTestId('decision');
		await decision.waitFor();
		const first = (await decision.locator('.notice').textContent()) ?? '';
		await page.getByLabel('Input document (JSON)').fill('{"mcp": ');
		await page.getByRole('button', { name: 'Evaluate' }).click();
		const refused = (await page.getByRole('alert').first().textContent()) ?? '';
		return { first, refused };
	},

	// The what-if panel opened from an audit record's detail (GIRU_EVENT): preloaded with the
	// record's rebuilt input, evaluated unedited; then the same record picked from the recent ones.
	async 'what-if-audit'(page) {
		const event = process.env.GIRU_EVENT ?? '';
		await openSignedIn(page, '/ui/audit?outcome=policy_denied');
		await page.getByTestId('audit').getByRole('button', { name: `Details of ${event}` }).click();
		await page.getByTestId('audit-detail').getByRole('link', { name: 'What if…' }).click();
		await page.waitForURL((url) => url.pathname === '/ui/policies' && url.searchParams.get('event') === event);
		const source = page.getByTestId('whatif-source');
		await source.waitFor();
		const editor = page.getByLabel('Input document (JSON)');
		const input = await editor.inputValue();
		await page.getByRole('button', { name: 'Evaluate' }).click();
		const decision = page.getByTestId('decision');
		await decision.waitFor();
		const first = ((await decision.locator('.notice').textContent()) ?? '').trim();
		const controls = await decision.locator('tbody tr td:nth-child(2)').allTextContents();
		const options = await page
			.getByTestId('whatif-records')
			.locator('option')
			.evaluateAll((items) => items.map((item) => item.value).filter((value) => value));
		await page.getByRole('button', { name: 'Reset to the sample' }).click();
		await until(async () => (await page.getByTestId('whatif-source').count()) === 0, 'the source notice cleared');
		await page.getByLabel('Load from an audit record').selectOption(event);
		await page.getByTestId('whatif-source').waitFor();
		await until(async () => (await editor.inputValue()) === input, 'the picked record in the editor');
		return {
			source: ((await source.textContent()) ?? '').replace(/\s+/g, ' ').trim(),
			input,
			first,
			controls: controls.map((c) => c.trim()),
			options
		};
	},

	// A rejected token sends the user to sign-in, and signing in brings them back.
	async reauth(page) {
		const path = '/ui/audit?outcome=allowed';
		await openSignedIn(page, path);
		const token = await page.evaluate(() => sessionStorage.getItem('giru.adminToken'));
		const inLocal = await page.evaluate(() => window.localStorage.length);
		await page.evaluate(() => sessionStorage.setItem('giru.adminToken', 'revoked-token-0123456789'));
		await page.reload();
		await page.waitForURL(/\/ui\/signin\?next=/);
		const signInAt = new URL(page.url());
		await signIn(page);
		await page.waitForURL((url) => url.pathname + url.search === path);
		await page.getByTestId('audit').waitFor();
		return {
			tokenStored: token === TOKEN,
			localStorageItems: inLocal,
			next: signInAt.searchParams.get('next'),
			back: new URL(page.url()).pathname + new URL(page.url()).search
		};
	},

	// Approve a pending subscription from the subscriptions page (the test then lists the
	// client's tools over MCP).
	async approve(page) {
		const name = process.env.GIRU_SUBSCRIPTION ?? '';
		await openSignedIn(page, '/ui/subscriptions?status=pending');
		const row = page.getByTestId('subscriptions').getByRole('row').filter({ hasText: name });
		await row.getByRole('button', { name: 'Approve' }).click();
		await page.getByLabel(`Reason to approve ${name} (optional)`).fill('requested for the UI test');
		await page.getByRole('button', { name: `Approve ${name}` }).click();
		const notice = (await page.getByRole('status').first().textContent()) ?? '';
		await page.goto(`${URL_BASE}/ui/subscriptions?status=active`);
		const active = page.getByTestId('subscriptions').getByRole('row').filter({ hasText: name });
		await active.waitFor();
		const status = (await active.getByRole('cell').nth(3).textContent()) ?? '';
		return { notice, status: status.trim() };
	},

	// Request a subscription with the form (client, server, two tools picked, a daily quota),
	// then reject it with a reason.
	async 'request-reject'(page) {
		const name = process.env.GIRU_SUBSCRIPTION ?? '';
		await openSignedIn(page, '/ui/subscriptions');
		await page.getByRole('button', { name: 'Request a subscription' }).click();
		const form = page.getByTestId('subscription-request');
		await form.getByRole('combobox', { name: /^Client/ }).selectOption('demo');
		await form.getByRole('combobox', { name: /^Server/ }).selectOption('memory');
		await form.getByLabel('Name').fill(name);
		await form.getByLabel('every tool of the server, now and later').uncheck();
		const picker = form.getByTestId('tool-picker');
		await picker.getByLabel('read_graph').check();
		await picker.getByLabel('search_nodes').check();
		await form.getByLabel('Calls per day').fill('100');
		await form.getByRole('button', { name: 'Request', exact: true }).click();
		const requested = (await page.locator('[role=status], [role=alert]').first().textContent()) ?? '';
		const row = page.getByTestId('subscriptions').getByRole('row').filter({ hasText: name });
		await row.getByRole('button', { name: 'Reject' }).click();
		await page.getByRole('button', { name: `Reject ${name}` }).click(); // no reason: refused
		const refused = await page.getByLabel(`Reason to reject ${name}`).evaluate((input) => !input.validity.valid);
		await page.getByLabel(`Reason to reject ${name}`).fill('memory is for the pilot team only');
		await page.getByRole('button', { name: `Reject ${name}` }).click();
		await page.getByText(`${name}: rejected`).waitFor();
		await row.getByRole('cell', { name: 'rejected', exact: true }).waitFor();
		const cells = await row.getByRole('cell').allTextContents();
		return { requested, refused, cells: cells.map((c) => c.replace(/\s+/g, ' ').trim()) };
	},

	// The policy denial of a call carrying a card number, found in the audit page by its
	// outcome, with the PCI DSS control it cites.
	async 'pan-denial'(page) {
		const event = process.env.GIRU_EVENT ?? '';
		await openSignedIn(page, '/ui/audit');
		await page.getByLabel('Outcome').selectOption('policy_denied');
		await page.getByRole('button', { name: 'Apply' }).click();
		await page.waitForURL(/outcome=policy_denied/);
		const table = page.getByTestId('audit');
		await table.getByRole('button', { name: `Details of ${event}` }).click();
		const detail = page.getByTestId('audit-detail');
		await detail.waitFor();
		const row = table.getByRole('row').filter({ has: page.getByRole('button', { name: `Details of ${event}` }) });
		return {
			outcome: ((await row.getByRole('cell').nth(4).textContent()) ?? '').trim(),
			controls: (await detail.getByTestId('controls').textContent()) ?? '',
			detail: (await detail.textContent()) ?? ''
		};
	},

	// The audit page filtered by a compliance control: typed in the filter (GIRU_CONTROL), then
	// followed from a record's detail to another control it had in scope (GIRU_SCOPE). The event
	// ids listed each time.
	async 'control-filter'(page) {
		const event = process.env.GIRU_EVENT ?? '';
		const control = process.env.GIRU_CONTROL ?? '';
		const scope = process.env.GIRU_SCOPE ?? '';
		const table = page.getByTestId('audit');
		const details = table.getByRole('button', { name: `Details of ${event}` });
		const listed = () => table.locator('tr[data-event]').evaluateAll((rows) => rows.map((r) => r.getAttribute('data-event')));
		await openSignedIn(page, '/ui/audit?control=no-such-control');
		await table.getByText('No records match.').waitFor();
		await page.getByLabel('Control').fill(control);
		await page.getByRole('button', { name: 'Apply' }).click();
		await page.waitForURL((url) => url.searchParams.get('control') === control);
		await details.waitFor();
		const cited = await listed();
		await details.click();
		const detail = page.getByTestId('audit-detail');
		await detail.getByTestId('controls-in-scope').getByRole('link', { name: scope }).click();
		await page.waitForURL((url) => url.searchParams.get('control') === scope);
		await until(async () => !(await detail.isVisible()), 'the detail closed on the new listing');
		await details.waitFor();
		return { cited, inScope: await listed(), field: await page.getByLabel('Control').inputValue() };
	},

	// A client's page lists its latest audit records (GIRU_CLIENT): their event ids, newest
	// first, and where its link to the audit log leads.
	async 'client-calls'(page) {
		const client = process.env.GIRU_CLIENT ?? '';
		await openSignedIn(page, `/ui/clients/${encodeURIComponent(client)}`);
		const table = page.getByTestId('client-calls');
		await table.locator('tr[data-event]').first().waitFor();
		const events = await table.locator('tr[data-event]').evaluateAll((rows) => rows.map((r) => r.getAttribute('data-event')));
		await page.getByRole('link', { name: 'All their records in the audit log' }).click();
		await page.waitForURL(/\/ui\/audit\?/);
		return { events, url: page.url() };
	},

	// The usage page narrowed to one tool (GIRU_TOOL), grouped per tool and per client: the
	// rows' keys and calls each time.
	async 'usage-filter'(page) {
		await openSignedIn(page, '/ui/usage');
		const table = page.getByTestId('usage');
		const rows = () =>
			table.locator('tbody tr').evaluateAll((trs) => trs.map((tr) => [...tr.querySelectorAll('td')].slice(0, 2).map((td) => td.textContent.trim())));
		const per = page.locator('label', { hasText: /^\s*Per\b/ }).locator('select');
		await table.getByRole('row').nth(1).waitFor();
		await page.getByLabel('Tool', { exact: true }).fill(process.env.GIRU_TOOL ?? '');
		await per.selectOption('tool');
		await table.locator('th', { hasText: /^tool$/ }).waitFor();
		await page.waitForFunction(() => document.querySelectorAll('[data-testid=usage] tbody tr').length === 1);
		const perTool = await rows();
		await per.selectOption('client');
		await table.locator('th', { hasText: /^client$/ }).waitFor();
		return { perTool, perClient: await rows() };
	},

	// Export the usage table (per client, last week) as CSV: the downloaded file's contents.
	async 'usage-csv'(page) {
		await openSignedIn(page, '/ui/usage');
		await page.getByTestId('usage').getByRole('row').nth(1).waitFor();
		const [file] = await Promise.all([
			page.waitForEvent('download'),
			page.getByRole('button', { name: 'Export CSV' }).click()
		]);
		const path = await file.path();
		return { filename: file.suggestedFilename(), csv: readFileSync(path, 'utf8') };
	},

	// Verify the audit chain from the audit page (the echo calls' records on screen): the
	// result, and the rows marked broken.
	async verify(page) {
		await openSignedIn(page, '/ui/audit?server=everything&target=echo');
		await page.getByTestId('audit').waitFor();
		await page.getByRole('button', { name: 'Verify chain' }).click();
		const result = page.getByTestId('verify-result');
		await result.waitFor();
		const text = ((await result.textContent()) ?? '').replace(/\s+/g, ' ').trim();
		const ok = !(await result.getAttribute('class'))?.includes('bad');
		const highlighted = await page
			.locator('[data-testid="audit"] tr.broken')
			.evaluateAll((rows) => rows.map((row) => row.getAttribute('data-event')));
		return { ok, text, highlighted };
	},

	// Start an OAuth connection to server GIRU_SERVER: the sign-in URL the page opened.
	async connect(page, context) {
		const server = process.env.GIRU_SERVER ?? '';
		await openSignedIn(page, '/ui/connections');
		const section = page.getByTestId(`connections-${server}`);
		await section.waitFor();
		const before = ((await section.locator('tbody').textContent()) ?? '').trim();
		const opened = context.waitForEvent('page');
		await section.getByRole('button', { name: `Connect ${server}` }).click();
		const popup = await opened;
		const link = page.getByTestId('connect-started').getByRole('link', { name: 'open the sign-in page' });
		const url = (await link.getAttribute('href')) ?? '';
		await popup.close();
		return { before, url };
	},

	// A person follows the connect URL GIRU_CONNECT_URL (from a URL elicitation): Giru sends the
	// browser to the authorization server, whose sign-in form is filled as GIRU_LOGIN with
	// GIRU_PASSWORD; the browser comes back to Giru's callback page. What each page showed.
	async 'idp-connect'(page) {
		await page.goto(process.env.GIRU_CONNECT_URL ?? '');
		await page.getByRole('button', { name: 'Sign in' }).waitFor();
		const signIn = { url: page.url(), title: await page.title() };
		await page.getByLabel('Login', { exact: true }).fill(process.env.GIRU_LOGIN ?? '');
		await page.getByLabel('Password', { exact: true }).fill(process.env.GIRU_PASSWORD ?? '');
		await page.getByRole('button', { name: 'Sign in' }).click();
		await page.waitForURL((url) => `${url.origin}${url.pathname}` === `${URL_BASE}/oauth/callback`);
		const heading = page.locator('main h1'); // role "status" when connected, else "alert"
		await heading.waitFor();
		const text = (await page.locator('main').textContent()) ?? '';
		return {
			signIn,
			landed: page.url(),
			heading: ((await heading.textContent()) ?? '').trim(),
			role: await heading.getAttribute('role'),
			text: text.replace(/\s+/g, ' ').trim()
		};
	},

	// A person signs in to the console with the IdP (Giru's authorization server in front of it):
	// from GIRU_PAGE, 'Sign in with <IdP>', the IdP's form as GIRU_LOGIN, Giru's consent, back to
	// the page. What the console then shows and keeps; with GIRU_EXPIRE, the access token is
	// made due for refresh and the next page's requests must renew it.
	async 'idp-sign-in'(page, context) {
		const start = process.env.GIRU_PAGE ?? '/ui/clients';
		const authorizations = [];
		page.on('request', (request) => {
			if (new URL(request.url()).pathname.startsWith('/api/v1/') && !request.url().endsWith('/api/v1/sign-in')) {
				authorizations.push(request.headers().authorization ?? null);
			}
		});
		await page.goto(`${URL_BASE}${start}`);
		await page.waitForURL(/\/ui\/signin/);
		const button = page.getByRole('button', { name: /^Sign in with / });
		const offered = ((await button.textContent()) ?? '').trim();
		await button.click();
		await idpAndConsent(page);
		const error = page.getByTestId('signin-error');
		const whoami = page.getByTestId('whoami');
		await Promise.race([error.waitFor(), whoami.waitFor()]);
		if (await error.isVisible()) {
			return { offered, error: ((await error.textContent()) ?? '').trim(), ...(await kept(page, context)) };
		}
		await page.waitForURL((url) => url.pathname + url.search === start);
		await page.getByTestId('clients').waitFor();
		const seen = {
			offered,
			landed: new URL(page.url()).pathname + new URL(page.url()).search,
			whoami: ((await whoami.textContent()) ?? '').trim(),
			newClient: await page.getByRole('button', { name: 'New client' }).count(),
			authorizations: [...new Set(authorizations.map((a) => (a === null ? null : a.split('.').length === 3 ? 'Bearer JWT' : a)))],
			...(await kept(page, context))
		};
		if (process.env.GIRU_EXPIRE) {
			const before = await page.evaluate(() => sessionStorage.getItem('giru.adminToken'));
			const grantBefore = await page.evaluate(() => JSON.parse(sessionStorage.getItem('giru.sso.grant') ?? 'null'));
			await page.evaluate(() => {
				const grant = JSON.parse(sessionStorage.getItem('giru.sso.grant') ?? '{}');
				sessionStorage.setItem('giru.sso.grant', JSON.stringify({ ...grant, expiresAt: Date.now() }));
			});
			authorizations.length = 0;
			await page.getByRole('link', { name: 'Audit' }).click();
			await page.getByTestId('audit').waitFor();
			const after = await page.evaluate(() => sessionStorage.getItem('giru.adminToken'));
			const grantAfter = await page.evaluate(() => JSON.parse(sessionStorage.getItem('giru.sso.grant') ?? 'null'));
			seen.refreshed = {
				tokenChanged: before !== after,
				refreshRotated: grantBefore.refreshToken !== grantAfter.refreshToken,
				stillDue: grantAfter.expiresAt <= Date.now(),
				sentNew: authorizations.length > 0 && authorizations.every((a) => a === `Bearer ${after}`),
				whoami: ((await whoami.textContent()) ?? '').trim()
			};
		}
		return seen;
	},

	// Answers that do not belong to this tab's sign-in: a callback opened with no sign-in started,
	// then a real sign-in whose answer comes back with another state than the tab stored.
	async 'idp-state-mismatch'(page, context) {
		const issuer = URL_BASE;
		let tokenRequests = 0;
		page.on('request', (request) => {
			if (new URL(request.url()).pathname === '/oauth/token') tokenRequests += 1;
		});
		await page.goto(`${URL_BASE}/ui/signin/callback?code=forged&state=forged&iss=${encodeURIComponent(issuer)}`);
		const error = page.getByTestId('signin-error');
		await error.waitFor();
		const unstarted = { error: ((await error.textContent()) ?? '').trim(), url: page.url() };
		await page.goto(`${URL_BASE}/ui/signin?next=${encodeURIComponent('/ui/clients')}`);
		await page.getByRole('button', { name: /^Sign in with / }).click();
		await idpAndConsent(page, async () => {
			// On Giru's consent page (same origin and tab as the console): the stored state changes,
			// as if this answer had been started by someone else (a forged or injected response).
			await page.evaluate(() => {
				const pending = JSON.parse(sessionStorage.getItem('giru.sso.pending') ?? '{}');
				sessionStorage.setItem('giru.sso.pending', JSON.stringify({ ...pending, state: 'not-the-one-sent' }));
			});
		});
		await error.waitFor();
		return {
			unstarted,
			mismatched: ((await error.textContent()) ?? '').trim(),
			back: await page.getByRole('link', { name: 'Back to sign-in' }).getAttribute('href'),
			tokenRequests,
			...(await kept(page, context))
		};
	},

	// The People pages as an admin: GIRU_PERSON in the list and in detail (GIRU_SHOTS: screenshots
	// of both, desktop and phone, light and dark), then "Revoke grants" and its confirmation.
	async people(page) {
		const email = process.env.GIRU_PERSON ?? '';
		const shots = process.env.GIRU_SHOTS ?? '';
		const cells = async (testid) =>
			page
				.getByTestId(testid)
				.locator('tbody tr')
				.evaluateAll((rows) => rows.map((row) => [...row.querySelectorAll('td')].map((td) => (td.textContent ?? '').trim())));
		await openSignedIn(page, '/ui/people');
		const nav = await page.getByRole('navigation', { name: 'Main' }).getByRole('link').allTextContents();
		const row = page.locator(`tr[data-person="${email}"]`);
		await row.waitFor();
		const listed = await row.locator('td').allTextContents();
		await row.getByRole('link', { name: email }).click();
		await page.getByTestId('person-groups').waitFor();
		const detailUrl = new URL(page.url()).pathname + new URL(page.url()).search;
		const groups = ((await page.getByTestId('person-groups').textContent()) ?? '').trim();
		const subscriptions = await cells('person-subscriptions');
		const calls = await cells('person-calls');
		const usage = await cells('person-usage');
		const written = [];
		if (shots) {
			await eachLook(page, async (size, scheme) => {
				for (const [name, path, ready] of [
					['people', '/ui/people', 'people'],
					['person', detailUrl, 'person-calls']
				]) {
					await settled(page, path, ready);
					const file = join(shots, `${name}-${size}-${scheme}.png`);
					await page.screenshot({ path: file });
					written.push(file);
				}
			});
			await page.emulateMedia({ colorScheme: 'light' });
			await page.setViewportSize(DESKTOP);
		}
		await page.goto(`${URL_BASE}${detailUrl}`);
		await page.getByTestId('person-calls').waitFor();
		await page.getByRole('button', { name: 'Revoke grants', exact: true }).click();
		const confirmation = page.getByRole('group', { name: 'Confirm revoking grants' });
		const warning = ((await confirmation.locator('p').textContent()) ?? '').replace(/\s+/g, ' ').trim();
		await confirmation.getByRole('button', { name: `Revoke grants of ${email}` }).click();
		const notice = ((await page.getByRole('status').textContent()) ?? '').trim();
		const revoked = ((await page.getByTestId('person-revoked').textContent()) ?? '').trim();
		return { nav, listed, detailUrl, groups, subscriptions, calls, usage, warning, notice, revoked, written };
	},

	// Server GIRU_SERVER's connections as the page lists them; then disconnect the first.
	async disconnect(page) {
		const server = process.env.GIRU_SERVER ?? '';
		page.on('dialog', (dialog) => void dialog.accept());
		await openSignedIn(page, '/ui/connections');
		const section = page.getByTestId(`connections-${server}`);
		const row = section.locator('tbody tr').first();
		await row.getByRole('button', { name: /^Disconnect / }).waitFor();
		const cells = await row.getByRole('cell').allTextContents();
		await row.getByRole('button', { name: /^Disconnect / }).click();
		const notice = (await page.getByRole('status').first().textContent()) ?? '';
		await section.getByText('Not connected yet.').waitFor();
		return { cells: cells.map((c) => c.trim()), notice };
	},

	// The Servers page: GIRU_SERVER's YAML opened from the list, then its detail's row of tool
	// GIRU_TOOL (tags, sensitivity, definition state); with GIRU_FOLLOW, the held change's link
	// is followed to the Tool reviews page.
	async 'server-tools'(page) {
		const server = process.env.GIRU_SERVER ?? '';
		const tool = process.env.GIRU_TOOL ?? '';
		await openSignedIn(page, '/ui/servers');
		const listed = page.getByTestId('servers').getByRole('row').filter({ hasText: server }).first();
		await listed.getByText('YAML').click();
		const yaml = (await listed.getByTestId('yaml').textContent()) ?? '';
		await listed.getByRole('link', { name: server, exact: true }).click();
		await page.waitForURL((url) => url.pathname === `/ui/servers/${server}`);
		const row = page.locator(`[data-tool="${tool}"]`);
		await row.waitFor();
		const cell = async (id) => ((await row.getByTestId(id).textContent()) ?? '').replace(/\s+/g, ' ').trim();
		const seen = {
			yaml,
			tags: await cell('tool-tags'),
			sensitivity: await cell('tool-sensitivity'),
			definition: await cell('tool-definition'),
			manifest: (await page.getByTestId('yaml').textContent()) ?? ''
		};
		if (process.env.GIRU_FOLLOW) {
			await row.getByTestId('tool-definition').getByRole('link').click();
			await page.waitForURL(/\/ui\/tool-reviews/);
			await page.getByTestId(`review-${server}-${tool}`).waitFor();
			seen.followed = new URL(page.url()).pathname + new URL(page.url()).search;
		}
		return seen;
	},

	// GIRU_SERVER's page: its health card and its health history (each row's time, badge and
	// error), newest first, and the circuit breaker line above them.
	async 'health-history'(page) {
		const server = process.env.GIRU_SERVER ?? '';
		await openSignedIn(page, `/ui/servers/${server}`);
		const table = page.getByRole('table', { name: 'Health history' });
		await table.waitFor();
		const rows = [];
		for (const row of await table.locator('tbody tr').all()) {
			const cells = await row.getByRole('cell').allTextContents();
			rows.push(cells.map((cell) => cell.replace(/\s+/g, ' ').trim()));
		}
		const heading = page.getByRole('heading', { name: 'Health history' });
		return {
			rows,
			times: await table.locator('tbody time').evaluateAll((times) => times.map((t) => t.getAttribute('datetime'))),
			breaker: ((await page.getByText(/^Circuit breaker now:/).textContent()) ?? '').trim(),
			heading: await heading.count()
		};
	},

	// The server form: GIRU_SERVER created with a bad URL and call timeout (Validate shows the
	// dry run's problems beside the fields), fixed to GIRU_URL_GOOD, created, listed, synced,
	// then edited. Prints the document each dry run sent, for the test to give `giru apply`.
	// With GIRU_SHOTS, the form with its problems is photographed at both widths and themes.
	async 'server-form'(page) {
		const name = process.env.GIRU_SERVER ?? '';
		const shots = process.env.GIRU_SHOTS ?? '';
		const sent = [];
		page.on('request', (request) => {
			if (request.method() === 'POST' && request.url().includes('/api/v1/apply')) {
				sent.push({ query: new URL(request.url()).search, body: request.postDataJSON() });
			}
		});
		await openSignedIn(page, '/ui/servers');
		await page.getByRole('button', { name: 'New server' }).click();
		const form = page.getByTestId('server-form');
		await form.getByLabel('Name', { exact: true }).fill(name);
		await form.getByLabel('Transport').selectOption('streamable-http');
		const url = form.getByRole('textbox', { name: 'URL', exact: true });
		const call = form.getByRole('textbox', { name: 'Call', exact: true });
		await url.fill(process.env.GIRU_URL_BAD ?? '');
		await call.fill(process.env.GIRU_CALL_BAD ?? '');
		await form.getByRole('button', { name: 'Validate' }).click();
		await form.getByTestId('problems').waitFor();
		const beside = async (input) => {
			const id = await input.getAttribute('aria-describedby');
			return id ? (await form.locator(`#${id}`).getByTestId('problem').allTextContents()) : [];
		};
		const invalid = {
			url: await beside(url),
			call: await beside(call),
			all: await form.getByTestId('problems').getByRole('listitem').allTextContents(),
			sent: sent.at(-1)
		};
		const written = [];
		if (shots) {
			await eachLook(page, async (size, scheme) => {
				const file = join(shots, `server-form-${size}-${scheme}.png`);
				await form.screenshot({ path: file });
				written.push(file);
			});
			await page.setViewportSize(DESKTOP);
		}
		await url.fill(process.env.GIRU_URL_GOOD ?? '');
		await call.fill('30s');
		await form.getByRole('button', { name: 'Validate' }).click();
		const valid = (await form.getByTestId('valid').textContent()) ?? '';
		const stored = sent.length;
		await form.getByRole('button', { name: 'Create server' }).click();
		const created = (await page.getByTestId('saved').textContent()) ?? '';
		const link = page.getByTestId('servers').getByRole('link', { name, exact: true });
		await link.click();
		await page.waitForURL((u) => u.pathname === `/ui/servers/${name}`);
		await page.getByRole('button', { name: 'Sync catalog now' }).click();
		await page.locator('[data-tool]').first().waitFor({ timeout: 30000 });
		const tools = await page.locator('[data-tool]').evaluateAll((rows) => rows.map((r) => r.getAttribute('data-tool')));
		await page.getByRole('button', { name: 'Edit server' }).click();
		const edit = page.getByTestId('server-form');
		const loaded = {
			name: await edit.getByLabel('Name', { exact: true }).inputValue(),
			readonly: await edit.getByLabel('Name', { exact: true }).getAttribute('readonly'),
			url: await edit.getByRole('textbox', { name: 'URL', exact: true }).inputValue(),
			call: await edit.getByRole('textbox', { name: 'Call', exact: true }).inputValue()
		};
		await edit.getByLabel('Tags (comma-separated)').fill('edited, e2e');
		await edit.getByRole('button', { name: 'Save changes' }).click();
		const status = page.getByRole('status').filter({ hasText: 'Applied' });
		await status.waitFor();
		const edited = (await status.textContent()) ?? '';
		return { invalid, valid, created, tools, loaded, edited, written, applies: sent.slice(stored).map((s) => s.query) };
	},

	// Signed in as a viewer (GIRU_ADMIN_TOKEN is a viewer's key): the Servers pages offer no
	// way to create or edit GIRU_SERVER.
	async 'viewer-servers'(page) {
		const name = process.env.GIRU_SERVER ?? '';
		await openSignedIn(page, '/ui/servers');
		await page.getByTestId('servers').getByRole('link', { name, exact: true }).waitFor();
		const onList = await page.getByRole('button').allTextContents();
		await page.goto(`${URL_BASE}/ui/servers/${name}`);
		await page.getByTestId('tools').waitFor();
		const onDetail = await page.getByRole('button').allTextContents();
		return { role: (await page.getByTestId('whoami').textContent()) ?? '', buttons: [...onList, ...onDetail], forms: await page.getByTestId('server-form').count() };
	},

	// Tool trust: GIRU_SERVER's tool GIRU_TOOL was changed and is held. The overview shows the
	// server degraded; the Tool reviews page shows the change;
	// the server changes it again (GIRU_AGAIN, through GIRU_CLIENT_KEY's MCP call to the server's
	// `redescribe`) before the approval is sent, so the approval names a hash no longer under
	// review and is refused (412), explained; the reloaded page shows the new offer, blocked by a
	// high-severity finding, which is approved with force.
	async 'tool-review'(page) {
		const server = process.env.GIRU_SERVER ?? '';
		const tool = process.env.GIRU_TOOL ?? '';
		// The overview shows the server degraded, its held tool linked; the navigation leads on.
		await page.goto(`${URL_BASE}/ui/signin`);
		await signIn(page);
		await page.goto(`${URL_BASE}/ui`);
		const heldTools = ((await page.getByTestId('held-tools').textContent()) ?? '').trim();
		const upstream = page.getByTestId('upstreams').getByRole('row').filter({ hasText: server });
		// Until the server's first health check the badge says unknown; the overview polls, so
		// wait (bounded) for a known state before reading it.
		const badge = upstream.getByRole('cell').nth(1);
		await badge.filter({ hasNotText: /^\s*unknown/ }).waitFor({ timeout: 60000 });
		const health = ((await badge.textContent()) ?? '').replace(/\s+/g, ' ').trim();
		await page.getByRole('navigation', { name: 'Main' }).getByRole('link', { name: 'Tool reviews' }).click();
		await page.waitForURL(/\/ui\/tool-reviews/);
		const nav = await page
			.getByRole('navigation', { name: 'Main' })
			.getByRole('link', { name: 'Tool reviews' })
			.getAttribute('aria-current');
		const card = page.getByTestId(`review-${server}-${tool}`);
		await card.waitFor();
		const firstAdded = await card.getByTestId('text-diff-description').locator('.line.add').allTextContents();
		const offered = async () => {
			const answer = await fetch(`${URL_BASE}/api/v1/tool-reviews?server=${server}`, {
				headers: { authorization: `Bearer ${TOKEN}` }
			});
			return (await answer.json()).items.find((item) => item.tool === tool)?.definitionHash ?? null;
		};
		const firstHash = await offered();
		const again = await mcpCall(process.env.GIRU_CLIENT_KEY ?? '', `${server}__redescribe`, {
			text: process.env.GIRU_AGAIN ?? ''
		});
		// Until the gateway has caught the new offer (the upstream announced it with list_changed).
		await until(async () => (await offered()) !== firstHash, 'the second offer under review');
		await card.getByRole('button', { name: `Approve ${tool}` }).click();
		const stale = ((await page.getByRole('alert').first().textContent()) ?? '').trim();
		await card.getByTestId(`blocked-${tool}`).waitFor();
		const why = ((await card.getByTestId(`blocked-${tool}`).textContent()) ?? '').replace(/\s+/g, ' ').trim();
		const findings = await card
			.getByTestId(`findings-${tool}`)
			.locator('tbody tr')
			.evaluateAll((rows) => rows.map((row) => [...row.cells].map((cell) => (cell.textContent ?? '').trim())));
		const added = await card.getByTestId('text-diff-description').locator('.line.add').allTextContents();
		const paths = await card.getByTestId('json-diff').locator('tbody tr td:first-child').allTextContents();
		const approve = card.getByRole('button', { name: `Approve ${tool}` });
		const blocked = await approve.isDisabled();
		await card.getByRole('checkbox', { name: /approve despite the high-severity finding/ }).check();
		await approve.click();
		const notice = ((await page.getByRole('status').first().textContent()) ?? '').trim();
		await page.getByTestId('no-reviews').waitFor();
		return { heldTools, health, nav, firstAdded, againStatus: again.status, stale, why, findings, added, paths, blocked, notice };
	},

	// axe-core's WCAG 2.0/2.1 A and AA rules over every page (PAGES, People and sign-in), light and
	// dark, at desktop and phone width: every violation found.
	async a11y(page) {
		const pages = [...PAGES, ['people', '/ui/people', 'people']];
		await page.goto(`${URL_BASE}/ui/signin`);
		await signIn(page);
		const violations = [];
		const checked = [];
		await everyView(page, pages, async (view) => {
			violations.push(...(await axeViolations(page, view)));
			checked.push(view);
		});
		return { checked, violations };
	},

	// Only the keyboard: sign in with the admin token, skip the navigation to the content, go to
	// Audit through the main navigation and apply a filter there. Every element Tab reaches must
	// show its focus; returns where each step landed.
	async keyboard(page) {
		const unseen = [];
		const tabbed = [];
		// Tab (or Shift+Tab) once; the focused element must show it has the focus.
		const tab = async (back = false) => {
			await page.keyboard.press(back ? 'Shift+Tab' : 'Tab');
			const focus = await focusShown(page);
			tabbed.push(focus.what);
			if (!focus.shown) unseen.push(`${focus.what} (${focus.how})`);
			return focus.what;
		};
		// Tab until the focused element matches `wanted` (a predicate run in the page); at most 40 presses.
		const tabTo = async (wanted, arg, what) => {
			for (let presses = 1; presses <= 40; presses++) {
				await tab();
				if (await page.evaluate(wanted, arg)) return presses;
			}
			throw new Error(`Tab never reached ${what}; it went through ${tabbed.slice(-40).join(' | ')}`);
		};
		const isLabelled = (label) => document.activeElement?.closest('label')?.textContent?.trim().startsWith(label) ?? false;
		const isNamed = (name) => (document.activeElement?.textContent ?? '').trim() === name;

		await page.goto(`${URL_BASE}/ui/audit`);
		await page.waitForURL(/\/ui\/signin/);
		await page.getByLabel('Admin token').waitFor();
		await tabTo(isLabelled, 'Admin token', 'the Admin token field');
		await page.keyboard.type(TOKEN);
		await tabTo(isNamed, 'Sign in', 'the Sign in button');
		await page.keyboard.press('Enter');
		await page.getByTestId('whoami').waitFor();
		const signedInAt = new URL(page.url()).pathname;

		// Back to the top of the page: the first Tab reaches the skip link, which must be on screen.
		await page.evaluate(() => (document.activeElement instanceof HTMLElement ? document.activeElement.blur() : undefined));
		await page.goto(`${URL_BASE}/ui`);
		await page.getByTestId('overview-cards').waitFor();
		const first = await tab();
		const skipBox = await page.getByRole('link', { name: 'Skip to content' }).boundingBox();
		const skipOnScreen = skipBox !== null && skipBox.x >= 0 && skipBox.y >= 0 && skipBox.width > 0;
		await page.keyboard.press('Enter');
		await tab();
		const afterSkipInMain = await page.evaluate(() => document.activeElement?.closest('main') !== null);

		// Without the skip link: Tabs from the top of the page to the first control of the content.
		await page.goto(`${URL_BASE}/ui`);
		await page.getByTestId('overview-cards').waitFor();
		const tabsToContent = await tabTo(() => document.activeElement?.closest('main') !== null, null, 'the content');

		// Shift+Tab goes back into the header; then forward to Audit in the main navigation.
		await tab(true);
		const backInHeader = await page.evaluate(() => document.activeElement?.closest('header') !== null);
		await page.goto(`${URL_BASE}/ui`);
		await page.getByTestId('overview-cards').waitFor();
		await tabTo(() => document.activeElement?.closest('nav')?.getAttribute('aria-label') === 'Main' && document.activeElement?.textContent?.trim() === 'Audit', null, 'Audit in the main navigation');
		await page.keyboard.press('Enter');
		await page.waitForURL((url) => url.pathname === '/ui/audit');
		await page.getByTestId('audit').waitFor();

		// A filter: type an action, Tab to Apply and press it with Space.
		await tabTo(isLabelled, 'Action', 'the Action filter');
		await page.keyboard.type('tools/call');
		await tabTo(isNamed, 'Apply', 'the Apply button');
		await page.keyboard.press('Space');
		await page.waitForURL((url) => url.searchParams.get('action') === 'tools/call');
		await page.getByTestId('audit').waitFor();
		const actions = await page
			.getByTestId('audit')
			.locator('tbody tr')
			.evaluateAll((rows) => rows.map((row) => (row.textContent ?? '').replace(/\s+/g, ' ').trim()));
		const filteredUrl = new URL(page.url()).pathname + new URL(page.url()).search;
		return { signedInAt, first, skipOnScreen, afterSkipInMain, tabsToContent, backInHeader, filteredUrl, rows: actions.length, actions: actions.slice(0, 5), unseen, tabbed };
	},

	// Every page at desktop and phone width, light and dark; first-load size and render time.
	async screenshots(page, context) {
		// First load of the overview, signed in, with an empty cache: bytes on the wire, render time.
		const shots = process.env.GIRU_SHOTS ?? '';
		await page.goto(`${URL_BASE}/ui/signin`);
		await signIn(page);
		const cdp = await context.newCDPSession(page);
		await cdp.send('Network.enable');
		await cdp.send('Network.setCacheDisabled', { cacheDisabled: true });
		let bytes = 0;
		cdp.on('Network.loadingFinished', (event) => (bytes += event.encodedDataLength));
		await page.goto(`${URL_BASE}/ui`);
		await page.getByTestId('overview-cards').waitFor();
		// From navigation start to the overview's cards on screen.
		const renderMs = await page.evaluate(() => performance.now());
		const timings = await page.evaluate(() =>
			performance
				.getEntriesByType('resource')
				.map((e) => `${e.name.replace(location.origin, '')} ${Math.round(e.startTime)}+${Math.round(e.duration)}`)
		);
		await page.waitForLoadState('networkidle');
		const firstLoadBytes = bytes;
		await cdp.send('Network.setCacheDisabled', { cacheDisabled: false });
		await cdp.detach();
		const written = [];
		await everyView(page, PAGES, async (view) => {
			const file = join(shots, `${view.replaceAll(' ', '-')}.png`);
			await page.screenshot({ path: file });
			written.push(file);
		});
		return { written, firstLoadBytes, renderMs, timings };
	}
};

const name = process.argv[2] ?? '';
const scenario = scenarios[name];
if (!scenario) {
	console.error(`unknown scenario ${name}; one of ${Object.keys(scenarios).join(', ')}`);
	process.exit(2);
}
const result = await withBrowser(scenario);
console.log(JSON.stringify(result));
