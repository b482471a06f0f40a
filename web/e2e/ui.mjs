// End-to-end scenarios for the web UI, driven by tests/e2e/test_web_ui.py against a real
// `giru run`: `node web/e2e/ui.mjs <scenario>` prints one JSON line with what it saw.
// Debian's Chromium through playwright-core (never `playwright install`), a fresh profile each run.
// Environment: GIRU_URL (http://127.0.0.1:port), GIRU_ADMIN_TOKEN, GIRU_SHOTS (screenshots dir).
import { mkdtempSync, rmSync } from 'node:fs';
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
		page.setDefaultTimeout(15000);
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

	// Every page at desktop and phone width, light and dark; first-load size and render time.
	async screenshots(page, context) {
		// First load of the overview, signed in, with an empty cache: bytes on the wire, render time.
		const shots = process.env.GIRU_SHOTS ?? '';
		const pages = [
			['overview', '/ui', 'overview-cards'],
			['servers', '/ui/servers', 'servers'],
			['server', '/ui/servers/everything', 'tools'],
			['clients', '/ui/clients', 'clients'],
			['client', '/ui/clients/demo', 'keys'],
			['subscriptions', '/ui/subscriptions', 'subscriptions'],
			['policies', '/ui/policies', 'policies'],
			['usage', '/ui/usage', 'usage'],
			['audit', '/ui/audit', 'audit']
		];
		await page.goto(`${URL_BASE}/ui/signin`);
		await signIn(page);
		const cdp = await context.newCDPSession(page);
		await cdp.send('Network.enable');
		await cdp.send('Network.setCacheDisabled', { cacheDisabled: true });
		let bytes = 0;
		cdp.on('Network.loadingFinished', (event) => (bytes += event.encodedDataLength));
		await page.goto(`${URL_BASE}/ui`);
		await page.getByTestId('overview-cards').waitFor();
		const renderMs = await page.evaluate(() => performance.now());
		await page.waitForLoadState('networkidle');
		const firstLoadBytes = bytes;
		await cdp.send('Network.setCacheDisabled', { cacheDisabled: false });
		await cdp.detach();
		const written = [];
		for (const scheme of ['light', 'dark']) {
			await page.emulateMedia({ colorScheme: scheme });
			for (const [size, viewport] of [
				['desktop', DESKTOP],
				['phone', PHONE]
			]) {
				await page.setViewportSize(viewport);
				for (const [name, path, ready] of pages) {
					await page.goto(`${URL_BASE}${path}`);
					await page.getByTestId(ready).waitFor();
					await page.waitForLoadState('networkidle');
					const file = join(shots, `${name}-${size}-${scheme}.png`);
					await page.screenshot({ path: file });
					written.push(file);
				}
				await page.goto(`${URL_BASE}/ui/signin`);
				await page.getByLabel('Admin token').waitFor();
				const file = join(shots, `signin-${size}-${scheme}.png`);
				await page.screenshot({ path: file });
				written.push(file);
				await signIn(page);
			}
		}
		return { written, firstLoadBytes, renderMs };
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
