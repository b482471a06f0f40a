import { describe, expect, it } from 'vitest';
import { authorizationUrl, base64url, checkCallback, codeChallenge, randomToken, type PendingSignIn } from '$lib/pkce';

const pending: PendingSignIn = {
	state: 'state-1234',
	verifier: 'dBjftJeZ4CVP-mB92K27uhbUJU1p1r_wW1gFWFOEjXk',
	clientId: 'giru-client-1',
	redirectUri: 'http://127.0.0.1:8080/ui/signin/callback',
	issuer: 'http://127.0.0.1:8080',
	tokenEndpoint: 'http://127.0.0.1:8080/oauth/token',
	resource: 'http://127.0.0.1:8080/api',
	next: '/ui/audit'
};

function answer(query: Record<string, string>): URLSearchParams {
	return new URLSearchParams(query);
}

describe('PKCE', () => {
	it('derives the S256 challenge of RFC 7636 appendix B', async () => {
		expect(await codeChallenge(pending.verifier)).toBe('E9Melhoa2OwvFrEMTJguCHaoeK1t8URWbuGJSstw-cM');
	});

	it('makes random url-safe tokens without padding, different each time', () => {
		const tokens = new Set(Array.from({ length: 20 }, () => randomToken()));
		expect(tokens.size).toBe(20);
		for (const token of tokens) expect(token).toMatch(/^[A-Za-z0-9_-]{43}$/);
		expect(randomToken(48)).toHaveLength(64); // a code verifier: 43 to 128 characters
		expect(base64url(new Uint8Array([251, 255]))).toBe('-_8');
	});

	it('asks for a code with the challenge, the state, the exact redirect URI and the API as resource', async () => {
		const url = new URL(await authorizationUrl('http://127.0.0.1:8080/oauth/authorize', pending));
		expect(url.origin + url.pathname).toBe('http://127.0.0.1:8080/oauth/authorize');
		expect(Object.fromEntries(url.searchParams)).toEqual({
			response_type: 'code',
			client_id: 'giru-client-1',
			redirect_uri: 'http://127.0.0.1:8080/ui/signin/callback',
			state: 'state-1234',
			code_challenge: 'E9Melhoa2OwvFrEMTJguCHaoeK1t8URWbuGJSstw-cM',
			code_challenge_method: 'S256',
			resource: 'http://127.0.0.1:8080/api'
		});
		expect(url.searchParams.has('code_verifier')).toBe(false);
	});
});

describe('the answer back from the authorization server', () => {
	it('yields the code when the state and the issuer match', () => {
		const checked = checkCallback(answer({ code: 'c0de', state: 'state-1234', iss: pending.issuer }), pending);
		expect(checked).toEqual({ ok: true, code: 'c0de' });
	});

	it('refuses another state, or one when no sign-in was started in this tab', () => {
		for (const [query, started] of [
			[{ code: 'c0de', state: 'state-9999', iss: pending.issuer }, pending],
			[{ code: 'c0de', iss: pending.issuer }, pending],
			[{ code: 'c0de', state: 'state-1234', iss: pending.issuer }, null]
		] as const) {
			const checked = checkCallback(answer(query), started);
			expect(checked.ok).toBe(false);
			if (!checked.ok) expect(checked.message).toContain('state mismatch');
		}
	});

	it('refuses an answer from another issuer (mix-up) or without one', () => {
		for (const iss of ['https://evil.example', null]) {
			const query: Record<string, string> = { code: 'c0de', state: 'state-1234' };
			if (iss !== null) query.iss = iss;
			const checked = checkCallback(answer(query), pending);
			expect(checked).toEqual({ ok: false, message: expect.stringContaining('another authorization server') });
		}
	});

	it('explains an error the server sent back, with its description', () => {
		const refused = checkCallback(
			answer({ error: 'access_denied', error_description: 'the person denied consent', state: 'state-1234', iss: pending.issuer }),
			pending
		);
		expect(refused).toEqual({ ok: false, message: 'The sign-in was refused or cancelled. (the person denied consent)' });
		const down = checkCallback(answer({ error: 'temporarily_unavailable', state: 'state-1234', iss: pending.issuer }), pending);
		expect(down).toEqual({ ok: false, message: expect.stringContaining('cannot be reached') });
	});

	it('refuses an answer without a code', () => {
		const checked = checkCallback(answer({ state: 'state-1234', iss: pending.issuer }), pending);
		expect(checked).toEqual({ ok: false, message: expect.stringContaining('no authorization code') });
	});
});
