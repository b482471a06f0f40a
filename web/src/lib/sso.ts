// Signing in with the company IdP, through Giru's own authorization server (docs/ui.md): the
// console registers itself as a public OAuth client the way `giru login --sso` does (RFC 7591,
// its one redirect URI /ui/signin/callback), sends the browser to /oauth/authorize with PKCE S256
// and a `state`, and redeems the code at /oauth/token for an access token whose audience is the
// API. Tokens stay in sessionStorage (lib/session.svelte.ts); the access token is refreshed
// shortly before it expires, once at a time (a refresh token is single-use: rotation).
import { base } from '$app/paths';
import type { Schemas } from '$lib/api/client';
import { authorizationUrl, checkCallback, randomToken, type PendingSignIn } from '$lib/pkce';
import { currentGrant, forget, rememberGrant, session, type Grant } from '$lib/session.svelte';

export type Provider = Schemas['IdentityProviderSignIn'];

const CLIENT_KEY = 'giru.sso.client';
const PENDING_KEY = 'giru.sso.pending';
/** Refresh when the access token has less than this left (ms), or a quarter of its lifetime. */
const REFRESH_MARGIN_MS = 60_000;

/** A sign-in that cannot go on: `message` is for the user; `next` where they were going. */
export class SignInFailure extends Error {
	constructor(
		message: string,
		readonly next: string | null = null
	) {
		super(message);
	}
}

interface TokenAnswer {
	access_token: string;
	expires_in?: number;
	refresh_token?: string;
}

export function redirectUri(): string {
	return `${location.origin}${base}/signin/callback`;
}

async function oauthProblem(response: Response): Promise<string> {
	try {
		const body = (await response.json()) as { error?: unknown; error_description?: unknown };
		const text = [body.error, body.error_description].filter((p) => typeof p === 'string' && p).join(': ');
		return text ? text.slice(0, 300) : `status ${response.status}`;
	} catch {
		return `status ${response.status}`;
	}
}

/** This tab's registration at Giru's authorization server (registered once per tab). */
async function clientId(provider: Provider, redirect: string): Promise<string> {
	const stored = sessionStorage.getItem(CLIENT_KEY);
	if (stored !== null) {
		const known = JSON.parse(stored) as { clientId: string; redirectUri: string; issuer: string };
		if (known.redirectUri === redirect && known.issuer === provider.issuer) return known.clientId;
	}
	const response = await fetch(provider.registrationEndpoint, {
		method: 'POST',
		headers: { 'content-type': 'application/json' },
		body: JSON.stringify({
			redirect_uris: [redirect],
			token_endpoint_auth_method: 'none',
			grant_types: ['authorization_code', 'refresh_token'],
			response_types: ['code'],
			client_name: 'giru web console'
		})
	});
	if (response.status !== 201) {
		throw new SignInFailure(`Giru did not register the console for sign-in (${await oauthProblem(response)}).`);
	}
	const registered = (await response.json()) as { client_id: string };
	sessionStorage.setItem(
		CLIENT_KEY,
		JSON.stringify({ clientId: registered.client_id, redirectUri: redirect, issuer: provider.issuer })
	);
	return registered.client_id;
}

/** Sends the browser to sign in at `provider`; back at /ui/signin/callback, then at `next`. */
export async function startSignIn(provider: Provider, next: string): Promise<void> {
	const redirect = redirectUri();
	const pending: PendingSignIn = {
		state: randomToken(),
		verifier: randomToken(48),
		clientId: await clientId(provider, redirect),
		redirectUri: redirect,
		issuer: provider.issuer,
		tokenEndpoint: provider.tokenEndpoint,
		resource: provider.resource,
		next
	};
	sessionStorage.setItem(PENDING_KEY, JSON.stringify({ ...pending, revocationEndpoint: provider.revocationEndpoint }));
	location.assign(await authorizationUrl(provider.authorizationEndpoint, pending));
}

/** The sign-in this tab started, forgotten as it is read (an answer is used once). */
function takePending(): (PendingSignIn & { revocationEndpoint: string }) | null {
	const stored = sessionStorage.getItem(PENDING_KEY);
	sessionStorage.removeItem(PENDING_KEY);
	if (stored === null) return null;
	try {
		return JSON.parse(stored) as PendingSignIn & { revocationEndpoint: string };
	} catch {
		return null;
	}
}

async function tokenRequest(endpoint: string, form: Record<string, string>): Promise<Response> {
	return fetch(endpoint, {
		method: 'POST',
		headers: { 'content-type': 'application/x-www-form-urlencoded' },
		body: new URLSearchParams(form).toString()
	});
}

function grantOf(answer: TokenAnswer, from: Omit<Grant, 'refreshToken' | 'expiresAt' | 'lifetimeMs'>): Grant {
	const lifetimeMs = (answer.expires_in ?? 0) * 1000;
	return {
		clientId: from.clientId,
		tokenEndpoint: from.tokenEndpoint,
		revocationEndpoint: from.revocationEndpoint,
		resource: from.resource,
		refreshToken: answer.refresh_token ?? null,
		expiresAt: Date.now() + lifetimeMs,
		lifetimeMs
	};
}

/** Whether `grant`'s access token should be renewed before the next request. */
export function refreshDue(grant: Grant, now: number): boolean {
	return grant.expiresAt - now < Math.min(REFRESH_MARGIN_MS, grant.lifetimeMs / 4);
}

/**
 * Finishes the sign-in the IdP sent the browser back from (the callback's query): checks it
 * against the one this tab started and redeems the code. The access token and its grant, not yet
 * remembered (the caller asks who it is first); `next`: where the user was going.
 */
export async function finishSignIn(params: URLSearchParams): Promise<{ token: string; grant: Grant; next: string | null }> {
	const pending = takePending();
	const checked = checkCallback(params, pending);
	if (!checked.ok) throw new SignInFailure(checked.message, pending?.next ?? null);
	if (pending === null) throw new SignInFailure('No sign-in was started in this tab.'); // checked above
	const response = await tokenRequest(pending.tokenEndpoint, {
		grant_type: 'authorization_code',
		code: checked.code,
		redirect_uri: pending.redirectUri,
		code_verifier: pending.verifier,
		client_id: pending.clientId,
		resource: pending.resource
	});
	if (!response.ok) {
		throw new SignInFailure(`Giru did not issue a token for this sign-in (${await oauthProblem(response)}).`, pending.next);
	}
	const answer = (await response.json()) as TokenAnswer;
	const grant = grantOf(answer, {
		clientId: pending.clientId,
		tokenEndpoint: pending.tokenEndpoint,
		revocationEndpoint: pending.revocationEndpoint,
		resource: pending.resource
	});
	return { token: answer.access_token, grant, next: pending.next };
}

let refreshing: Promise<void> | null = null;

async function refresh(grant: Grant & { refreshToken: string }): Promise<void> {
	const response = await tokenRequest(grant.tokenEndpoint, {
		grant_type: 'refresh_token',
		refresh_token: grant.refreshToken,
		client_id: grant.clientId,
		resource: grant.resource
	});
	if (!response.ok) {
		// Refused (revoked, expired, the IdP no longer accepts the person): no more attempts; the
		// access token runs out and its first 401 sends the user to sign in again.
		if (session.token !== null) rememberGrant(session.token, { ...grant, refreshToken: null });
		return;
	}
	const answer = (await response.json()) as TokenAnswer;
	rememberGrant(answer.access_token, grantOf(answer, grant));
}

/** The token to send now: an IdP sign-in's access token is refreshed first when it is about to
 * expire (one refresh at a time, however many requests wait for it). */
export async function freshToken(): Promise<string | null> {
	const grant = currentGrant();
	if (session.token !== null && grant?.refreshToken && refreshDue(grant, Date.now())) {
		refreshing ??= refresh({ ...grant, refreshToken: grant.refreshToken })
			.catch(() => undefined) // unreachable now: tried again by the next request
			.finally(() => (refreshing = null));
		await refreshing;
	}
	return session.token;
}

/** Signs out: the refresh token is revoked at Giru (best effort), then everything forgotten. */
export function signOut(): void {
	const grant = currentGrant();
	if (grant?.refreshToken) {
		void tokenRequest(grant.revocationEndpoint, {
			token: grant.refreshToken,
			token_type_hint: 'refresh_token',
			client_id: grant.clientId
		}).catch(() => undefined);
	}
	forget();
}
