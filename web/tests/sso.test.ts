import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest';
import { currentGrant, forget, rememberGrant, session, type Grant } from '$lib/session.svelte';
import { freshToken, refreshDue } from '$lib/sso';

const MINUTE = 60_000;

function grant(fields: Partial<Grant> = {}): Grant {
	return {
		refreshToken: 'giru_rt_1',
		expiresAt: Date.now() + 15 * MINUTE,
		lifetimeMs: 15 * MINUTE,
		clientId: 'giru-client-1',
		tokenEndpoint: 'http://127.0.0.1:8080/oauth/token',
		revocationEndpoint: 'http://127.0.0.1:8080/oauth/revoke',
		resource: 'http://127.0.0.1:8080/api',
		...fields
	};
}

describe('when an access token is renewed', () => {
	it('is due in its last minute, or its last quarter when it lives shorter', () => {
		const now = 1_000_000;
		expect(refreshDue(grant({ expiresAt: now + 2 * MINUTE }), now)).toBe(false);
		expect(refreshDue(grant({ expiresAt: now + 59_000 }), now)).toBe(true);
		const short = { lifetimeMs: MINUTE };
		expect(refreshDue(grant({ ...short, expiresAt: now + 16_000 }), now)).toBe(false);
		expect(refreshDue(grant({ ...short, expiresAt: now + 14_000 }), now)).toBe(true);
	});
});

describe('refreshing an IdP sign-in', () => {
	const requests: URLSearchParams[] = [];
	let answer: () => Response;

	beforeEach(() => {
		requests.length = 0;
		vi.stubGlobal('fetch', async (_url: string, init: RequestInit) => {
			requests.push(new URLSearchParams(String(init.body)));
			return answer();
		});
	});

	afterEach(() => {
		vi.unstubAllGlobals();
		forget();
	});

	it('renews a due token once for every request waiting, with the rotated refresh token kept', async () => {
		answer = () => Response.json({ access_token: 'a.b.new', expires_in: 900, refresh_token: 'giru_rt_2' });
		rememberGrant('a.b.old', grant({ expiresAt: Date.now() + 1000 }));
		const tokens = await Promise.all([freshToken(), freshToken(), freshToken()]);
		expect(tokens).toEqual(['a.b.new', 'a.b.new', 'a.b.new']);
		expect(requests).toHaveLength(1);
		expect(Object.fromEntries(requests[0] ?? [])).toEqual({
			grant_type: 'refresh_token',
			refresh_token: 'giru_rt_1',
			client_id: 'giru-client-1',
			resource: 'http://127.0.0.1:8080/api'
		});
		expect(currentGrant()?.refreshToken).toBe('giru_rt_2');
		expect(sessionStorage.getItem('giru.adminToken')).toBe('a.b.new');
		expect(await freshToken()).toBe('a.b.new'); // not due any more: no request
		expect(requests).toHaveLength(1);
	});

	it('stops trying after a refusal and keeps the token until its 401', async () => {
		answer = () => Response.json({ error: 'invalid_grant' }, { status: 400 });
		rememberGrant('a.b.old', grant({ expiresAt: Date.now() + 1000 }));
		expect(await freshToken()).toBe('a.b.old');
		expect(await freshToken()).toBe('a.b.old');
		expect(requests).toHaveLength(1);
		expect(currentGrant()?.refreshToken).toBeNull();
	});

	it('leaves an admin key alone: nothing to refresh', async () => {
		answer = () => Response.json({});
		session.token = 'giru_admin_key';
		expect(await freshToken()).toBe('giru_admin_key');
		expect(requests).toHaveLength(0);
	});
});
