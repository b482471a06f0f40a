// The signed-in admin: the token lives in sessionStorage (never localStorage), so it is gone
// when the tab closes and never reaches another origin. Every request carries it in the
// Authorization header (no cookies, so no CSRF). A person signed in with the IdP also has a
// grant (lib/sso.ts): the refresh token and what refreshing needs, in sessionStorage too.

export type Role = 'viewer' | 'operator' | 'admin';

const TOKEN_KEY = 'giru.adminToken';
const GRANT_KEY = 'giru.sso.grant';

/** What renews an IdP sign-in's access token (Giru's token endpoint, RFC 6749 §6). */
export interface Grant {
	refreshToken: string | null;
	/** When the access token expires (ms since the epoch), and how long it was valid for (ms). */
	expiresAt: number;
	lifetimeMs: number;
	clientId: string;
	tokenEndpoint: string;
	revocationEndpoint: string;
	resource: string;
}

export const session = $state<{ token: string | null; name: string; role: Role | null }>({
	token: null,
	name: '',
	role: null
});

export function restore(): void {
	session.token = sessionStorage.getItem(TOKEN_KEY);
}

export function remember(token: string, name: string, role: Role): void {
	sessionStorage.setItem(TOKEN_KEY, token);
	session.token = token;
	session.name = name;
	session.role = role;
}

/** The access token and grant of an IdP sign-in (or a refresh): both replace the old ones. */
export function rememberGrant(token: string, grant: Grant): void {
	sessionStorage.setItem(TOKEN_KEY, token);
	sessionStorage.setItem(GRANT_KEY, JSON.stringify(grant));
	session.token = token;
}

export function currentGrant(): Grant | null {
	const stored = sessionStorage.getItem(GRANT_KEY);
	if (stored === null) return null;
	try {
		return JSON.parse(stored) as Grant;
	} catch {
		return null;
	}
}

export function forget(): void {
	sessionStorage.removeItem(TOKEN_KEY);
	sessionStorage.removeItem(GRANT_KEY);
	session.token = null;
	session.name = '';
	session.role = null;
}

/** Whether the signed-in role may change things (viewers only read). */
export function canWrite(): boolean {
	return session.role === 'operator' || session.role === 'admin';
}
