// The browser side of an OAuth authorization code flow with PKCE (RFC 7636, S256 only) against
// Giru's own authorization server: the values a sign-in starts with, the authorization URL, and
// the check of the answer that comes back to /ui/signin/callback. Pure functions (Web Crypto for
// randomness and SHA-256), so Vitest checks them; lib/sso.ts does the requests and the storage.

/** What a sign-in started in this tab remembers until the IdP sends the browser back. */
export interface PendingSignIn {
	state: string;
	verifier: string;
	clientId: string;
	redirectUri: string;
	issuer: string;
	tokenEndpoint: string;
	resource: string;
	/** The in-app path to return to afterwards. */
	next: string;
}

/** The answer's parts this app uses, or why it is refused (a sentence for the user). */
export type CallbackResult = { ok: true; code: string } | { ok: false; message: string };

/** `bytes` random bytes as base64url without padding (43 characters for 32 bytes). */
export function randomToken(bytes = 32): string {
	const buffer = new Uint8Array(bytes);
	crypto.getRandomValues(buffer);
	return base64url(buffer);
}

export function base64url(bytes: Uint8Array): string {
	let binary = '';
	for (const byte of bytes) binary += String.fromCharCode(byte);
	return btoa(binary).replace(/\+/g, '-').replace(/\//g, '_').replace(/=+$/, '');
}

/** The S256 code challenge of `verifier`: base64url(SHA-256(ASCII verifier)). */
export async function codeChallenge(verifier: string): Promise<string> {
	const digest = await crypto.subtle.digest('SHA-256', new TextEncoder().encode(verifier));
	return base64url(new Uint8Array(digest));
}

/** Where the browser goes to sign in: the authorization endpoint with every parameter. */
export async function authorizationUrl(endpoint: string, pending: PendingSignIn): Promise<string> {
	const query = new URLSearchParams({
		response_type: 'code',
		client_id: pending.clientId,
		redirect_uri: pending.redirectUri,
		state: pending.state,
		code_challenge: await codeChallenge(pending.verifier),
		code_challenge_method: 'S256',
		resource: pending.resource
	});
	return `${endpoint}?${query.toString()}`;
}

// Error codes an authorization server sends back (RFC 6749 §4.1.2.1), as the user reads them.
const REFUSALS: Record<string, string> = {
	access_denied: 'The sign-in was refused or cancelled.',
	temporarily_unavailable: 'The identity provider cannot be reached right now. Try again in a moment.',
	server_error: 'The sign-in failed on the server. Try again in a moment.'
};

function equal(a: string, b: string): boolean {
	if (a.length !== b.length) return false;
	let difference = 0;
	for (let i = 0; i < a.length; i += 1) difference |= a.charCodeAt(i) ^ b.charCodeAt(i);
	return difference === 0;
}

/**
 * Checks the redirect back from the authorization server against the sign-in this tab started:
 * the same `state` (else the answer belongs to another sign-in: CSRF or a stale tab), the same
 * issuer (RFC 9207: no mix-up), then either an error or a code.
 */
export function checkCallback(params: URLSearchParams, pending: PendingSignIn | null): CallbackResult {
	const state = params.get('state');
	if (pending === null || state === null || !equal(state, pending.state)) {
		return {
			ok: false,
			message:
				'This sign-in answer does not match a sign-in started in this tab (state mismatch), so it was ignored. Start the sign-in again.'
		};
	}
	if (params.get('iss') !== pending.issuer) {
		return { ok: false, message: 'The sign-in answer came from another authorization server (iss), so it was ignored.' };
	}
	const error = params.get('error');
	if (error !== null) {
		const described = params.get('error_description')?.slice(0, 300);
		const reason = REFUSALS[error] ?? 'The sign-in failed.';
		return { ok: false, message: described ? `${reason} (${described})` : reason };
	}
	const code = params.get('code');
	if (!code) return { ok: false, message: 'The sign-in answer carried no authorization code.' };
	return { ok: true, code };
}
